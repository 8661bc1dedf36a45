"""Feature drift over every ``churn_v1`` feature on a million rows, against scipy's tests one
feature at a time on the same data, in the same run.

The frames are synthetic with ``churn_v1``'s columns and types (from ``features.schema``:
float32, nullable Int64, nullable boolean and strings, about 5% missing), a reference and a
current one of ``rows`` rows each, a third of the features shifted in the current one. Nothing is
sampled. The baseline is what a drift job without its own statistics does: ``scipy.stats.ks_2samp``
per numeric feature and ``chi2_contingency`` per categorical one (tests only: no PSI, no
distance). Evidently is not installed in retain's environment, so it is not in this run.
"""

from __future__ import annotations

import resource
import time

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

    found = set(table.loc[table["status"] != "ok", "feature"])
    kinds = table["kind"].value_counts()
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
            "shifted features found (warn or alert)",
            f"{len(found & shifted)} of {len(shifted)}, false alerts {len(found - shifted)}",
        ),
    ]
