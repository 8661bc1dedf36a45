"""Jobs that judge models and policies from above serving: the next-best-action evaluation
(``nba``) and the benchmarks on public real data (``public``)."""
