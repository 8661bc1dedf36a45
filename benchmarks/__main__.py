"""``make bench``: run the benchmarks and print their figures (nothing is asserted).

    python -m benchmarks                                  # all sections at default sizes
    python -m benchmarks --only pipeline --customers 1000000
    python -m benchmarks --only training --customers 65000
    python -m benchmarks --only serving
    python -m benchmarks --only audience --audience-customers 3000
    python -m benchmarks --only monitoring --monitoring-rows 1000000
    python -m benchmarks --only materialize --materialize-customers 1000000
    python -m benchmarks --only score --score-customers 100000
    python -m benchmarks --only plan --plan-candidates 1000000

Sections: pipeline (simulate, build, frame), materialize (retain's writer against Feast's own
``materialize``, into SQLite and Redis: full, nothing new, a new month), training
(``retain train churn`` by stage against a bare ``lightgbm.train``, on the pipeline's bank),
serving (the service against the in-process floor), audience (next best actions of a campaign
audience in batches against one call per customer) and monitoring (feature drift over every churn_v1
feature on a synthetic reference and current frame, against scipy's tests per feature; then drift
per segment, fairness rates and the data quality checks on as many rows); score (``retain score``
of the whole base with reasons for the top 5%, by stage, against a bare ``Booster.predict``). Each
makes
its data in a temporary folder or in memory.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks import audience, materialize, monitoring, pipeline, plan, score, serving, training
from benchmarks.measure import Measurement

SECTIONS = (
    "pipeline",
    "materialize",
    "training",
    "serving",
    "audience",
    "monitoring",
    "score",
    "plan",
)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--only", choices=SECTIONS, action="append", help="run only these")
    parser.add_argument("--customers", type=int, default=100_000, help="bank for pipeline/training")
    parser.add_argument(
        "--materialize-customers", type=int, default=100_000, help="bank materialized per store"
    )
    parser.add_argument(
        "--materialize-reference-customers",
        type=int,
        default=0,
        help="bank for Feast's own materialize (0: the same bank)",
    )
    parser.add_argument("--serving-customers", type=int, default=2_000, help="bank for serving")
    parser.add_argument("--audience-customers", type=int, default=3_000, help="bank for audience")
    parser.add_argument(
        "--monitoring-rows",
        type=int,
        default=1_000_000,
        help="rows of the reference and of the current frame for monitoring",
    )
    parser.add_argument(
        "--score-customers", type=int, default=1_000_000, help="bank scored by `retain score`"
    )
    parser.add_argument(
        "--score-dask-workers",
        type=int,
        default=0,
        help="also score on a LocalCluster of this many worker processes (0: not)",
    )
    parser.add_argument(
        "--plan-candidates", type=int, default=1_000_000, help="candidates of the campaign plan"
    )
    args = parser.parse_args()
    only = set(args.only or SECTIONS)

    root = Path(tempfile.mkdtemp(prefix="retain-bench-"))
    try:
        if only & {"pipeline", "training"}:
            rows = pipeline.run(root, args.customers)
            if "pipeline" in only:
                _print("data pipeline", rows)
        if "materialize" in only:
            figures = materialize.run(
                root / "materialize",
                args.materialize_customers,
                args.materialize_reference_customers,
            )
            _print("retain features materialize", figures)
        if "training" in only:
            _print("retain train churn, by stage", training.run(root / "big"))
        if "serving" in only:
            _print("serving /churn_score", serving.run(root / "serving", args.serving_customers))
        if "audience" in only:
            _print(
                "campaign audiences: batch against one call per customer",
                audience.run(root / "audience", args.audience_customers),
            )
        if "monitoring" in only:
            _print("monitoring", monitoring.run(args.monitoring_rows))
        if "score" in only:
            _print(
                "retain score with reasons for the top 5%",
                score.run(root / "score", args.score_customers, args.score_dask_workers),
            )
        if "plan" in only:
            _print("retain plan: the knapsack", plan.run(args.plan_candidates))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _print(title: str, rows: Sequence[Measurement | tuple[str, str]]) -> None:
    table = Table(title=f"{title} (this machine, one run)")
    table.add_column("stage")
    table.add_column("seconds / figure", justify="right")
    table.add_column("peak MiB", justify="right")
    for row in rows:
        table.add_row(*(row.row() if isinstance(row, Measurement) else (row[0], row[1], "")))
    Console().print(table)


if __name__ == "__main__":
    main()
