"""``retain train churn``: split, fit, calibrate, evaluate against baselines and truth, log to
MLflow, register as ``retain-churn`` with alias ``challenger``.

The split is by time when the labelled months leave room for it; with one snapshot (or too few
months) it is a stratified split of customers, and a stratified cross-validation by customer gives
the reported AUC; such a run says that no out-of-time validation was possible (``training.split``).

``fit_and_evaluate`` does the modelling in memory (no MLflow); ``log_fitted`` records it;
``train_churn`` is the job the command runs.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from retain.core.columns import LABEL
from retain.core.progress import Progress, silent
from retain.core.settings import Settings
from training.churn.baselines import BankRule, fit_logistic, fit_rule, predict_logistic
from training.churn.card import render_model_card
from training.churn.crossval import CrossValidation, cross_validate
from training.churn.data import Dataset
from training.churn.evaluate import Report, build_report, slice_groups, to_jsonable
from training.churn.model import BoosterTrainer, ChurnModel, fit_churn_model, train_booster
from training.churn.tune import require_optuna, tune
from training.config import MODEL_NAMES, TrainConfig
from training.encode import encode, fit_spec
from training.registry import register_challenger
from training.split import (
    IN_TIME_CAVEAT,
    TrainSplit,
    choose_split,
    labelled_months,
    stratified_split,
    time_split,
)
from training.tracking import experiment_id, log_lineage, requirements, run_info, tracking

EXPERIMENT = "retain-churn"

STAGES: tuple[str, ...] = (
    "split",
    "LightGBM, early stopping on validation, calibration",
    "baselines (logistic on a sample, rule)",
    "evaluation on test (metrics, slices, truth; cross-validation by customer in snapshot mode)",
    "importance and lineage (data fingerprint)",
    "metrics and tables logged",
    "plots and SHAP summary (on a sample)",
    "model card and model logged",
    "registration",
)
"""The job's stages, in order: ``progress(k, len(STAGES))`` is called as stage k ends."""


@dataclass
class Fitted:
    """A trained model and everything measured about it."""

    model: ChurnModel
    split: TrainSplit
    report: Report
    importance: pd.DataFrame
    info: dict[str, Any]
    test_scores: dict[str, np.ndarray] = field(default_factory=dict)
    test_labels: np.ndarray | None = None
    explain_sample: pd.DataFrame | None = None
    cv: CrossValidation | None = None

    @property
    def in_time(self) -> bool:
        """True when no out-of-time validation was possible (snapshot mode)."""
        return self.split.mode == "snapshot"


@dataclass
class Baselines:
    """Both baselines fitted on one split's train window."""

    logistic: Any
    rule: Any

    def scores(self, frame: pd.DataFrame, model: ChurnModel) -> dict[str, np.ndarray]:
        return {
            "logistic": predict_logistic(self.logistic, frame, model.spec),
            "rule": self.rule.predict_proba(frame),
        }


def fit_baselines(train: pd.DataFrame, model: ChurnModel, seed: int) -> Baselines:
    return Baselines(fit_logistic(train, model.spec, seed), fit_rule(train, BankRule()))


def with_split(config: TrainConfig, months: Sequence[pd.Timestamp]) -> TrainConfig:
    """``config`` with its split decided (``time`` or ``snapshot``) from the labelled as-of
    ``months`` alone: run before building the frame, so that a bad request fails early.

    Raises:
        ConfigError / DataError: see ``training.split.choose_split``.
    """
    mode = choose_split(
        months, config.horizon_days, config.valid_months, config.test_months, config.split
    )
    return replace(config, split=mode)


def split_dataset(data: Dataset, config: TrainConfig) -> tuple[TrainSplit, dict[str, pd.Series]]:
    """The split ``config.split`` asks for (``auto``: decided from the frame's labelled months)
    and its row masks."""
    config = with_split(config, labelled_months(data.frame))
    split: TrainSplit
    if config.split == "time":
        split = time_split(data.frame, config.horizon_days, config.valid_months, config.test_months)
    else:
        split = stratified_split(data.frame, config.valid_share, config.test_share, config.seed)
    return split, split.masks(data.frame)


def split_info(split: TrainSplit, config: TrainConfig) -> dict[str, Any]:
    """What a model records about its split; in snapshot mode, enough to rebuild its test split
    (promotion scores on it) and the caveat."""
    if split.mode == "time":
        return {"split": "time"}
    return {
        "split": "snapshot",
        "split_seed": config.seed,
        "valid_share": config.valid_share,
        "test_share": config.test_share,
        "validation": IN_TIME_CAVEAT,
    }


def fit_and_evaluate(
    data: Dataset,
    config: TrainConfig,
    params: dict[str, Any] | None = None,
    progress: Progress = silent,
    trainer: BoosterTrainer = train_booster,
) -> Fitted:
    """Train on the train window, stop early and calibrate on validation, measure on test.

    In snapshot mode the windows are stratified sets of customers, and ``config.cv_folds``-fold
    cross-validation by customer is measured too (on this machine, whatever ``trainer`` is).

    Args:
        trainer: trains the booster (``training.churn.distributed.booster_on_cluster``: on a
            Dask cluster).

    Raises:
        DataError: no labelled months (or, with ``split="time"``, too few), or a window without
            both classes.
    """
    from retain.core.errors import DataError

    split, masks = split_dataset(data, config)
    train, valid, test = (data.frame[masks[k]] for k in ("train", "valid", "test"))
    parts = [("train", train), ("validation", valid)]
    if split.mode == "snapshot":
        parts.append(("test", test))
    for name, part in parts:
        if part[LABEL].nunique() < 2:
            where = "window" if split.mode == "time" else "split of customers"
            raise DataError(
                f"the {name} {where} has only one class of label ({len(part):,} rows): cannot train"
            )
    progress(1, len(STAGES))
    spec = fit_spec(train, data.features)
    model = fit_churn_model(train, valid, spec, config, params, trainer=trainer)
    progress(2, len(STAGES))
    baselines = fit_baselines(train, model, config.seed)
    progress(3, len(STAGES))
    y_test = test[LABEL].to_numpy(dtype=np.float64)
    scores = {"model": model.predict_proba(test), **baselines.scores(test, model)}
    attrs = data.attributes.loc[test.index]
    truth = data.truth_of(test)
    report = build_report(y_test, scores, slice_groups(attrs), model.threshold, truth)
    cv = (
        cross_validate(data, config, params)
        if split.mode == "snapshot" and config.cv_folds
        else None
    )
    progress(4, len(STAGES))
    gain = model.booster.feature_importance(importance_type="gain")
    importance = (
        pd.DataFrame(
            {
                "feature": model.booster.feature_name(),
                "gain": gain,
                "splits": model.booster.feature_importance(importance_type="split"),
            }
        )
        .sort_values(["gain", "feature"], ascending=[False, True])
        .reset_index(drop=True)
    )
    info = {
        **run_info(
            data.feature_service,
            data.features,
            split.windows(),
            config.horizon_days,
            data.frame,
            rows_train=int(len(train)),
            rows_valid=int(len(valid)),
            rows_test=int(len(test)),
            **split_info(split, config),
        ),
        "best_iteration": int(model.booster.best_iteration or model.booster.current_iteration()),
        "calibration": model.calibration["method"],
        "threshold": model.threshold,
    }
    model.info = {k: v for k, v in info.items() if k not in ("threshold", "calibration")}
    sample = test.sample(min(config.shap_sample, len(test)), random_state=config.seed)
    progress(5, len(STAGES))
    return Fitted(
        model=model,
        split=split,
        report=report,
        importance=importance,
        info=info,
        test_scores=scores,
        test_labels=y_test,
        explain_sample=encode(sample, spec),
        cv=cv,
    )


def _log_figures(fitted: Fitted) -> None:
    import mlflow

    from training import plots

    y = fitted.test_labels
    assert y is not None
    scores = dict(fitted.test_scores)
    figures = {
        "roc_pr.png": plots.roc_pr_curves(y, scores),
        "calibration.png": plots.calibration_curve(y, {"model": scores["model"]}),
        "gain_lift.png": plots.gain_lift(y, scores),
    }
    if fitted.explain_sample is not None and len(fitted.explain_sample):
        figures.update(plots.shap_figures(fitted.model.booster, fitted.explain_sample))
    for name, fig in figures.items():
        mlflow.log_figure(fig, f"plots/{name}")
    plots.close(list(figures.values()))


def log_fitted(
    settings: Settings,
    fitted: Fitted,
    config: TrainConfig,
    run_id: str,
    model_name: str = MODEL_NAMES["churn"],
    tuned: dict[str, Any] | None = None,
    progress: Progress = silent,
) -> str:
    """Log a fitted model into the active run and register it with alias ``challenger``.

    Returns:
        The registered version.
    """
    import mlflow
    from mlflow.models import infer_signature

    info = {**fitted.info, "run_id": run_id}
    config = replace(config, split=fitted.split.mode)
    log_lineage(
        config,
        info,
        model_name,
        {**fitted.report.flat_metrics(), **(fitted.cv.metrics() if fitted.cv else {})},
        {
            "train_window": info["train_window"],
            "valid_window": info["valid_window"],
            "test_window": info["test_window"],
            "best_iteration": info["best_iteration"],
            **{f"tuned_{k}": v for k, v in (tuned or {}).items()},
        },
        {
            "split": fitted.split.mode,
            "validation": f"in-time: {IN_TIME_CAVEAT}" if fitted.in_time else "out-of-time",
        },
    )
    mlflow.log_dict(to_jsonable(fitted.report), "evaluation.json")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "feature_importance.csv"
        fitted.importance.to_csv(path, index=False)
        mlflow.log_artifact(str(path))
    progress(6, len(STAGES))
    _log_figures(fitted)
    progress(7, len(STAGES))
    card = render_model_card(
        model_name=model_name,
        report=fitted.report,
        info=info,
        features=fitted.model.spec.features,
        categorical=fitted.model.spec.categorical,
        importance=fitted.importance[["feature", "gain"]],
        cv=fitted.cv,
    )
    mlflow.log_text(card, "model_card.md")
    # The signature holds column names and types only; no input example is logged, since it
    # would store real customers' feature rows in every registered version.
    sample = fitted.explain_sample
    signature = (
        infer_signature(sample.head(5), fitted.model.booster.predict(sample.head(5)))
        if sample is not None
        else None
    )
    logged = mlflow.lightgbm.log_model(
        fitted.model.booster,
        name="model",
        signature=signature,
        metadata=json.loads(json.dumps(fitted.model.metadata(), default=str)),
        # Listed, not inferred: inference loads the model in a subprocess and takes ~10 s.
        pip_requirements=requirements(),
    )
    progress(8, len(STAGES))
    version = register_challenger(
        settings,
        logged.model_uri,
        model_name,
        run_id,
        "Probability of churn within the horizon (calibrated).",
    )
    progress(9, len(STAGES))
    return version


@dataclass
class TrainResult:
    run_id: str
    version: str
    fitted: Fitted


def train_churn(
    settings: Settings,
    config: TrainConfig | None = None,
    *,
    data: Dataset | None = None,
    tune_trials: int = 0,
    progress: Progress = silent,
    trainer: BoosterTrainer = train_booster,
) -> TrainResult:
    """The ``retain train churn`` job: load, fit, evaluate, log, register as challenger.

    Args:
        settings: where the data and the MLflow store are.
        config: training configuration (defaults if None); with ``split="auto"`` the split is
            decided from the labelled as-of months before the frame is built.
        data: a dataset already in memory (default: built through the churn_v1 service).
        tune_trials: optuna trials before the final fit (0 = none); needs optuna.
        progress: called as progress(done, total).
        trainer: trains the booster: here (default) or on a Dask cluster.

    Raises:
        ConfigError: tuning asked for without optuna, or the MLflow store is unusable.
        DataError / NotReadyError: the data is missing, too short or unlabelled.
    """
    import mlflow

    from training.churn.data import labelled_as_of, load_dataset

    config = config or TrainConfig()
    if tune_trials:
        require_optuna()
    if data is None:
        config = with_split(config, labelled_as_of(settings))
        data = load_dataset(settings)
    exp = experiment_id(settings, EXPERIMENT)
    with tracking(settings), mlflow.start_run(experiment_id=exp) as run:
        tuned: dict[str, Any] | None = None
        if tune_trials:
            _, masks = split_dataset(data, config)
            train, valid = data.frame[masks["train"]], data.frame[masks["valid"]]
            tuned = tune(train, valid, data.features, config, tune_trials)
        fitted = fit_and_evaluate(data, config, tuned, progress, trainer)
        version = log_fitted(
            settings, fitted, config, run.info.run_id, tuned=tuned, progress=progress
        )
    return TrainResult(run.info.run_id, version, fitted)
