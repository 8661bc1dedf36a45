"""Campaign audience benchmark: the batch path against one ``Recommender`` call per customer, side
by side in one run, on the same bank and the same models.

- one by one: ``Recommender.recommend`` for each customer of the audience (an online read, every
  model, a history read, TreeSHAP for the chosen actions and a log transaction each), as a
  marketing system calling ``/recommend`` per customer would cost without HTTP;
- batch: ``Recommender.decide_many`` for the same audience (one online read, each model once, one
  history read and one log transaction per chunk of 1,000), then for the whole base.

Each side decides into an empty decision log of its own, at the same decision time, so both face
the same (empty) contact history and make the same decisions; the two alternate for ``ROUNDS``
rounds, so both see the same machine load. Figures are decisions per second and their ratio;
nothing is asserted. ``python -m benchmarks.audience [--home PATH] [--customers N]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.serving import RETAIN, _current_ids

if TYPE_CHECKING:
    from serving.nba import Recommender

ONE_BY_ONE = 1000
"""Customers decided one call each (the batch decides the same ones, then the whole base)."""
ROUNDS = 3
"""Rounds of one-by-one then batch, each side into fresh logs; the median ratio is reported."""


def _ensure_home(home: Path, customers: int) -> None:
    """Run ``retain demo`` into ``home`` unless it has a churn and a propensity champion (the
    next best action runs without an uplift champion: it then leaves retention offers out)."""
    from retain.core.settings import Settings
    from training.registry import CHAMPION, version_by_alias

    settings = Settings(home=home)
    if settings.mlflow_dir.exists() and all(
        version_by_alias(settings, f"retain-{m}", CHAMPION) for m in ("churn", "propensity")
    ):
        return
    print(f"preparing {home} with `retain demo --customers {customers}` ...", file=sys.stderr)
    subprocess.run(
        [RETAIN, "demo", "--customers", str(customers)],
        env={**os.environ, "RETAIN_HOME": str(home)},
        check=True,
        stdout=subprocess.DEVNULL,
    )


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f} decisions/s ({seconds * 1e3 / n:.2f} ms each)"


def run(settings_home: Path, customers: int = 3000) -> list[tuple[str, str]]:
    """Measure both paths on the bank at ``settings_home`` (made with ``retain demo --customers
    customers`` when it has no champions yet); returns ``(label, figure)`` rows."""
    from retain.core.settings import Settings
    from serving.config import ServingConfig
    from serving.decision_log import DecisionLog
    from serving.nba import load_recommender
    from serving.schemas import RecommendBatchRequest, RecommendRequest
    from serving.scoring import load_scorer

    home = settings_home.absolute()
    _ensure_home(home, customers)
    ids = _current_ids(home)
    settings = Settings(home=home)
    loaded = load_recommender(settings, load_scorer(settings, ServingConfig.load(settings)))
    loaded.log.close()
    logs = home / "bench-audience"
    logs.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")

    def fresh(name: str) -> Recommender:
        log = DecisionLog(f"sqlite:///{logs / f'{name}-{stamp}.db'}")
        return dataclasses.replace(loaded, log=log)

    at = (datetime.now(UTC) - timedelta(days=30)).isoformat()
    audience = ids[:ONE_BY_ONE]
    singles = [
        RecommendRequest.model_validate(
            {"customer_id": c, "channel": "mobile", "context": {"at": at}}
        )
        for c in audience
    ]
    request = RecommendBatchRequest.model_validate(
        {"customer_ids": audience, "channel": "mobile", "context": {"at": at}}
    )
    rows: list[tuple[str, str]] = [
        ("customers with a current snapshot", f"{len(ids):,}"),
        ("audience decided both ways, per round", f"{len(audience):,}"),
    ]
    gc.freeze()  # as the service does once its models are loaded
    fresh("warm").recommend(singles[-1])
    ratios, same = [], True
    for round_ in range(1, ROUNDS + 1):  # interleaved: both sides see the same machine load
        single = fresh(f"one{round_}")
        started = time.perf_counter()
        firsts_one = [single.recommend(r).actions[0].action_id for r in singles]
        one_s = time.perf_counter() - started
        batch = fresh(f"many{round_}")
        started = time.perf_counter()
        items = [i for part in batch.decide_many(request) for i in part]
        many_s = time.perf_counter() - started
        same &= firsts_one == [
            i.recommendation.actions[0].action_id for i in items if i.recommendation
        ]
        ratios.append(one_s / many_s)
        rows += [
            (
                f"round {round_}: one Recommender.recommend per customer",
                _rate(len(singles), one_s),
            ),
            (
                f"round {round_}: Recommender.decide_many, same audience",
                _rate(len(items), many_s),
            ),
        ]
        for used in (single, batch):
            used.log.close()
    rows += [
        ("batch / one by one, per round", ", ".join(f"{r:.1f}x" for r in ratios)),
        ("batch / one by one, median", f"{statistics.median(ratios):.1f}x the throughput"),
        ("same first actions both ways", str(same)),
    ]
    whole = fresh("base")
    started = time.perf_counter()
    request = RecommendBatchRequest.model_validate(
        {"customer_ids": ids, "channel": "mobile", "context": {"at": at}}
    )
    decided = sum(i.status == "ok" for part in whole.decide_many(request) for i in part)
    base_s = time.perf_counter() - started
    whole.log.close()
    rows.append(
        (
            f"decide_many, the whole base ({decided:,} decided)",
            f"{decided / base_s:,.0f} decisions/s ({base_s:.1f} s)",
        )
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--home", type=Path, default=Path(".retain-bench-audience"))
    parser.add_argument("--customers", type=int, default=3000)
    args = parser.parse_args()
    rows = run(args.home, args.customers)
    width = max(len(label) for label, _ in rows)
    print("campaign audiences (in-process, decisions logged to SQLite)")
    for label, figure in rows:
        print(f"  {label:<{width}}  {figure}")


if __name__ == "__main__":
    main()
