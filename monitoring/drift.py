"""Feature drift between a reference sample and a current one: pure functions over arrays and
frames, no I/O.

Per feature:

- **PSI** (population stability index) over bins of the reference: deciles of the reference for a
  numeric feature (fewer when values tie), one bin per level for a categorical one, and missing
  values as a bin of their own in both;
- a **distance**: the Wasserstein-1 distance divided by the reference's standard deviation for a
  numeric feature (unit-free, so one threshold fits balances and counts alike), the
  Jensen-Shannon distance (base 2, in [0, 1]) between the level shares for a categorical one;
- a **test**: two-sample Kolmogorov-Smirnov (asymptotic p-value) for a numeric feature,
  chi-square test of homogeneity for a categorical one.

Everything is exact (no sampling) and vectorised: a numeric feature costs two sorts, one merge of
the sorted samples and a few ``searchsorted`` calls; PSI, KS and Wasserstein all read the same
sorted arrays. A categorical feature costs one ``factorize`` and a ``bincount``.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from pandas.api import types as ptypes

from monitoring.config import MonitoringConfig

PSI_FLOOR = 1e-4
"""Bin shares below this count as this in PSI, so an empty bin gives a large, finite term."""

MISSING = "(missing)"
"""The name of the missing-value bin or level."""


@dataclass(frozen=True)
class FeatureDrift:
    """The drift of one feature.

    Attributes:
        feature: its name.
        kind: ``numeric`` or ``categorical``.
        rows_reference, rows_current: rows in each sample (missing values included).
        missing_reference, missing_current: share of missing values in each.
        psi: population stability index over the reference's bins (missing values a bin).
        distance: scaled Wasserstein (numeric) or Jensen-Shannon distance (categorical), over
            the values present.
        distance_name: ``wasserstein`` or ``jensen_shannon``.
        statistic, p_value: KS statistic (numeric) or chi-square (categorical) and its p-value.
        test_name: ``ks`` or ``chi2``.
        status: ``ok``, ``warn`` or ``alert`` under the thresholds it was judged by.
    """

    feature: str
    kind: str
    rows_reference: int
    rows_current: int
    missing_reference: float
    missing_current: float
    psi: float
    distance: float
    distance_name: str
    statistic: float
    p_value: float
    test_name: str
    status: str = "ok"


def psi(reference_counts: ArrayLike, current_counts: ArrayLike) -> float:
    """PSI = sum over bins of (c - r) * ln(c / r), with r and c the bins' shares.

    Shares below ``PSI_FLOOR`` are raised to it, so an empty bin adds a large finite term.
    0 when either sample is empty.
    """
    r = np.asarray(reference_counts, dtype=np.float64)
    c = np.asarray(current_counts, dtype=np.float64)
    if r.sum() <= 0 or c.sum() <= 0:
        return 0.0
    rs = np.maximum(r / r.sum(), PSI_FLOOR)
    cs = np.maximum(c / c.sum(), PSI_FLOOR)
    return float(np.sum((cs - rs) * np.log(cs / rs)))


def quantile_edges(sorted_reference: NDArray[np.float64], bins: int) -> NDArray[np.float64]:
    """Inner bin edges at the reference's quantiles 1/bins .. (bins-1)/bins, duplicates dropped.

    A bin is ``(edge[k-1], edge[k]]``, the first open below and the last open above.
    """
    n = len(sorted_reference)
    if n == 0 or bins < 2:
        return np.empty(0)
    ranks = np.ceil(np.arange(1, bins) / bins * n).astype(np.int64) - 1
    return np.unique(sorted_reference[np.clip(ranks, 0, n - 1)])


def _counts_sorted(sorted_values: NDArray[np.float64], edges: NDArray[np.float64]) -> NDArray:
    """Counts of sorted values in the bins ``(-inf, e0], (e0, e1], ..., (e_last, inf)``."""
    cuts = np.searchsorted(sorted_values, edges, side="right")
    return np.diff(np.concatenate([[0], cuts, [len(sorted_values)]]))


EXACT_KS_BELOW = 10_000
"""Effective sample sizes n*m/(n+m) below which the KS p-value uses the exact finite-n
distribution (``scipy.stats.kstwo``, as ``ks_2samp(method="asymp")``); above it the limiting
Kolmogorov distribution, which is as good there and costs microseconds instead of seconds."""


def ks_p_value(statistic: float, n_reference: int, n_current: int) -> float:
    """Asymptotic two-sided p-value of a two-sample KS statistic."""
    from scipy.stats import kstwo, kstwobign

    if n_reference == 0 or n_current == 0:
        return 1.0
    en = n_reference * n_current / (n_reference + n_current)
    if en < EXACT_KS_BELOW:
        p = kstwo.sf(statistic, np.round(en))
    else:
        p = kstwobign.sf(statistic * np.sqrt(en))
    return float(np.clip(p, 0.0, 1.0))


def ks_wasserstein(
    sorted_reference: NDArray[np.float64], sorted_current: NDArray[np.float64]
) -> tuple[float, float]:
    """(KS statistic, Wasserstein-1 distance) of two sorted samples without missing values.

    Both come from the two empirical CDFs on the merged sample: KS is their largest gap, read
    at the last of each run of tied values; Wasserstein the area between them. The merged order
    costs one ``searchsorted`` of the reference into the current sample, not a sort.
    """
    r, c = sorted_reference, sorted_current
    nr, nc = len(r), len(c)
    if nr == 0 or nc == 0:
        return 0.0, 0.0
    n = nr + nc
    at_r = np.arange(nr) + np.searchsorted(c, r, side="left")  # r's places in the merged order
    from_r = np.zeros(n, dtype=bool)
    from_r[at_r] = True
    grid = np.empty(n, dtype=np.float64)
    grid[at_r] = r
    grid[~from_r] = c
    cum_r = np.cumsum(from_r)
    gap = np.abs(cum_r / nr - (np.arange(1, n + 1) - cum_r) / nc)[:-1]
    step = np.diff(grid)
    ks = float(gap[step > 0].max(initial=0.0))
    return ks, float(np.dot(gap, step))


def numeric_drift(
    reference: ArrayLike, current: ArrayLike, bins: int = 10, feature: str = ""
) -> FeatureDrift:
    """PSI, scaled Wasserstein distance and KS test of one numeric feature (NaN = missing).

    The Wasserstein distance is divided by the reference's standard deviation (by 1 when the
    reference is constant). KS and Wasserstein compare the values present; PSI also compares the
    missing shares.
    """
    r_all = np.asarray(reference, dtype=np.float64)
    c_all = np.asarray(current, dtype=np.float64)
    r = np.sort(r_all[~np.isnan(r_all)])
    c = np.sort(c_all[~np.isnan(c_all)])
    nr, nc = len(r), len(c)
    edges = quantile_edges(r, bins)
    counts_r = np.append(_counts_sorted(r, edges), len(r_all) - nr)
    counts_c = np.append(_counts_sorted(c, edges), len(c_all) - nc)
    statistic, distance = ks_wasserstein(r, c)
    if nr:
        std = float(r.std())
        distance /= std if std > 0 else 1.0
    return FeatureDrift(
        feature=feature,
        kind="numeric",
        rows_reference=len(r_all),
        rows_current=len(c_all),
        missing_reference=_share(len(r_all) - nr, len(r_all)),
        missing_current=_share(len(c_all) - nc, len(c_all)),
        psi=psi(counts_r, counts_c),
        distance=distance,
        distance_name="wasserstein",
        statistic=statistic,
        p_value=ks_p_value(statistic, nr, nc),
        test_name="ks",
    )


def level_counts(reference: pd.Series, current: pd.Series) -> pd.DataFrame:
    """Rows per level in each sample, missing values as the level ``MISSING``; one row per level
    seen in either sample, in order of first appearance."""
    both = pd.concat([reference, current], ignore_index=True)
    codes, levels = pd.factorize(both, use_na_sentinel=True)
    k = len(levels)
    codes = np.where(codes < 0, k, codes)
    n_ref = len(reference)
    counts_r = np.bincount(codes[:n_ref], minlength=k + 1)
    counts_c = np.bincount(codes[n_ref:], minlength=k + 1)
    names = [str(v) for v in levels] + [MISSING]
    out = pd.DataFrame({"reference": counts_r, "current": counts_c}, index=names)
    return out[(out["reference"] > 0) | (out["current"] > 0)]


def jensen_shannon(p: ArrayLike, q: ArrayLike) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) between two count or share vectors."""
    a = np.asarray(p, dtype=np.float64)
    b = np.asarray(q, dtype=np.float64)
    if a.sum() <= 0 or b.sum() <= 0:
        return 0.0
    a, b = a / a.sum(), b / b.sum()
    m = (a + b) / 2

    def kl(x: NDArray[np.float64]) -> float:
        present = x > 0
        return float(np.sum(x[present] * np.log2(x[present] / m[present])))

    return float(np.sqrt(max(0.0, (kl(a) + kl(b)) / 2)))


def chi_square(reference_counts: ArrayLike, current_counts: ArrayLike) -> tuple[float, float]:
    """Chi-square test of homogeneity of the 2 x levels table; (0, 1) with fewer than 2 levels."""
    from scipy.stats import chi2_contingency

    table = np.vstack([reference_counts, current_counts]).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0
    result = chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def categorical_drift(
    reference: pd.Series | Sequence[object],
    current: pd.Series | Sequence[object],
    feature: str = "",
) -> FeatureDrift:
    """PSI over levels, Jensen-Shannon distance and chi-square test of one categorical feature.

    Missing values are a level of their own in PSI and the test; the distance compares the
    shares of the levels present.
    """
    ref = reference if isinstance(reference, pd.Series) else pd.Series(list(reference))
    cur = current if isinstance(current, pd.Series) else pd.Series(list(current))
    if ref.dtype != cur.dtype:  # one dtype for the shared factorization
        ref, cur = ref.astype(object), cur.astype(object)
    counts = level_counts(ref, cur)
    present = counts.drop(index=MISSING, errors="ignore")
    statistic, p_value = chi_square(counts["reference"], counts["current"])
    missing = (
        counts.loc[MISSING]
        if MISSING in counts.index
        else pd.Series({"reference": 0, "current": 0})
    )
    return FeatureDrift(
        feature=feature,
        kind="categorical",
        rows_reference=len(ref),
        rows_current=len(cur),
        missing_reference=_share(int(missing["reference"]), len(ref)),
        missing_current=_share(int(missing["current"]), len(cur)),
        psi=psi(counts["reference"], counts["current"]),
        distance=jensen_shannon(present["reference"], present["current"]),
        distance_name="jensen_shannon",
        statistic=statistic,
        p_value=p_value,
        test_name="chi2",
    )


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def is_numeric(s: pd.Series) -> bool:
    """Numbers (integers included, nullable or not) are numeric; booleans, strings and
    categories are categorical."""
    return bool(ptypes.is_numeric_dtype(s) and not ptypes.is_bool_dtype(s))


def _as_float(s: pd.Series) -> NDArray[np.float64]:
    return s.to_numpy(dtype=np.float64, na_value=np.nan)


def judge(drift: FeatureDrift, config: MonitoringConfig) -> FeatureDrift:
    """``drift`` with its status under ``config``: the worse of the PSI's and the distance's;
    where either sample has fewer than ``config.test_below_rows`` values present the test's
    p-value is judged instead of the distance (distances are noisy on small samples, and on
    large ones every test rejects). The distance and the test compare the values present, so a
    mostly missing feature (a rare life event) is a small sample however many rows hold it.

    An alert needs a shift that is at least moderate (the distance at its warn threshold) and
    beyond the sampling noise of the windows' sizes (the test rejecting at ``config.p_value``),
    or, on large samples, a large one (the distance at its alert threshold). The distance alone
    ignores the sizes (its noise on 1,500 rows is about 0.03 of a standard deviation, on 800
    about 0.05); the test alone rejects for shifts too small to matter (a slowly ageing book
    moves net flows by 0.06 of a standard deviation at p = 1e-7 within a year). So on large
    samples a moderate distance with a rejecting test alerts, and without one warns; on small
    samples a rejecting test alerts with a moderate distance and warns with a smaller one."""
    levels = [config.level("psi", drift.psi)]
    present = min(
        drift.rows_reference * (1 - drift.missing_reference),
        drift.rows_current * (1 - drift.missing_current),
    )
    small = present < config.test_below_rows
    level = config.level(drift.distance_name, drift.distance)
    significant = drift.p_value < config.p_value
    if small:
        levels.append(("alert" if level != "ok" else "warn") if significant else "ok")
    else:
        levels.append("alert" if level == "warn" and significant else level)
    return FeatureDrift(**{**asdict(drift), "status": worst(levels)})


STATUS_ORDER = {"ok": 0, "warn": 1, "alert": 2}


def worst(levels: Sequence[str]) -> str:
    """The most severe of ``ok``, ``warn`` and ``alert``."""
    return max(levels, key=STATUS_ORDER.__getitem__, default="ok")


def feature_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: Sequence[str],
    config: MonitoringConfig | None = None,
    threads: int = 2,
) -> pd.DataFrame:
    """The drift of each of ``features`` from ``reference`` to ``current``.

    Args:
        reference, current: frames holding at least ``features``.
        features: the features to compare, in the order of the result.
        config: thresholds (a feature's own where it has some) and number of bins (default:
            ``MonitoringConfig()``).
        threads: features compared at once (numpy's sorts release the GIL).

    Returns:
        One row per feature with the fields of :class:`FeatureDrift`, most severe first
        (status, then PSI), then in ``features`` order.

    Raises:
        KeyError: a feature is missing from either frame.
    """
    config = config or MonitoringConfig()
    missing = [f for f in features if f not in reference or f not in current]
    if missing:
        raise KeyError(f"feature(s) missing from the frames: {', '.join(missing)}")

    def one(feature: str) -> FeatureDrift:
        r, c = reference[feature], current[feature]
        if is_numeric(r) and is_numeric(c):
            d = numeric_drift(_as_float(r), _as_float(c), config.psi_bins, feature)
        else:
            d = categorical_drift(r, c, feature)
        return judge(d, config.for_feature(feature))

    if threads > 1 and len(features) > 1:
        with ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(one, features))
    else:
        results = [one(f) for f in features]
    out = pd.DataFrame([asdict(d) for d in results], columns=list(FeatureDrift.__annotations__))
    out["_order"] = out["status"].map(STATUS_ORDER)
    out = out.sort_values(["_order", "psi"], ascending=[False, False], kind="stable")
    return out.drop(columns="_order").reset_index(drop=True)
