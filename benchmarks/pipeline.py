"""The data pipeline's figures: simulate, build sources, training frames, materialization.

Each stage runs as a ``retain`` command in its own process, so its peak memory is its own.
Materialization into SQLite (embedded) and Redis (production) runs on the same bank in the same
run, so the two rates compare as a ratio.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pandas as pd

from benchmarks.measure import Measurement, retain

AS_OF_MONTHS = 12


def _rate(m: Measurement) -> float:
    """The customers per second that ``retain features materialize`` reported."""
    found = re.search(r"\(([\d,]+) customers/s\)", m.stderr)
    return float(found.group(1).replace(",", "")) if found else float("nan")


def run(
    root: Path, customers: int, materialize_customers: int
) -> list[Measurement | tuple[str, str]]:
    """Measure the pipeline on a simulated bank of ``customers`` customers x 24 months.

    The bank's home folder stays at ``root / "big"`` (features applied) for the training benchmark.

    Returns:
        Measurements (label, seconds, peak MiB) and derived figures (label, text).
    """
    rows: list[Measurement | tuple[str, str]] = []
    env = {"RETAIN_HOME": str(root / "big")}
    rows.append(
        retain(f"simulate {customers:,} x 24", "simulate", "--customers", str(customers), env=env)
    )
    rows.append(retain("features build", "features", "build", env=env))
    rows.append(retain("features apply", "features", "apply", env=env))
    months = pd.period_range("2023-10", periods=AS_OF_MONTHS, freq="M").strftime("%Y-%m")
    as_of = [arg for m in months for arg in ("--as-of", m)]
    frame_file = root / "frame.parquet"
    m = retain(
        f"training frame, {AS_OF_MONTHS} as-of months",
        "features",
        "frame",
        "--out",
        str(frame_file),
        *as_of,
        env=env,
    )
    rows.append(m)
    frame_rows = pd.read_parquet(frame_file, columns=["label"]).shape[0]
    rows.append(("training frame rows", f"{frame_rows:,} ({frame_rows / m.seconds:,.0f}/s)"))

    if not materialize_customers:
        return rows
    small = {"RETAIN_HOME": str(root / "small")}
    retain(
        "simulate (materialization bank)",
        "simulate",
        "--customers",
        str(materialize_customers),
        env=small,
    )
    retain("build", "features", "build", env=small)
    retain("apply", "features", "apply", env=small)
    sqlite = retain(
        f"materialize {materialize_customers:,} -> SQLite", "features", "materialize", env=small
    )
    project = f"bench_{uuid.uuid4().hex[:8]}"
    prod = {**small, "RETAIN_PROFILE": "production", "RETAIN_PROJECT": project}
    try:
        retain("apply (production)", "features", "apply", env=prod)
        redis = retain(
            f"materialize {materialize_customers:,} -> Redis",
            "features",
            "materialize",
            env=prod,
        )
    finally:
        _teardown(root / "small", project)
    rows += [sqlite, redis]
    rows.append(("materialize SQLite, customers/s", f"{_rate(sqlite):,.0f}"))
    rows.append(("materialize Redis, customers/s", f"{_rate(redis):,.0f}"))
    rows.append(("Redis / SQLite rate", f"{_rate(redis) / _rate(sqlite):.2f}x"))
    return rows


def _teardown(home: Path, project: str) -> None:
    from features.store import teardown
    from retain.core.settings import Settings

    teardown(Settings(home=home, profile="production", project=project))
