"""Attribution drift, as in SageMaker Clarify: does the model still lean on the same features?

Each window's attribution of a feature is its mean |SHAP| (TreeSHAP contributions to the
booster's log-odds). The current window ranks the features by it; the ranking is scored by nDCG
with the reference's attributions as the relevance:

    DCG = sum over ranks i = 1..k of ref(feature at current rank i) / log2(i + 1)
    nDCG = DCG / DCG of the reference's own ranking

1 when the order of the (top-k) features is unchanged; it falls as features the reference relied
on sink in the current ranking. Clarify alerts below 0.9. Pure functions over arrays.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike


def mean_abs_attribution(shap_values: ArrayLike, features: Sequence[str]) -> pd.Series:
    """Mean |SHAP| per feature over the rows of ``shap_values`` (rows x features)."""
    values = np.asarray(shap_values, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != len(features):
        raise ValueError(f"expected rows x {len(features)} SHAP values, got shape {values.shape}")
    mean = np.abs(values).mean(axis=0) if len(values) else np.zeros(len(features))
    return pd.Series(mean, index=list(features), name="mean_abs_shap")


def ndcg(reference: pd.Series, current: pd.Series, top: int = 0) -> float:
    """nDCG of ``current``'s ranking of features against ``reference``'s attributions.

    Args:
        reference, current: attribution per feature (same features; larger ranks higher).
        top: features ranked (0: all).

    Returns:
        A value in [0, 1]; 1.0 when the reference attributes nothing (nothing to lose).
    """
    if set(reference.index) != set(current.index):
        raise ValueError("reference and current attributions cover different features")
    k = len(reference) if top <= 0 else min(top, len(reference))
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    # Ties in the current ranking are broken by name, so the score does not depend on order.
    order = current.sort_index().sort_values(ascending=False, kind="stable").index[:k]
    dcg = float(np.sum(reference.loc[order].to_numpy() * discount))
    ideal = float(np.sum(np.sort(reference.to_numpy())[::-1][:k] * discount))
    return dcg / ideal if ideal > 0 else 1.0


def attribution_table(reference: pd.Series, current: pd.Series) -> pd.DataFrame:
    """Both windows' attributions and ranks per feature, the reference's strongest first."""
    out = pd.DataFrame({"reference": reference, "current": current.reindex(reference.index)})
    out["rank_reference"] = out["reference"].rank(ascending=False, method="first").astype(int)
    out["rank_current"] = out["current"].rank(ascending=False, method="first").astype(int)
    out.index.name = "feature"
    return out.sort_values("rank_reference").reset_index()
