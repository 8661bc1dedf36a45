"""Plain metric functions over labels and probabilities: discrimination, calibration, lift,
slices and fairness. No MLflow, no model: arrays in, numbers or small frames out."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

TOP_SHARES: tuple[float, ...] = (0.05, 0.10, 0.20)


def _arrays(y: ArrayLike, p: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    ya = np.asarray(y, dtype=np.float64)
    pa = np.asarray(p, dtype=np.float64)
    if ya.shape != pa.shape:
        raise ValueError(f"labels and scores differ in length: {ya.shape} vs {pa.shape}")
    return ya, pa


def roc_auc(y: ArrayLike, p: ArrayLike) -> float:
    """ROC AUC; NaN when only one class is present."""
    from sklearn.metrics import roc_auc_score

    ya, pa = _arrays(y, p)
    if len(np.unique(ya)) < 2:
        return math.nan
    return float(roc_auc_score(ya, pa))


def pr_auc(y: ArrayLike, p: ArrayLike) -> float:
    """Average precision (area under the precision-recall curve); NaN without positives."""
    from sklearn.metrics import average_precision_score

    ya, pa = _arrays(y, p)
    if ya.sum() == 0:
        return math.nan
    return float(average_precision_score(ya, pa))


def brier(y: ArrayLike, p: ArrayLike) -> float:
    ya, pa = _arrays(y, p)
    return float(np.mean((pa - ya) ** 2))


def log_loss(y: ArrayLike, p: ArrayLike, eps: float = 1e-15) -> float:
    ya, pa = _arrays(y, p)
    pa = np.clip(pa, eps, 1 - eps)
    return float(-np.mean(ya * np.log(pa) + (1 - ya) * np.log(1 - pa)))


def expected_calibration_error(y: ArrayLike, p: ArrayLike, bins: int = 10) -> float:
    """Count-weighted mean |observed rate - mean probability| over equal-width probability bins."""
    ya, pa = _arrays(y, p)
    if len(ya) == 0:
        return math.nan
    idx = np.minimum((pa * bins).astype(int), bins - 1)
    total = 0.0
    for b in np.unique(idx):
        in_bin = idx == b
        total += in_bin.sum() * abs(ya[in_bin].mean() - pa[in_bin].mean())
    return float(total / len(ya))


def top_k(y: ArrayLike, p: ArrayLike, share: float) -> tuple[float, float]:
    """Lift and capture rate of the ``share`` of rows with the highest scores.

    Ties are broken by position (a stable sort), so the result is deterministic.

    Returns:
        (lift = rate among the top / overall rate, capture = top's share of all positives);
        NaN when there are no positives.
    """
    ya, pa = _arrays(y, p)
    n_top = max(1, int(round(share * len(ya))))
    order = np.argsort(-pa, kind="stable")[:n_top]
    positives = ya.sum()
    if positives == 0:
        return math.nan, math.nan
    lift = ya[order].mean() / ya.mean()
    capture = ya[order].sum() / positives
    return float(lift), float(capture)


def evaluate(y: ArrayLike, p: ArrayLike) -> dict[str, float]:
    """All headline metrics of probabilities ``p`` against 0/1 labels ``y``."""
    ya, pa = _arrays(y, p)
    out = {
        "rows": float(len(ya)),
        "base_rate": float(ya.mean()) if len(ya) else math.nan,
        "roc_auc": roc_auc(ya, pa),
        "pr_auc": pr_auc(ya, pa),
        "brier": brier(ya, pa),
        "log_loss": log_loss(ya, pa),
        "ece": expected_calibration_error(ya, pa),
    }
    for share in TOP_SHARES:
        lift, capture = top_k(ya, pa, share)
        pct = int(round(share * 100))
        out[f"lift_top{pct}"] = lift
        out[f"capture_top{pct}"] = capture
    return out


def slice_metrics(y: ArrayLike, p: ArrayLike, groups: pd.Series, min_rows: int = 1) -> pd.DataFrame:
    """Metrics per value of ``groups`` (aligned with ``y`` and ``p`` by position).

    Returns:
        One row per group: group, rows, positives, base_rate, roc_auc, ece, brier, mean_score;
        roc_auc is NaN where a group is smaller than ``min_rows`` or has one class.
    """
    ya, pa = _arrays(y, p)
    g = pd.Series(np.asarray(groups, dtype=object)).fillna("unknown").astype(str)
    rows = []
    for value in sorted(g.unique()):
        m = (g == value).to_numpy()
        yg, pg = ya[m], pa[m]
        rows.append(
            {
                "group": value,
                "rows": int(m.sum()),
                "positives": int(yg.sum()),
                "base_rate": float(yg.mean()),
                "roc_auc": roc_auc(yg, pg) if m.sum() >= min_rows else math.nan,
                "ece": expected_calibration_error(yg, pg),
                "brier": brier(yg, pg),
                "mean_score": float(pg.mean()),
            }
        )
    return pd.DataFrame(rows)


def flag_rates(flags: ArrayLike, groups: pd.Series) -> tuple[pd.DataFrame, float]:
    """High-risk flag rate per group and the four-fifths ratio (lowest rate / highest rate).

    Returns:
        (frame with group, rows, flagged, flag_rate; ratio, 1.0 when no group is flagged).
    """
    f = np.asarray(flags, dtype=bool)
    g = pd.Series(np.asarray(groups, dtype=object)).fillna("unknown").astype(str)
    table = (
        pd.DataFrame({"group": g, "flag": f})
        .groupby("group", sort=True)["flag"]
        .agg(rows="size", flagged="sum")
        .reset_index()
    )
    table["flag_rate"] = table["flagged"] / table["rows"]
    top = table["flag_rate"].max()
    ratio = float(table["flag_rate"].min() / top) if top > 0 else 1.0
    return table, ratio


def auc_standard_error(auc: float, positives: int, negatives: int) -> float:
    """The standard error of a realised ROC AUC on ``positives`` and ``negatives`` rows (Hanley
    and McNeil, 1982, Radiology 143: the exponential approximation); NaN without both classes.

    A month of a 2,000-customer bank (about 60 leavers) has a standard error near 0.035: a drop of
    0.05 from the test AUC is then within noise, and alerting on it would be a false alarm.
    """
    if positives < 1 or negatives < 1 or math.isnan(auc):
        return math.nan
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    variance = (
        auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)
    ) / (positives * negatives)
    return math.sqrt(max(variance, 0.0))
