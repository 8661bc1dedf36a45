"""``make bench``: run the benchmarks and print their figures (nothing is asserted).

python -m benchmarks                     # default sizes, a few minutes
python -m benchmarks --customers 1000000 # the 1M-customer bank
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks import pipeline, training
from benchmarks.measure import Measurement


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--customers",
        type=int,
        default=100_000,
        help="customers in the simulated bank for simulate/build/frame",
    )
    parser.add_argument(
        "--materialize-customers",
        type=int,
        default=10_000,
        help="customers materialized into SQLite and Redis",
    )
    parser.add_argument(
        "--train-home",
        type=Path,
        default=None,
        help="measure `retain train churn` by stage on this applied home folder",
    )
    args = parser.parse_args()
    if args.train_home:
        _print("retain train churn, by stage", training.run(args.train_home.absolute()))
        return

    table = Table(title="retain data pipeline (this machine, one run)")
    for column in ("stage", "seconds", "peak MiB"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for row in pipeline.run(args.customers, args.materialize_customers):
        table.add_row(*(row.row() if isinstance(row, Measurement) else (row[0], row[1], "")))
    Console().print(table)


def _print(title: str, rows: list[tuple[str, str]]) -> None:
    table = Table(title=title)
    table.add_column("stage")
    table.add_column("figure", justify="right")
    for row in rows:
        table.add_row(*row)
    Console().print(table)


if __name__ == "__main__":
    main()
