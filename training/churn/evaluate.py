"""Evaluation of the model next to its baselines and the simulator's truth on the test window:
headline metrics, slices and fairness. Pure: arrays and frames in, a report out."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from training import metrics as m
from training.gate import GATED_SLICES, Evaluation

AGE_BANDS: tuple[tuple[int, int, str], ...] = (
    (0, 30, "<30"),
    (30, 45, "30-44"),
    (45, 60, "45-59"),
    (60, 200, "60+"),
)
SLICES: tuple[str, ...] = ("value_tier", "age_band", "region", "channel")
FAIRNESS: tuple[str, ...] = ("gender", "age_band")


def age_band(age: pd.Series) -> pd.Series:
    """Age in years -> band label (``unknown`` when missing)."""
    a = pd.to_numeric(age, errors="coerce")
    out = pd.Series("unknown", index=age.index, dtype=object)
    for lo, hi, name in AGE_BANDS:
        out[(a >= lo) & (a < hi)] = name
    return out


def value_tier(total_balance: pd.Series) -> pd.Series:
    """Total balance -> tertile label ``low``/``mid``/``high`` within the given rows."""
    b = pd.to_numeric(total_balance, errors="coerce")
    ranks = b.rank(method="first")
    tiers = pd.qcut(ranks, 3, labels=["low", "mid", "high"]) if b.notna().sum() >= 3 else None
    if tiers is None:
        return pd.Series("unknown", index=b.index, dtype=object)
    return tiers.astype(object).where(b.notna(), "unknown")


def slice_groups(attributes: pd.DataFrame) -> dict[str, pd.Series]:
    """The slice columns from customer attributes aligned with the scored rows.

    ``attributes`` holds ``total_balance``, ``age``, ``region``, ``preferred_channel`` and
    ``gender`` where known; missing ones give no slice.
    """
    groups: dict[str, pd.Series] = {}
    if "total_balance" in attributes:
        groups["value_tier"] = value_tier(attributes["total_balance"])
    if "age" in attributes:
        groups["age_band"] = age_band(attributes["age"])
    if "region" in attributes:
        groups["region"] = attributes["region"]
    if "preferred_channel" in attributes:
        groups["channel"] = attributes["preferred_channel"]
    if "gender" in attributes:
        groups["gender"] = attributes["gender"]
    return groups


@dataclass
class Report:
    """Everything measured on one window.

    Attributes:
        metrics: scorer name (``model``, ``logistic``, ``rule``, ``truth``) -> metric -> value.
        truth: ``truth_auc`` (the ceiling) and ``corr_pred_truth`` when the truth is known.
        slices: slice name -> per-group metrics of the model.
        fairness: attribute -> per-group flag rates at the operating threshold.
        four_fifths: attribute -> lowest / highest flag rate.
        threshold: the operating threshold used for flags.
    """

    metrics: dict[str, dict[str, float]]
    truth: dict[str, float] = field(default_factory=dict)
    slices: dict[str, pd.DataFrame] = field(default_factory=dict)
    fairness: dict[str, pd.DataFrame] = field(default_factory=dict)
    four_fifths: dict[str, float] = field(default_factory=dict)
    threshold: float = math.nan

    def flat_metrics(self) -> dict[str, float]:
        """``<scorer>_<metric>`` -> value for MLflow (the model's keep bare names)."""
        out: dict[str, float] = {}
        for scorer, values in self.metrics.items():
            for k, v in values.items():
                out[k if scorer == "model" else f"{scorer}_{k}"] = v
        out.update(self.truth)
        out.update({f"four_fifths_{k}": v for k, v in self.four_fifths.items()})
        return {k: float(v) for k, v in out.items()}

    def gate_evaluation(self, min_rows: int = 0, min_positives: int = 0) -> Evaluation:
        """The model's figures the promotion gate reads (small slices get NaN: not compared)."""
        slices = {}
        for name in GATED_SLICES:
            if name in self.slices:
                t = self.slices[name]
                slices[name] = {
                    str(r.group): (
                        float(r.roc_auc)
                        if r.rows >= min_rows and r.positives >= min_positives
                        else math.nan
                    )
                    for r in t.itertuples()
                }
        model = self.metrics["model"]
        return Evaluation(model["roc_auc"], model["ece"], slices)


def build_report(
    y: NDArray[np.float64],
    scores: dict[str, NDArray[np.float64]],
    groups: dict[str, pd.Series],
    threshold: float,
    truth: NDArray[np.float64] | None = None,
    min_slice_rows: int = 1,
) -> Report:
    """Measure ``scores["model"]`` and the other scorers against labels ``y``.

    Args:
        y: 0/1 labels of the window's rows.
        scores: scorer name -> probabilities; must contain ``model``.
        groups: slice and fairness columns aligned by position with ``y``.
        threshold: the model's operating threshold for the high-risk flag.
        truth: the simulator's true churn probabilities for the same rows, when known.
        min_slice_rows: slices smaller than this get no AUC.
    """
    metrics = {name: m.evaluate(y, p) for name, p in scores.items()}
    report = Report(metrics=metrics, threshold=threshold)
    p = scores["model"]
    if truth is not None:
        report.metrics["truth"] = m.evaluate(y, truth)
        report.truth = {
            "truth_auc": report.metrics["truth"]["roc_auc"],
            "corr_pred_truth": float(np.corrcoef(p, truth)[0, 1]) if np.std(p) > 0 else math.nan,
        }
    for name in SLICES:
        if name in groups:
            report.slices[name] = m.slice_metrics(
                y, p, groups[name].reset_index(drop=True), min_rows=min_slice_rows
            )
    flags = p >= threshold
    for name in FAIRNESS:
        if name in groups:
            table, ratio = m.flag_rates(flags, groups[name].reset_index(drop=True))
            report.fairness[name] = table
            report.four_fifths[name] = ratio
    return report


def to_jsonable(report: Report) -> dict[str, Any]:
    """The report as plain JSON values (tables as lists of records)."""
    return {
        "metrics": report.metrics,
        "truth": report.truth,
        "threshold": report.threshold,
        "slices": {k: v.to_dict(orient="records") for k, v in report.slices.items()},
        "fairness": {k: v.to_dict(orient="records") for k, v in report.fairness.items()},
        "four_fifths": report.four_fifths,
    }
