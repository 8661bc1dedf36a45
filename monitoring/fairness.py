"""Fairness slices: the rate at which each group is flagged as at risk or offered an action,
held against the highest group's (the four-fifths rule of adverse impact: a ratio below 0.8
is the usual alarm), and the ROC AUC per group where outcomes are known. Pure functions over
arrays; the groups (gender from the customers table, age bands) come from the caller.

Gender is read for these checks only: it is never a model feature.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from monitoring.alerts import alert
from monitoring.config import MonitoringConfig
from monitoring.drift import MISSING

RATE_COLUMNS = ["measure", "attribute", "group", "rows", "rate", "ratio", "status"]
AUC_COLUMNS = ["attribute", "group", "rows", "positives", "auc"]


def rate_ratios(
    measure: str,
    groups: Mapping[str, pd.Series],
    flag: ArrayLike,
    config: MonitoringConfig,
) -> pd.DataFrame:
    """Per attribute and group, the share of rows flagged and its ratio to the highest group's
    rate (among the groups of at least ``fairness_min_rows`` rows; the others are ``n/a``).

    Args:
        measure: what ``flag`` is (``high-risk flag``, ``offer``).
        groups: attribute name -> each row's group (missing values: a group of their own).
        flag: one boolean per row.
        config: ``fairness_ratio_*`` thresholds and ``fairness_min_rows``.

    Returns:
        ``RATE_COLUMNS``; the ratio is NaN where no judged group was flagged at all.
    """
    f = np.asarray(flag, dtype=bool)
    parts = []
    for attribute, values in groups.items():
        key = values.astype(object).where(values.notna(), MISSING).astype(str).to_numpy()
        table = (
            pd.DataFrame({"group": key, "flag": f})
            .groupby("group", sort=True)["flag"]
            .agg(rows="size", rate="mean")
            .reset_index()
        )
        judged = table["rows"] >= config.fairness_min_rows
        top = table.loc[judged, "rate"].max() if judged.any() else math.nan
        ratio = table["rate"] / top if top and not math.isnan(top) else math.nan
        table["ratio"] = np.where(judged, ratio, math.nan)
        table["status"] = [
            config.level("fairness_ratio", r) if j else "n/a"
            for r, j in zip(table["ratio"], judged, strict=True)
        ]
        parts.append(table.assign(measure=measure, attribute=attribute))
    if not parts:
        return pd.DataFrame(columns=RATE_COLUMNS)
    return pd.concat(parts, ignore_index=True)[RATE_COLUMNS]


def auc_by_group(
    groups: Mapping[str, pd.Series], labels: ArrayLike, scores: ArrayLike
) -> pd.DataFrame:
    """Per attribute and group, the ROC AUC of ``scores`` against ``labels`` (NaN labels are
    left out; the AUC is NaN where a group has no leaver or no stayer)."""
    from monitoring.performance import realised_auc

    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(scores, dtype=np.float64)
    known = ~np.isnan(y)
    rows = []
    for attribute, values in groups.items():
        key = values.astype(object).where(values.notna(), MISSING).astype(str).to_numpy()
        for group in sorted(set(key[known])):
            at = known & (key == group)
            yg = y[at]
            both = 0 < yg.sum() < len(yg)
            rows.append(
                {
                    "attribute": attribute,
                    "group": group,
                    "rows": int(at.sum()),
                    "positives": int(yg.sum()),
                    "auc": realised_auc(yg, p[at]) if both else math.nan,
                }
            )
    return pd.DataFrame(rows, columns=AUC_COLUMNS)


def fairness_alerts(rates: pd.DataFrame) -> list[dict[str, str]]:
    """One line per group whose ratio crosses a threshold."""
    out = []
    for attribute, table in rates.groupby(["measure", "attribute"], sort=False):
        measure, name = attribute
        judged = table[table["status"] != "n/a"]
        if judged.empty:
            continue
        top = judged.loc[judged["rate"].idxmax()]
        for r in judged[judged["status"].isin(["warn", "alert"])].to_dict("records"):
            out.append(
                alert(
                    "fairness",
                    f"{measure} rate, {name} {r['group']}",
                    r["status"],
                    f"{r['rate']:.1%} against {top['rate']:.1%} for {top['group']}: ratio "
                    f"{r['ratio']:.2f} (four-fifths rule)",
                )
            )
    return out
