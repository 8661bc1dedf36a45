"""Online/offline skew: the values the service reads from the online store against the
point-in-time offline values at the same time, feature by feature.

Both should agree exactly (the same FeatureService, the same read plan); a difference means the
online store holds something the offline frames do not (a stale or partial materialization, a
source rebuilt since, a type lost on the way), and the model is scored on other inputs than it
was trained and monitored on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pandas.api import types as ptypes

SKEW_COLUMNS = [
    "feature",
    "compared",
    "differ",
    "differ_share",
    "online_example",
    "offline_example",
    "status",
]


def _floats(values: pd.Series) -> NDArray[np.float64]:
    """Numbers (booleans as 0/1) as floats, nulls as NaN; text that is no number as inf, which
    differs from every number."""

    def one(v: Any) -> float:
        if v is None or (not isinstance(v, str) and pd.isna(v)):
            return np.nan
        try:
            return float(v)
        except (TypeError, ValueError):
            return np.inf

    return np.array([one(v) for v in values.astype(object)], dtype=np.float64)


def differs(online: pd.Series, offline: pd.Series, rtol: float = 1e-6) -> NDArray[np.bool_]:
    """Which pairs differ. Where the offline column holds numbers or booleans, both sides are
    compared as numbers (booleans 0/1) within ``rtol`` relative to the larger magnitude; else
    as text. A null equals a null and nothing else."""
    if ptypes.is_numeric_dtype(offline) or ptypes.is_bool_dtype(offline):
        a, b = _floats(online), _floats(offline)
        both_nan = np.isnan(a) & np.isnan(b)
        with np.errstate(invalid="ignore"):
            close = np.isfinite(a - b) & (np.abs(a - b) <= rtol * np.maximum(np.abs(a), np.abs(b)))
        return ~(both_nan | close | (a == b))
    a_null, b_null = online.isna().to_numpy(), offline.isna().to_numpy()
    same_text = online.astype(str).to_numpy() == offline.astype(str).to_numpy()
    return ~((a_null & b_null) | (~a_null & ~b_null & same_text))


def value_skew(
    online: pd.DataFrame,
    offline: pd.DataFrame,
    features: Sequence[str],
    rtol: float = 1e-6,
    alert_share: float = 0.0,
) -> pd.DataFrame:
    """Per feature, the share of customers whose online and offline values differ.

    Args:
        online, offline: one row per customer, in the same order, with ``features``.
        features: the features to compare.
        rtol: relative tolerance for numbers.
        alert_share: a feature differing for more than this share of customers alerts.

    Returns:
        ``SKEW_COLUMNS``, most differing first: the counts, the share, one differing pair of
        values (text, "" when none) and the status (``ok`` or ``alert``).
    """
    if len(online) != len(offline):
        raise ValueError(f"{len(online)} online rows against {len(offline)} offline rows")
    rows = []
    for f in features:
        a, b = online[f].reset_index(drop=True), offline[f].reset_index(drop=True)
        diff = differs(a, b, rtol)
        n = len(diff)
        share = float(diff.mean()) if n else 0.0
        first = int(np.argmax(diff)) if diff.any() else -1
        rows.append(
            {
                "feature": f,
                "compared": n,
                "differ": int(diff.sum()),
                "differ_share": share,
                "online_example": "" if first < 0 else _text(a.iloc[first]),
                "offline_example": "" if first < 0 else _text(b.iloc[first]),
                "status": "alert" if share > alert_share else "ok",
            }
        )
    table = pd.DataFrame(rows, columns=SKEW_COLUMNS)
    return table.sort_values("differ_share", ascending=False, kind="stable", ignore_index=True)


def _text(v: Any) -> str:
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return "null"
    return f"{v:.7g}" if isinstance(v, float | np.floating) else str(v)
