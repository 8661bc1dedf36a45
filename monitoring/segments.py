"""Feature drift per segment: the PSI of every feature within every level of a few segment
columns (region, age band, number of products, ...), pure functions over frames, no I/O.

A drift confined to one segment (a branch closing, a fee change for one age group) can vanish in
the whole population. Each feature is binned once, on the reference's bins over the whole window
(the deciles of ``drift.quantile_edges``, or one bin per level; missing values a bin of their
own), and each segment column costs one ``bincount`` per feature and window: the whole table is
exact, without sampling. Only PSI is computed per segment: it is the measure the thresholds in
``monitoring.toml`` share across features, and the one that stays cheap at every level.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from monitoring.config import AGE_BAND, MonitoringConfig
from monitoring.drift import MISSING, PSI_FLOOR, STATUS_ORDER, is_numeric

AGE_BANDS: tuple[tuple[int, str], ...] = ((0, "<30"), (30, "30-44"), (45, "45-59"), (60, "60+"))
"""Lower bound of each age band and its name (the bands of the fairness checks too)."""

DEFINED_BY: dict[str, tuple[str, ...]] = {AGE_BAND: ("age", "birth_year")}
"""Features a segment is made of, besides its own column: not judged within it (within an age
band, birth years move a year for every year that passes)."""

SEGMENT_COLUMNS = [
    "segment",
    "level",
    "feature",
    "rows_reference",
    "rows_current",
    "psi",
    "status",
]


def age_band(age: pd.Series) -> pd.Series:
    """The band of each age (``AGE_BANDS``); missing where the age is."""
    a = age.to_numpy(dtype=np.float64, na_value=np.nan)
    names = np.array([name for _, name in AGE_BANDS], dtype=object)
    at = np.searchsorted(np.array([low for low, _ in AGE_BANDS]), a, side="right") - 1
    out = names[np.clip(at, 0, len(names) - 1)]
    out[np.isnan(a)] = None
    return pd.Series(out, index=age.index, dtype=object)


def segment_values(frame: pd.DataFrame, segment: str) -> pd.Series:
    """The segment's level of each row: the column itself, or the age band."""
    return age_band(frame["age"]) if segment == AGE_BAND else frame[segment]


def _codes(
    reference: pd.Series, current: pd.Series
) -> tuple[NDArray[np.int64], NDArray[np.int64], list[str]]:
    """Shared level codes of two samples; missing values the last level, ``MISSING``."""
    both = pd.concat([reference.astype(object), current.astype(object)], ignore_index=True)
    codes, levels = pd.factorize(both, use_na_sentinel=True)
    k = len(levels)
    codes = np.where(codes < 0, k, codes).astype(np.int64)
    return codes[: len(reference)], codes[len(reference) :], [str(v) for v in levels] + [MISSING]


def bin_codes(
    reference: pd.Series, current: pd.Series, bins: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], int]:
    """Each row's bin (``drift.numeric_drift``'s deciles of the reference, or the level) in both
    samples, and the number of bins; missing values are the last bin."""
    if not (is_numeric(reference) and is_numeric(current)):
        r, c, levels = _codes(reference, current)
        return r, c, len(levels)
    r = reference.to_numpy(dtype=np.float64, na_value=np.nan)
    c = current.to_numpy(dtype=np.float64, na_value=np.nan)
    present = r[~np.isnan(r)]
    n = len(present)
    edges = np.empty(0)
    if n:
        # The reference's sorted values at drift.quantile_edges' ranks, without a full sort.
        ranks = np.unique(
            np.clip(np.ceil(np.arange(1, bins) / bins * n).astype(np.int64) - 1, 0, n - 1)
        )
        edges = np.unique(np.partition(present, ranks)[ranks])
    missing = len(edges) + 1

    def code(x: NDArray[np.float64]) -> NDArray[np.int64]:
        out = np.searchsorted(edges, x, side="left").astype(np.int64)
        out[np.isnan(x)] = missing
        return out

    return code(r), code(c), missing + 1


def psi_rows(reference: NDArray[np.int64], current: NDArray[np.int64]) -> NDArray[np.float64]:
    """``drift.psi`` of each row of two (levels x bins) count matrices; 0 for an empty row."""
    r = reference.astype(np.float64)
    c = current.astype(np.float64)
    nr, nc = r.sum(axis=1, keepdims=True), c.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        rs = np.maximum(r / nr, PSI_FLOOR)
        cs = np.maximum(c / nc, PSI_FLOOR)
        out = np.sum((cs - rs) * np.log(cs / rs), axis=1)
    return np.where((nr[:, 0] > 0) & (nc[:, 0] > 0), out, 0.0)


def segment_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: Sequence[str],
    config: MonitoringConfig | None = None,
    threads: int = 2,
) -> pd.DataFrame:
    """The PSI of each feature within each level of each of ``config.segments``.

    Args:
        reference, current: frames holding ``features`` and the segment columns (``age`` for
            ``age_band``).
        features: the features compared.
        config: segments, bins, thresholds (a feature's own where it has some) and
            ``segment_min_rows``.
        threads: features binned at once.

    Returns:
        ``SEGMENT_COLUMNS``, one row per segment, level and feature (but the segment's own
        features, ``DEFINED_BY``), the worst first; a level
        with fewer than ``segment_min_rows`` rows in either window has status ``n/a``.
    """
    config = config or MonitoringConfig()
    segments = []
    for segment in config.segments:
        if (segment == AGE_BAND and "age" not in reference) or (
            segment != AGE_BAND and segment not in reference
        ):
            continue  # a default segment the feature service lacks
        r, c, levels = _codes(segment_values(reference, segment), segment_values(current, segment))
        segments.append((segment, r, c, levels))

    def one(feature: str) -> list[pd.DataFrame]:
        br, bc, nbins = bin_codes(reference[feature], current[feature], config.psi_bins)
        judged = config.for_feature(feature)
        parts = []
        for segment, sr, sc, levels in segments:
            if feature == segment or feature in DEFINED_BY.get(segment, ()):
                continue
            k = len(levels)
            counts_r = np.bincount(sr * nbins + br, minlength=k * nbins).reshape(k, nbins)
            counts_c = np.bincount(sc * nbins + bc, minlength=k * nbins).reshape(k, nbins)
            rows_r, rows_c = counts_r.sum(axis=1), counts_c.sum(axis=1)
            value = psi_rows(counts_r, counts_c)
            big = (rows_r >= config.segment_min_rows) & (rows_c >= config.segment_min_rows)
            status = [
                judged.level("psi", v) if b else "n/a" for v, b in zip(value, big, strict=True)
            ]
            parts.append(
                pd.DataFrame(
                    {
                        "segment": segment,
                        "level": levels,
                        "feature": feature,
                        "rows_reference": rows_r,
                        "rows_current": rows_c,
                        "psi": value,
                        "status": status,
                    }
                )
            )
        return parts

    if not segments or not features:
        return pd.DataFrame(columns=SEGMENT_COLUMNS)
    if threads > 1 and len(features) > 1:
        with ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(one, features))
    else:
        results = [one(f) for f in features]
    found = [p for parts in results for p in parts]
    if not found:
        return pd.DataFrame(columns=SEGMENT_COLUMNS)
    out = pd.concat(found, ignore_index=True)
    out = out[(out["rows_reference"] > 0) | (out["rows_current"] > 0)]
    order = out["status"].map({**STATUS_ORDER, "n/a": -1})
    return (
        out.assign(_order=order)
        .sort_values(["_order", "psi"], ascending=[False, False], kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)[SEGMENT_COLUMNS]
    )


def _with_overall(table: pd.DataFrame, overall: pd.DataFrame) -> pd.DataFrame:
    """The judged rows of ``table`` with the feature's overall PSI and whether the pair is
    worse than the feature overall (``hidden``: drift the whole population hides)."""
    judged = table[table["status"] != "n/a"]
    by_feature = overall.set_index("feature")
    out = judged.assign(
        psi_overall=judged["feature"].map(by_feature["psi"]).astype(float),
        hidden=judged["status"].map(STATUS_ORDER)
        > judged["feature"].map(by_feature["status"].map(STATUS_ORDER)),
    )
    out["_order"] = out["status"].map(STATUS_ORDER)
    out["_excess"] = out["psi"] - out["psi_overall"]
    return out.sort_values(["hidden", "_order", "_excess"], ascending=False, kind="stable")


def worst_pairs(table: pd.DataFrame, overall: pd.DataFrame, top: int) -> pd.DataFrame:
    """The ``top`` judged segment-level-feature rows: those worse than the feature overall
    first, then by status and by how far the PSI there exceeds the PSI overall."""
    out = _with_overall(table, overall).head(top)
    return out[[*SEGMENT_COLUMNS, "psi_overall", "hidden"]].reset_index(drop=True)


def worst_segments(table: pd.DataFrame, overall: pd.DataFrame) -> pd.DataFrame:
    """One row per judged segment level: its worst feature that drifts more there than in the
    whole population (``hidden``) if any, else its worst feature; with that feature's PSI overall
    and how many features warn or alert at the level. Hidden levels first, then by status and
    PSI.

    Args:
        table: ``segment_drift``'s.
        overall: ``drift.feature_drift``'s (``feature``, ``psi``, ``status``).
    """
    columns = [
        "segment",
        "level",
        "feature",
        "psi",
        "psi_overall",
        "rows_reference",
        "rows_current",
        "features_alert",
        "features_warn",
        "status",
        "hidden",
    ]
    ranked = _with_overall(table, overall)
    if ranked.empty:
        return pd.DataFrame(columns=columns)
    keys = ["segment", "level"]
    first = ranked.groupby(keys, sort=False).head(1).set_index(keys)
    counts = (
        ranked.assign(
            features_alert=ranked["status"].eq("alert"), features_warn=ranked["status"].eq("warn")
        )
        .groupby(keys, sort=False)[["features_alert", "features_warn"]]
        .sum()
    )
    out = first.join(counts).reset_index()
    out["_order"] = out["status"].map(STATUS_ORDER)
    out = out.sort_values(["hidden", "_order", "psi"], ascending=False, kind="stable")
    return out[columns].reset_index(drop=True)
