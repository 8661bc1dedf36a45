"""The data pipeline's figures: simulate, build sources, training frames (materialization has its
own section, ``benchmarks.materialize``).

Each stage runs as a ``retain`` command in its own process, so its peak memory is its own.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmarks.measure import Measurement, retain

AS_OF_MONTHS = 12


def run(root: Path, customers: int) -> list[Measurement | tuple[str, str]]:
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

    return rows
