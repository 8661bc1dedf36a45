"""Top-k ranking metrics for next-product recommendations: plain functions over score matrices."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def top_k_metrics(
    scores: NDArray[np.float64],
    opened: NDArray[np.bool_],
    candidates: NDArray[np.bool_],
    k: int = 3,
) -> dict[str, float]:
    """Hit rate and MAP at ``k`` over the rows where at least one candidate was opened.

    Args:
        scores: [rows, products] scores; higher ranks first (ties: the earlier product first).
        opened: [rows, products] whether the product was opened within the horizon.
        candidates: [rows, products] which products could be recommended (not held).
        k: list length.

    Returns:
        ``hit_rate_at_k`` (share of rows with an opened product in the top k), ``map_at_k``
        (mean over rows of average precision at k, normalised by min(k, products opened)) and
        ``rows`` (rows evaluated); NaN metrics when no row opened anything.
    """
    relevant = opened & candidates
    rows = relevant.any(axis=1)
    n = int(rows.sum())
    if n == 0:
        return {f"hit_rate_at_{k}": float("nan"), f"map_at_{k}": float("nan"), "rows": 0.0}
    s = np.where(candidates[rows], np.nan_to_num(scores[rows], nan=-np.inf), -np.inf)
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    top = np.take_along_axis(relevant[rows], order, axis=1)
    # A non-candidate ranked in the top k (fewer than k candidates) is never relevant.
    hits = top.astype(np.float64)
    precision = np.cumsum(hits, axis=1) / np.arange(1, top.shape[1] + 1)
    denom = np.minimum(relevant[rows].sum(axis=1), k)
    ap = (precision * hits).sum(axis=1) / denom
    return {
        f"hit_rate_at_{k}": float(top.any(axis=1).mean()),
        f"map_at_{k}": float(ap.mean()),
        "rows": float(n),
    }
