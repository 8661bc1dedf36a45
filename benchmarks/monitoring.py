"""Feature drift over every ``churn_v1`` feature on a million rows, against scipy's tests one
feature at a time on the same data, in the same run.

The frames are synthetic with ``churn_v1``'s columns and types (from ``features.schema``:
float32, nullable Int64, nullable boolean and strings, about 5% missing), a reference and a
current one of ``rows`` rows each, a third of the features shifted in the current one. Nothing is
sampled. The baseline is what a drift job without its own statistics does: ``scipy.stats.ks_2samp``
per numeric feature and ``chi2_contingency`` per categorical one (tests only: no PSI, no
distance). Evidently 0.7's ``DataDriftPreset`` runs on the same frames in the same run, in a
child process (its own time and peak memory) on samples of 10,000, 100,000 and ``rows`` rows
until one fails or passes ``EVIDENTLY_LIMIT_S``; it needs the ``bench`` extra (``pip install
-e .[bench]``) or a Python that has it in ``$RETAIN_EVIDENTLY_PYTHON``, else it is left out.

Beside it, on the same frames, the rest of the monitor's statistics over every row: drift per
segment (every feature within every level of the default segments), fairness rates by group,
and the data quality checks (pandera) and missing shares of a synthetic raw monthly table of
``rows`` rows with the contract's columns.
"""

from __future__ import annotations

import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def churn_v1_columns() -> list[tuple[str, str]]:
    """(feature, type) of ``churn_v1``: the views' features but the excluded ones, then the
    on-demand request-time features (float64)."""
    from features.request_time import FEATURES as REQUEST_TIME_FEATURES
    from features.schema import CHURN_V1_EXCLUDED, VIEW_FEATURES

    out = [
        (name, kind)
        for features in VIEW_FEATURES.values()
        for name, kind, _ in features
        if name not in CHURN_V1_EXCLUDED
    ]
    return out + [(name, "float64") for name in REQUEST_TIME_FEATURES]


def synthetic_frame(
    columns: list[tuple[str, str]], rows: int, seed: int, shifted: frozenset[str] = frozenset()
) -> pd.DataFrame:
    """A frame of ``rows`` rows with ``columns``' types; ``shifted`` features drawn shifted."""
    rng = np.random.default_rng(seed)
    out: dict[str, object] = {}
    levels = np.array(["north", "south", "east", "west", "centre", "islands"], dtype=object)
    for name, kind in columns:
        s = name in shifted
        missing = rng.random(rows) < 0.05
        if kind in ("float32", "float64"):
            values = rng.gamma(2.0 + s, 1000.0, rows).astype(kind)
            values[missing] = np.nan
            out[name] = values
        elif kind == "int64":
            ints = pd.array(rng.poisson(3.0 + 2 * s, rows), dtype="Int64")
            ints[missing] = pd.NA
            out[name] = ints
        elif kind == "bool":
            flags = pd.array(rng.random(rows) < 0.3 + 0.3 * s, dtype="boolean")
            flags[missing] = pd.NA
            out[name] = flags
        else:
            p = np.array([0.3, 0.25, 0.2, 0.1, 0.1, 0.05])
            p = p[::-1] if s else p
            text = levels[rng.choice(len(levels), rows, p=p)]
            text[missing] = None
            out[name] = text
    return pd.DataFrame(out)


def synthetic_monthly(rows: int, seed: int) -> pd.DataFrame:
    """A raw monthly table of ``rows`` rows with the contract's columns and plausible values
    (a few missing), every row valid."""
    from retain.core.tables import LIFE_EVENTS, MONTHLY

    rng = np.random.default_rng(seed)
    end = pd.Timestamp("2024-12-31 23:59:59", tz="UTC")
    out: dict[str, object] = {}
    for f in MONTHLY:
        if f.name == "customer_id":
            out[f.name] = np.arange(rows, dtype=np.int64)
        elif f.name == "month_end":
            out[f.name] = pd.Series(end, index=range(rows))
        elif f.name == "last_login_at":
            out[f.name] = end - pd.to_timedelta(rng.integers(0, 40 * 86400, rows), unit="s")
        elif f.name == "life_event":
            events = rng.choice(np.array(LIFE_EVENTS, dtype=object), rows)
            events[rng.random(rows) >= 0.02] = None
            out[f.name] = events
        elif f.name == "satisfaction":
            out[f.name] = np.where(rng.random(rows) < 0.2, rng.uniform(0, 10, rows), np.nan)
        elif f.name.endswith("_rate"):
            out[f.name] = rng.uniform(0.5, 5.0, rows).astype(np.float32)
        elif str(f.type) == "bool":
            out[f.name] = rng.random(rows) < 0.4
        elif str(f.type).startswith("int"):
            out[f.name] = rng.poisson(3.0, rows).astype(str(f.type))
        else:
            out[f.name] = rng.gamma(2.0, 10.0, rows).astype(np.float32)
    out["age"] = rng.integers(18, 95, rows).astype(np.int16)
    return pd.DataFrame(out)


def _scipy_tests(reference: pd.DataFrame, current: pd.DataFrame, features: list[str]) -> None:
    from scipy.stats import chi2_contingency, ks_2samp

    from monitoring.drift import is_numeric, level_counts

    for f in features:
        r, c = reference[f], current[f]
        if is_numeric(r):
            ks_2samp(r.dropna().to_numpy(np.float64), c.dropna().to_numpy(np.float64))
        else:
            counts = level_counts(r.astype(object), c.astype(object)).to_numpy().T
            chi2_contingency(counts)


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(rows: int = 1_000_000) -> list[tuple[str, str]]:
    """Time ``feature_drift`` and the scipy baseline on two frames of ``rows`` rows."""
    import scipy.stats  # noqa: F401  # imported once, before any clock starts

    from monitoring.config import MonitoringConfig
    from monitoring.drift import feature_drift

    columns = churn_v1_columns()
    features = [name for name, _ in columns]
    shifted = frozenset(features[::3])
    started = time.perf_counter()
    reference = synthetic_frame(columns, rows, seed=1)
    current = synthetic_frame(columns, rows, seed=2, shifted=shifted)
    make_s = time.perf_counter() - started
    frames_mib = sum(f.memory_usage(deep=True).sum() for f in (reference, current)) / 2**20
    before = _peak_mib()

    started, cpu = time.perf_counter(), time.process_time()
    table = feature_drift(reference, current, features, MonitoringConfig())
    drift_s, drift_cpu = time.perf_counter() - started, time.process_time() - cpu
    after = _peak_mib()

    started, cpu = time.perf_counter(), time.process_time()
    _scipy_tests(reference, current, features)
    scipy_s, scipy_cpu = time.perf_counter() - started, time.process_time() - cpu

    from monitoring.fairness import rate_ratios
    from monitoring.quality import missing_shares, value_checks
    from monitoring.segments import age_band, segment_drift, worst_segments

    config = MonitoringConfig()
    started, cpu = time.perf_counter(), time.process_time()
    pairs = segment_drift(reference, current, features, config)
    levels = worst_segments(pairs, table)
    segments_s, segments_cpu = time.perf_counter() - started, time.process_time() - cpu

    started = time.perf_counter()
    gender = pd.Series(np.random.default_rng(3).choice(["female", "male"], rows))
    flag = np.random.default_rng(4).random(rows) < 0.1
    rate_ratios(
        "high-risk flag", {"gender": gender, "age band": age_band(current["age"])}, flag, config
    )
    fairness_s = time.perf_counter() - started

    raw_ref, raw_cur = synthetic_monthly(rows, 5), synthetic_monthly(rows, 6)
    started, cpu = time.perf_counter(), time.process_time()
    failed = value_checks("monthly", raw_cur, config)
    missing_shares("monthly", raw_ref, raw_cur, config)
    quality_s, quality_cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = _peak_mib()
    del raw_ref, raw_cur

    found = set(table.loc[table["status"] != "ok", "feature"])
    kinds = table["kind"].value_counts()
    beside = evidently_rows(reference, current, features, rows, shifted)
    return [
        (
            "frames (reference + current)",
            f"{rows:,} + {rows:,} rows x {len(features)} features "
            f"({kinds.get('numeric', 0)} numeric, {kinds.get('categorical', 0)} categorical), "
            f"{frames_mib:,.0f} MiB, made in {make_s:.1f}s",
        ),
        (
            "retain feature_drift: PSI + distance + test, every feature",
            f"{drift_s:.1f}s (CPU {drift_cpu:.1f}s, 2 threads), process peak RSS "
            f"{after:,.0f} MiB ({after - before:+,.0f} MiB above the peak before it)",
        ),
        (
            "scipy ks_2samp / chi2_contingency per feature (tests only)",
            f"{scipy_s:.1f}s (CPU {scipy_cpu:.1f}s, 1 thread)",
        ),
        ("retain / scipy, wall clock", f"{drift_s / scipy_s:.2f}x"),
        (
            "retain segment drift: PSI of every feature in every segment level",
            f"{segments_s:.1f}s (CPU {segments_cpu:.1f}s), {len(pairs):,} segment-level-feature "
            f"rows, {len(levels)} levels judged ({', '.join(config.segments)})",
        ),
        ("retain fairness rates (gender, age band)", f"{fairness_s:.2f}s"),
        (
            "retain data quality: pandera checks + missing shares, raw monthly table",
            f"{quality_s:.1f}s (CPU {quality_cpu:.1f}s) on {rows:,} + {rows:,} rows x "
            f"{raw_cur_columns()} columns, {len(failed)} failed check(s) (every row is valid)",
        ),
        (
            "retain all of the above (drift + segments + fairness + quality)",
            f"{drift_s + segments_s + fairness_s + quality_s:.1f}s, process peak RSS "
            f"{peak:,.0f} MiB",
        ),
        (
            "shifted features found (warn or alert)",
            f"{len(found & shifted)} of {len(shifted)}, false alerts {len(found - shifted)}",
        ),
        *beside,
    ]


EVIDENTLY_PYTHON = "RETAIN_EVIDENTLY_PYTHON"
EVIDENTLY_SIZES = (10_000, 100_000)
"""Samples Evidently runs on before the full ``rows``, smallest first."""
EVIDENTLY_LIMIT_S = 600
EVIDENTLY_MEMORY = 8 * 2**30
"""Address space the Evidently child may take (a run past it fails, rather than the host)."""

_EVIDENTLY = """
import json, resource, sys, time
import pyarrow.parquet as pq
from evidently import Report
from evidently.presets import DataDriftPreset
def first(path, n):  # only the row groups holding the first n rows are read
    return next(pq.ParquetFile(path).iter_batches(batch_size=n)).to_pandas()
ref, cur = first(sys.argv[1], int(sys.argv[3])), first(sys.argv[2], int(sys.argv[3]))
loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
started, cpu = time.perf_counter(), time.process_time()
metrics = Report([DataDriftPreset()]).run(cur, ref).dict()["metrics"]
seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
drifted = [m["config"]["column"] for m in metrics
           if m["config"].get("type", "").endswith("ValueDrift")
           and m["value"] >= m["config"]["threshold"]]
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "cpu": cpu, "loaded_mib": loaded, "peak_mib": peak,
                  "drifted": drifted}))
"""


def _evidently_python() -> str | None:
    chosen = os.environ.get(EVIDENTLY_PYTHON)
    if chosen:
        return chosen
    return sys.executable if importlib.util.find_spec("evidently") else None


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (EVIDENTLY_MEMORY, EVIDENTLY_MEMORY))


def evidently_rows(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: list[str],
    rows: int,
    shifted: frozenset[str],
) -> list[tuple[str, str]]:
    """Evidently's DataDriftPreset on the first n rows of the same frames, n growing to
    ``rows`` until a run fails; beside each, retain's ``feature_drift`` on the same sample.

    The frames travel as Parquet with nullable integers as floats and nullable booleans as
    objects (the same values; Evidently reads NumPy dtypes)."""
    from monitoring.config import MonitoringConfig
    from monitoring.drift import feature_drift

    python = _evidently_python()
    if python is None:
        return [("Evidently DataDriftPreset", "not installed: pip install -e .[bench]")]
    out: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="retain-evidently-") as tmp:
        paths = []
        for name, frame in (("reference", reference), ("current", current)):
            plain = frame.astype(
                {
                    f: "float64" if str(t) == "Int64" else object
                    for f, t in frame.dtypes.items()
                    if str(t) in ("Int64", "boolean")
                }
            )
            path = Path(tmp) / f"{name}.parquet"
            plain.to_parquet(path, row_group_size=10_000)
            paths.append(str(path))
        for n in sorted({min(n, rows) for n in (*EVIDENTLY_SIZES, rows)}):
            started = time.perf_counter()
            try:
                proc = subprocess.Popen(
                    [python, "-c", _EVIDENTLY, *paths, str(n)],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    preexec_fn=_limit_memory,
                )
                stdout, stderr = proc.communicate(timeout=EVIDENTLY_LIMIT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                out.append((f"Evidently DataDriftPreset, {n:,} + {n:,} rows",
                            f"stopped after {EVIDENTLY_LIMIT_S}s"))  # fmt: skip
                break
            if proc.returncode != 0:
                last = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
                out.append((f"Evidently DataDriftPreset, {n:,} + {n:,} rows",
                            f"failed after {time.perf_counter() - started:.0f}s "
                            f"(exit {proc.returncode}): {last[0][:160]}"))  # fmt: skip
                break
            got = json.loads(stdout.decode().strip().splitlines()[-1])
            usage = got["peak_mib"]
            cpu = time.process_time()
            t0 = time.perf_counter()
            ours = feature_drift(reference.head(n), current.head(n), features, MonitoringConfig())
            ours_s, ours_cpu = time.perf_counter() - t0, time.process_time() - cpu
            found = set(got["drifted"])
            mine = set(ours.loc[ours["status"] != "ok", "feature"])
            out.append(
                (
                    f"Evidently DataDriftPreset, {n:,} + {n:,} rows",
                    f"{got['seconds']:.1f}s (CPU {got['cpu']:.1f}s), child peak RSS "
                    f"{usage:,.0f} MiB ({usage - got['loaded_mib']:+,.0f} MiB above the frames "
                    f"loaded); drifted {len(found & shifted)} of {len(shifted)} shifted, "
                    f"{len(found - shifted)} others | retain feature_drift on the same rows "
                    f"{ours_s:.1f}s (CPU {ours_cpu:.1f}s): {len(mine & shifted)} of "
                    f"{len(shifted)}, {len(mine - shifted)} others; "
                    f"Evidently / retain {got['seconds'] / max(ours_s, 1e-9):.0f}x",
                )
            )
    return out


def raw_cur_columns() -> int:
    from retain.core.tables import MONTHLY

    return len(MONTHLY)
