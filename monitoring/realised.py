"""Realised performance of several registered churn versions on the same past months, once
their outcomes are in: how the old champion and its successor did on the months after a change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from monitoring.performance import realised_auc
from monitoring.windows import available_months, month_period, window_rows
from retain.core.columns import AS_OF, LABEL
from retain.core.errors import DataError
from retain.core.settings import Settings


def auc_by_month(
    months: ArrayLike, labels: ArrayLike, scores: Mapping[str, ArrayLike]
) -> pd.DataFrame:
    """Per month (``YYYY-MM`` per row), the rows, the churn rate and each scorer's ROC AUC on
    the rows with a known outcome (NaN where a month has no leaver or no stayer)."""
    m = np.asarray(months)
    y = np.asarray(labels, dtype=np.float64)
    out = []
    for month in sorted(set(m.tolist())):
        at = (m == month) & ~np.isnan(y)
        ym = y[at]
        row: dict[str, object] = {"month": month, "rows": int(at.sum()), "rate": float(ym.mean())}
        both = 0 < ym.sum() < len(ym)
        for name, p in scores.items():
            row[name] = realised_auc(ym, np.asarray(p, dtype=np.float64)[at]) if both else np.nan
        out.append(row)
    return pd.DataFrame(out)


def realised_by_month(
    settings: Settings, versions: Mapping[str, str], months: Sequence[pd.Period]
) -> pd.DataFrame:
    """The realised ROC AUC of each churn version (label -> registered version) on ``months``'
    labelled rows, scored from the offline store through the first version's feature service.

    Raises:
        DataError: none of ``months`` has a labelled row.
        NotReadyError: a version cannot be loaded.
    """
    from features.frames import entity_frame
    from training.churn.load import load_version
    from training.config import MODEL_NAMES

    models = {k: load_version(settings, MODEL_NAMES["churn"], v).model for k, v in versions.items()}
    wanted = set(months)
    chosen = [m for m in available_months(settings) if month_period(m) in wanted]
    rows = window_rows(settings, chosen)
    rows = rows[rows[LABEL].notna()].reset_index(drop=True)
    if rows.empty:
        raise DataError(f"no labelled rows in {', '.join(str(m) for m in months)}")
    service = str(next(iter(models.values())).info.get("feature_service", "churn_v1"))
    frame = entity_frame(settings, rows, service)
    stamps = pd.to_datetime(frame[AS_OF], utc=True).dt.strftime("%Y-%m").to_numpy()
    scores = {k: m.predict_proba(frame) for k, m in models.items()}
    return auc_by_month(stamps, frame[LABEL].to_numpy(dtype=np.float64), scores)
