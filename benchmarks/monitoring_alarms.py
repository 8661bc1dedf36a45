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
it; ``--config`` is copied to each bank's ``monitoring.toml``; ``--homes DIR`` keeps the banks
there (``DIR/seed<n>``) and reuses those already built with the same arguments.

With the default reference, a month whose reference would lie in the data's warm-up is not
judged for drift (``monitoring.monitor``: one warn line, no alert): such months are counted
apart. With ``--drift``, each scenario's detection month is printed: the first monitored month
from its start with an alert of change (not fairness), its lag in months and the features
named.
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

import pandas as pd
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
    """A simulated bank with a churn champion (one built with the same arguments is reused)."""
    stamp = home / "alarms-bank.txt"
    made = f"{seed} {customers} {months} {' '.join(drift)}"
    if stamp.exists() and stamp.read_text() == made:
        return
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
    stamp.write_text(made)


def monthly_alerts(
    home: Path, every: int, reference_months: int = 0
) -> list[tuple[str, Counter[str], list[str], bool]]:
    """Per month after the training window (every ``every``-th): alert counts by kind, the
    features named by feature drift alerts, and whether drift was judged (a comparable
    reference)."""
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
        out.append((str(month), kinds, named, bool(result.summary["reference_judged"])))
    return out


def scenario_starts(drift: list[str]) -> dict[str, str]:
    """``SCENARIO@YYYY-MM`` arguments as scenario -> start month."""
    return {d.split("@")[0]: d.split("@")[1] for d in drift if "@" in d}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--every", type=int, default=1, help="monitor every n-th month")
    parser.add_argument("--drift", action="append", default=[], help="SCENARIO@YYYY-MM")
    parser.add_argument("--reference-months", type=int, default=0)
    parser.add_argument("--config", type=Path, help="a monitoring.toml for every bank")
    parser.add_argument("--homes", type=Path, help="keep (and reuse) the banks in this folder")
    args = parser.parse_args()
    console = Console()
    started = time.perf_counter()
    per_kind: Counter[str] = Counter()
    months_alerting, months_drifting, months_run, not_judged = 0, 0, 0, 0
    detected: dict[tuple[int, str], tuple[str, list[str]]] = {}
    starts = scenario_starts(args.drift)
    table = Table(title="alert lines per monitored month (training window against the month)")
    for column in ("seed", "month", "drift judged", "alert lines by kind", "features alerting"):
        table.add_column(column)
    with tempfile.TemporaryDirectory(prefix="retain-alarms-") as root:
        for seed in range(1, args.seeds + 1):
            home = (args.homes or Path(root)) / f"seed{seed}"
            bank(home, seed, args.customers, args.months, args.drift)
            if args.config:
                shutil.copy(args.config, home / "monitoring.toml")
            else:
                (home / "monitoring.toml").unlink(missing_ok=True)
            monthly = monthly_alerts(home, args.every, args.reference_months)
            for month, kinds, named, judged in monthly:
                months_run += 1
                not_judged += not judged
                months_alerting += bool(kinds)
                months_drifting += bool(set(kinds) - STANDING)
                per_kind.update(kinds)
                for name, start in starts.items():
                    if month >= start and set(kinds) - STANDING and (seed, name) not in detected:
                        detected[seed, name] = (month, named)
                shown = ", ".join(named[:6]) + (f" +{len(named) - 6}" if len(named) > 6 else "")
                table.add_row(
                    str(seed),
                    month,
                    "yes" if judged else "no",
                    ", ".join(f"{k} {n}" for k, n in kinds.items()),
                    shown,
                )
    console.print(table)
    for (seed, name), (month, named) in sorted(detected.items()):
        lag = (pd.Period(month, "M") - pd.Period(starts[name], "M")).n
        console.print(
            f"{name} from {starts[name]}, seed {seed}: first alert of change in {month} "
            f"({lag} month(s) after its start), features: {', '.join(named) or 'none'}"
        )
    for name in starts:
        missed = [seed for seed in range(1, args.seeds + 1) if (seed, name) not in detected]
        if missed:
            console.print(f"{name}: no alert of change from its start (seeds {missed})")
    scenario = ", ".join(args.drift) or "none"
    if args.reference_months:
        scenario += f"; reference: the training window's last {args.reference_months} months"
    if args.config:
        scenario += f"; thresholds {args.config}"
    console.print(
        f"scenario {scenario}; {args.seeds} seed(s) x {args.customers:,} customers: "
        f"{not_judged} of {months_run} monitored months not judged for drift (reference in "
        "the warm-up); "
        f"{months_alerting} of {months_run} monitored months raise at least one alert line "
        f"({months_alerting / max(months_run, 1):.0%}), {months_drifting} an alert of change "
        f"(all but fairness: {months_drifting / max(months_run, 1):.0%}); alert lines per month "
        "by kind: "
        + ", ".join(f"{k} {n / max(months_run, 1):.1f}" for k, n in per_kind.most_common())
        + f"; {time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
