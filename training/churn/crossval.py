"""Stratified k-fold cross-validation of the churn model by customer: the reported AUC (mean and
spread over folds) when there is no later time to test on (a bank's single snapshot).

Each fold holds out a stratified share of the customers; the rest is split again, stratified, into
train and validation (early stopping and calibration, as in the final fit), and the held-out
customers are scored by the model and by the logistic baseline. In-time figures: see
``training.split``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from retain.core.columns import LABEL
from retain.core.errors import DataError
from training import metrics as m
from training.churn.baselines import fit_logistic, predict_logistic
from training.churn.data import Dataset
from training.churn.model import fit_churn_model
from training.config import TrainConfig
from training.encode import fit_spec
from training.split import customer_folds, stratified_split

REPORTED: tuple[str, ...] = ("roc_auc", "pr_auc", "ece", "lift_top10")
"""The model's metrics kept per fold (the logistic baseline's ROC AUC too)."""


@dataclass(frozen=True)
class CrossValidation:
    """Per-fold figures: metric name (``roc_auc``, ..., ``logistic_roc_auc``) -> one value per
    fold."""

    folds: int
    per_fold: dict[str, list[float]] = field(default_factory=dict)

    def mean(self, metric: str) -> float:
        values = self.per_fold.get(metric, [])
        return float(np.mean(values)) if values else math.nan

    def sd(self, metric: str) -> float:
        """Sample standard deviation over folds (NaN with fewer than two)."""
        values = self.per_fold.get(metric, [])
        return float(np.std(values, ddof=1)) if len(values) > 1 else math.nan

    def metrics(self) -> dict[str, float]:
        """``cv_<metric>_mean`` and ``cv_<metric>_sd`` for MLflow."""
        out: dict[str, float] = {}
        for k in self.per_fold:
            out[f"cv_{k}_mean"] = self.mean(k)
            out[f"cv_{k}_sd"] = self.sd(k)
        return out

    def describe(self, metric: str = "roc_auc") -> str:
        """``0.8612 ± 0.0104`` (mean ± sd over folds)."""
        return f"{self.mean(metric):.4f} ± {self.sd(metric):.4f}"


def cross_validate(
    data: Dataset, config: TrainConfig, params: dict[str, Any] | None = None
) -> CrossValidation:
    """``config.cv_folds``-fold stratified cross-validation by customer of ``data.frame``.

    Raises:
        DataError: a fold's train, validation or held-out part has only one class of label.
    """
    frame = data.frame
    labelled = frame[LABEL].notna()
    per_fold: dict[str, list[float]] = {k: [] for k in (*REPORTED, "logistic_roc_auc")}
    for k, held in enumerate(customer_folds(frame, config.cv_folds, config.seed), start=1):
        rest = frame[labelled & ~held]
        inner = stratified_split(rest, config.valid_share, 0.0, config.seed).masks(rest)
        train, valid, test = rest[inner["train"]], rest[inner["valid"]], frame[held]
        for name, part in (("train", train), ("validation", valid), ("held-out", test)):
            if part[LABEL].nunique() < 2:
                raise DataError(
                    f"cross-validation fold {k} of {config.cv_folds}: the {name} customers have "
                    "only one class of label (too few churners or stayers): lower --cv-folds"
                )
        spec = fit_spec(train, data.features)
        model = fit_churn_model(train, valid, spec, config, params)
        y = test[LABEL].to_numpy(dtype=np.float64)
        figures = m.evaluate(y, model.predict_proba(test))
        for metric in REPORTED:
            per_fold[metric].append(float(figures[metric]))
        logistic = fit_logistic(train, spec, config.seed)
        per_fold["logistic_roc_auc"].append(m.roc_auc(y, predict_logistic(logistic, test, spec)))
    return CrossValidation(config.cv_folds, per_fold)
