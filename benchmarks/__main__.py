"""``make bench``: run the benchmarks and print their figures (nothing is asserted).

python -m benchmarks                     # default sizes, a few minutes
python -m benchmarks --customers 1000000 # the 1M-customer bank
"""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from benchmarks import pipeline
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
    args = parser.parse_args()

    table = Table(title="retain benchmarks (this machine, one run)")
    for column in ("stage", "seconds", "peak MiB"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for row in pipeline.run(args.customers, args.materialize_customers):
        table.add_row(*(row.row() if isinstance(row, Measurement) else (row[0], row[1], "")))
    Console().print(table)


if __name__ == "__main__":
    main()
