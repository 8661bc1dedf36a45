"""How often ``retain monitor`` alerts on simulated banks: false alarms where nothing was
switched on, and detection where a drift scenario was.

For each seed: simulate a bank (``--drift`` if given), build and apply the features, train a
churn model on the default window and make it the champion (set directly: the gate is not what
is measured here), then run the monitor on single months after the training window (every
``--every``-th), the champion's training window against that month. Each alert line is counted
by kind; freshness and skew are left out (the online store is not materialized here). Nothing
is asserted: it prints figures.

    python -m benchmarks.monitoring_alarms --seeds 5 --customers 2000
    python -m benchmarks.monitoring_alarms --seeds 1 --drift rate_war@2024-07
    python -m benchmarks.monitoring_alarms --reference-months 6 \
        --config benchmarks/monitoring_alarms.toml

``--reference-months N`` compares with the training window's last N months instead of all of
it; ``--config`` is copied to each bank's ``monitoring.toml``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

RETAIN = str(Path(sys.executable).with_name("retain"))
LEFT_OUT = {"freshness", "skew"}
STANDING = {"fairness"}
"""Findings about the model and the bank, not about change: counted, but not as alarms of
change."""


def _retain(home: Path, *args: str) -> None:
    done = subprocess.run(
        [RETAIN, *args],
        env={**os.environ, "RETAIN_HOME": str(home)},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"retain {' '.join(args)} failed: {done.stderr.strip()[-2000:]}")


def bank(home: Path, seed: int, customers: int, months: int, drift: list[str]) -> None:
    """A simulated bank with a churn champion."""
    extra = [a for d in drift for a in ("--drift", d)]
    _retain(home, "simulate", "--customers", str(customers), "--months", str(months), "--seed",
            str(seed), *extra)  # fmt: skip
    _retain(home, "features", "build")
    _retain(home, "features", "apply")
    _retain(home, "train", "churn", "--seed", str(seed))
    from retain.core.settings import Settings
    from training.tracking import client

    c = client(Settings(home=home))
    latest = max(int(v.version) for v in c.search_model_versions("name='retain-churn'"))
    c.set_registered_model_alias("retain-churn", "champion", str(latest))


def monthly_alerts(
    home: Path, every: int, reference_months: int = 0
) -> list[tuple[str, Counter[str], list[str]]]:
    """Per month after the training window (every ``every``-th): alert counts by kind and the
    features named by feature drift alerts."""
    from monitoring.config import MonitoringConfig
    from monitoring.monitor import run_monitor
    from monitoring.windows import available_months, month_period, parse_window
    from retain.core.settings import Settings
    from training.churn.load import load_model

    settings = Settings(home=home)
    config = MonitoringConfig.load(settings)
    trained = parse_window(str(load_model(settings).model.info["train_window"]))
    after = [month_period(m) for m in available_months(settings) if month_period(m) > trained.end]
    reference = None
    if reference_months:
        reference = f"{max(trained.start, trained.end - reference_months + 1)}..{trained.end}"
    out = []
    for month in after[::every]:
        result = run_monitor(settings, config, reference, current=f"{month}..{month}")
        kinds = Counter(
            a["kind"] for a in result.alerts if a["status"] == "alert" and a["kind"] not in LEFT_OUT
        )
        named = [
            a["subject"]
            for a in result.alerts
            if a["status"] == "alert" and a["kind"] == "feature drift"
        ]
        out.append((str(month), kinds, named))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--every", type=int, default=1, help="monitor every n-th month")
    parser.add_argument("--drift", action="append", default=[], help="SCENARIO@YYYY-MM")
    parser.add_argument("--reference-months", type=int, default=0)
    parser.add_argument("--config", type=Path, help="a monitoring.toml for every bank")
    args = parser.parse_args()
    console = Console()
    started = time.perf_counter()
    per_kind: Counter[str] = Counter()
    months_alerting, months_drifting, months_run = 0, 0, 0
    table = Table(title="alert lines per monitored month (training window against the month)")
    for column in ("seed", "month", "alert lines by kind", "features alerting"):
        table.add_column(column)
    with tempfile.TemporaryDirectory(prefix="retain-alarms-") as root:
        for seed in range(1, args.seeds + 1):
            home = Path(root) / f"seed{seed}"
            bank(home, seed, args.customers, args.months, args.drift)
            if args.config:
                shutil.copy(args.config, home / "monitoring.toml")
            for month, kinds, named in monthly_alerts(home, args.every, args.reference_months):
                months_run += 1
                months_alerting += bool(kinds)
                months_drifting += bool(set(kinds) - STANDING)
                per_kind.update(kinds)
                shown = ", ".join(named[:6]) + (f" +{len(named) - 6}" if len(named) > 6 else "")
                table.add_row(
                    str(seed), month, ", ".join(f"{k} {n}" for k, n in kinds.items()), shown
                )
    console.print(table)
    scenario = ", ".join(args.drift) or "none"
    if args.reference_months:
        scenario += f"; reference: the training window's last {args.reference_months} months"
    if args.config:
        scenario += f"; thresholds {args.config}"
    console.print(
        f"scenario {scenario}; {args.seeds} seed(s) x {args.customers:,} customers: "
        f"{months_alerting} of {months_run} monitored months raise at least one alert line "
        f"({months_alerting / max(months_run, 1):.0%}), {months_drifting} an alert of change "
        f"(all but fairness: {months_drifting / max(months_run, 1):.0%}); alert lines per month "
        "by kind: "
        + ", ".join(f"{k} {n / max(months_run, 1):.1f}" for k, n in per_kind.most_common())
        + f"; {time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
