"""Stratified k-fold cross-validation of the churn model by customer: the reported AUC (mean and
spread over folds) when there is no later time to test on (a bank's single snapshot).

Each fold holds out a stratified share of the customers (``training.split.customer_folds``); the
rest is split again, stratified, into train and validation (early stopping and calibration, as in
the final fit), and the held-out customers are scored by the model and by the logistic baseline.
In-time figures: see ``training.split``. ``fit_fold`` is the step of any evaluation that fits on
some rows and scores others (``evaluation.churn`` uses it for its time folds too).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from retain.core.columns import LABEL
from retain.core.errors import DataError
from retain.core.progress import Progress, silent
from training import metrics as m
from training.churn.baselines import fit_logistic, predict_logistic
from training.churn.data import Dataset
from training.churn.model import fit_churn_model
from training.config import TrainConfig
from training.encode import fit_spec
from training.split import customer_folds, stratified_split

REPORTED: tuple[str, ...] = ("roc_auc", "pr_auc", "ece", "lift_top10")
"""The model's metrics kept per fold (the logistic baseline's ROC AUC too)."""

SCORERS: tuple[str, ...] = ("model", "logistic")
"""What each fold scores the held-out rows with: the churn model and the logistic baseline."""


@dataclass(frozen=True)
class FoldScores:
    """The held-out rows of one fold and their out-of-fold probabilities.

    Attributes:
        fold: 1, 2, ...
        rows: the held-out rows' index labels in the dataset's frame.
        y: their 0/1 labels.
        scores: scorer (``SCORERS``) -> probabilities, aligned with ``y``.
    """

    fold: int
    rows: pd.Index
    y: NDArray[np.float64]
    scores: dict[str, NDArray[np.float64]]


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


def fit_fold(
    data: Dataset,
    parts: dict[str, pd.DataFrame],
    config: TrainConfig,
    params: dict[str, Any] | None = None,
    where: str = "",
) -> dict[str, NDArray[np.float64]]:
    """Fit the churn model (early stopping and calibration on ``parts["valid"]``) and the logistic
    baseline on ``parts["train"]``; score ``parts["test"]`` with both.

    Args:
        where: how the fold is named in an error (``cross-validation fold 2 of 5``).

    Raises:
        DataError: a part has only one class of label.
    """
    train, valid, test = parts["train"], parts["valid"], parts["test"]
    for name, part in (("train", train), ("validation", valid), ("held-out", test)):
        if part[LABEL].nunique() < 2:
            raise DataError(
                f"{where}: the {name} rows ({len(part):,}) have only one class of label (too "
                "few churners or stayers): lower the number of folds"
            )
    spec = fit_spec(train, data.features)
    model = fit_churn_model(train, valid, spec, config, params)
    logistic = fit_logistic(train, spec, config.seed)
    return {"model": model.predict_proba(test), "logistic": predict_logistic(logistic, test, spec)}


def customer_fold_scores(
    data: Dataset,
    config: TrainConfig,
    params: dict[str, Any] | None = None,
    progress: Progress = silent,
) -> list[FoldScores]:
    """Out-of-fold probabilities of a ``config.cv_folds``-fold stratified cross-validation by
    customer of ``data.frame``: every labelled row is scored once, by models that never saw its
    customer.

    Raises:
        ConfigError: fewer than 2 folds.
        DataError: fewer churning (or staying) customers than folds, or a fold's part with one
            class of label.
    """
    frame = data.frame
    labelled = frame[LABEL].notna()
    folds = config.cv_folds
    out = []
    for k, held in enumerate(customer_folds(frame, folds, config.seed), start=1):
        rest = frame[labelled & ~held]
        inner = stratified_split(rest, config.valid_share, 0.0, config.seed).masks(rest)
        test = frame[held]
        parts = {"train": rest[inner["train"]], "valid": rest[inner["valid"]], "test": test}
        where = f"cross-validation fold {k} of {folds}"
        scores = fit_fold(data, parts, config, params, where)
        out.append(FoldScores(k, test.index, test[LABEL].to_numpy(dtype=np.float64), scores))
        progress(k, folds)
    return out


def cross_validate(
    data: Dataset, config: TrainConfig, params: dict[str, Any] | None = None
) -> CrossValidation:
    """``config.cv_folds``-fold stratified cross-validation by customer of ``data.frame``.

    Raises:
        DataError: too few churning or staying customers for the folds, or a fold's train,
            validation or held-out part has only one class of label.
    """
    per_fold: dict[str, list[float]] = {k: [] for k in (*REPORTED, "logistic_roc_auc")}
    for fold in customer_fold_scores(data, config, params):
        figures = m.evaluate(fold.y, fold.scores["model"])
        for metric in REPORTED:
            per_fold[metric].append(float(figures[metric]))
        per_fold["logistic_roc_auc"].append(m.roc_auc(fold.y, fold.scores["logistic"]))
    return CrossValidation(config.cv_folds, per_fold)
