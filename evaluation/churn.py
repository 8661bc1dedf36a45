"""Cross-validated evaluation of the churn model on the bank's own data (``retain evaluate churn``):
discrimination (ROC and PR AUC), calibration (Brier score, expected calibration error, a
calibration table) and lift (top-decile lift, cumulative gains), beside the logistic baseline.

The frame comes through the feature service, as ``retain train churn`` reads it
(``training.churn.data.load_dataset``), and every fold fits what that command fits: LightGBM with
early stopping and Platt calibration on a validation part, and the logistic regression on the
same train part (``training.churn.crossval.fit_fold``). Two kinds of folds:

- ``time`` (monthly history: by default whenever ``retain train churn`` would split by time; a
  history too short for ``folds`` of them is refused, not evaluated otherwise): the latest
  ``folds`` blocks of ``test_months`` labelled months are tested one after the other; before
  each, the model trains and validates on the months whose labels were all known when the block
  starts, with the horizon gaps of ``retain train churn``'s split
  (``training.split.time_windows``), as if it had been trained then. A churn model scores
  months after those it learned from; folds of customers over a history would train on months
  later than those they test and take in how every month went (a rate war, a fee change), so
  they flatter the model (on Bank Marketing, shuffled folds give 0.80 where the later calls give
  0.76: see ``evaluation.public``).
- ``snapshot`` (one snapshot, too short a history, or asked for): stratified folds of customers
  (``training.split.customer_folds``), each customer's rows in one fold; in-time figures.

Figures per fold (mean ± sd) and over all out-of-fold predictions pooled (calibration table, gains).
``plan_folds`` decides the folds from the label table alone, before the frame is built.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from retain.core.columns import KEY, LABEL
from retain.core.errors import DataError
from retain.core.progress import Progress, silent
from retain.core.settings import Settings
from training import metrics as m
from training.churn.crossval import SCORERS, FoldScores, customer_fold_scores, fit_fold
from training.churn.data import Dataset
from training.config import TrainConfig
from training.split import (
    IN_TIME_CAVEAT,
    Split,
    Window,
    choose_split,
    customer_folds,
    labelled_months,
    time_windows,
)

EXPERIMENT = "retain-churn-evaluation"
REPORT = "churn_evaluation"
"""Stem of the report's files: ``churn_evaluation.json``, ``.md`` and ``_<plot>.png``."""

FOLD_METRICS: tuple[str, ...] = (
    "roc_auc",
    "pr_auc",
    "brier",
    "ece",
    "lift_top10",
    "capture_top10",
)
"""Measured on each fold and given as mean ± sd over the folds."""

METRIC_NAMES: dict[str, str] = {
    "roc_auc": "ROC AUC",
    "pr_auc": "PR AUC (average precision)",
    "brier": "Brier score",
    "ece": "expected calibration error",
    "lift_top10": "lift in the top 10%",
    "capture_top10": "share of churners in the top 10%",
}
SCORER_NAMES: dict[str, str] = {"model": "retain (LightGBM)", "logistic": "logistic regression"}
OUT_OF_TIME = "out-of-time: each fold is tested on months later than every label it learned from"


@dataclass(frozen=True)
class FoldPlan:
    """The folds of an evaluation, decided from the labels alone.

    Attributes:
        mode: ``time`` (blocks of later months) or ``snapshot`` (stratified folds of customers).
        folds: how many.
        months: the labelled as-of times.
        splits: in ``time`` mode, each fold's train, validation and test windows, earliest first.
        reason: why this mode, when ``auto`` chose it.
    """

    mode: str
    folds: int
    months: tuple[pd.Timestamp, ...]
    splits: tuple[Split, ...] = ()
    reason: str = ""

    def describe(self) -> str:
        """The folds in words, for the terminal and the report."""
        if self.mode == "time":
            first, last = self.splits[0].test, self.splits[-1].test
            size = len(first.months)
            return (
                f"{self.folds} time folds: test blocks of {size} month(s) from "
                f"{first.start:%Y-%m} to {last.end:%Y-%m}, each after training on the earlier "
                "months whose labels were known by then"
            )
        return f"{self.folds} stratified folds of customers (each customer's rows in one fold)"


def time_folds(
    months: list[pd.Timestamp],
    horizon_days: int,
    valid_months: int,
    test_months: int,
    folds: int,
) -> list[Split]:
    """Rolling-origin folds over the labelled as-of ``months`` (sorted): the latest ``folds``
    blocks of ``test_months`` months, each with the train and validation windows of a time split
    made when the block starts. Earliest fold first.

    Raises:
        ConfigError: window sizes below 1.
        DataError: too few months for the earliest fold.
    """
    too_few = DataError(
        f"only {len(months)} labelled as-of months: {folds} time folds of {test_months} test "
        f"month(s) need room for train, {valid_months} validation and the test months, with "
        f"{horizon_days}-day gaps, before the earliest block; lower --folds or --test-months, "
        "or use --split snapshot (folds of customers, in-time)"
    )
    splits = []
    for back in range(folds - 1, -1, -1):
        upto = len(months) - back * test_months
        if upto < test_months:
            raise too_few
        try:
            splits.append(time_windows(months[:upto], horizon_days, valid_months, test_months))
        except DataError:
            raise too_few from None
    return splits


def plan_folds(labels: pd.DataFrame, config: TrainConfig) -> FoldPlan:
    """The folds ``config`` asks for (``split``: auto, time or snapshot, decided as
    ``retain train churn`` decides its split; ``cv_folds`` folds), checked against the label
    table (``customer_id``, ``event_timestamp``, ``label``): enough months for time folds, both
    classes in every part of them, enough churning and staying customers for folds of
    customers. Cheap: run it before the frame is built.

    Raises:
        ConfigError: an unknown split, fewer than 2 folds, or window sizes below 1.
        DataError: no labels, or too few months, churners or stayers for the folds.
    """
    from retain.core.errors import ConfigError

    folds = config.cv_folds
    if folds < 2:
        raise ConfigError(f"--folds must be at least 2, got {folds}")
    months = labelled_months(labels)
    # As ``retain train churn`` decides: by time when one time split fits, else by customer.
    mode = choose_split(
        months, config.horizon_days, config.valid_months, config.test_months, config.split
    )
    reason = (
        f"{len(months)} labelled as-of month(s): no room for a split by time"
        if config.split == "auto" and mode == "snapshot"
        else ""
    )
    splits: list[Split] = []
    if mode == "time":
        splits = time_folds(
            months, config.horizon_days, config.valid_months, config.test_months, folds
        )
        for k, split in enumerate(splits, start=1):
            for name, mask in split.masks(labels).items():
                if labels.loc[mask, LABEL].nunique() < 2:
                    raise DataError(
                        f"time fold {k} of {folds} (test {split.test.describe()}): its {name} "
                        "rows have only one class of label; lower --folds or use --split snapshot"
                    )
    else:
        customer_folds(labels, folds, config.seed)  # enough churners and stayers
    return FoldPlan(mode, folds, tuple(months), tuple(splits), reason)


def fold_scores(
    data: Dataset,
    plan: FoldPlan,
    config: TrainConfig,
    progress: Progress = silent,
) -> list[FoldScores]:
    """Out-of-fold probabilities of the model and the logistic baseline for every fold of
    ``plan``.

    Raises:
        DataError: a fold's train, validation or test part has only one class of label.
    """
    if plan.mode == "snapshot":
        return customer_fold_scores(data, config, progress=progress)
    frame, out = data.frame, []
    for k, split in enumerate(plan.splits, start=1):
        masks = split.masks(frame)
        parts = {name: frame[mask] for name, mask in masks.items()}
        where = f"time fold {k} of {plan.folds} (test {split.test.describe()})"
        scores = fit_fold(data, parts, config, where=where)
        test = parts["test"]
        out.append(FoldScores(k, test.index, test[LABEL].to_numpy(dtype=np.float64), scores))
        progress(k, plan.folds)
    return out


def calibration_table(y: NDArray[np.float64], p: NDArray[np.float64], bins: int = 10) -> list[dict]:
    """Observed churn rate against the mean predicted probability in ``bins`` bins of equal size
    by predicted probability (the bins of ``training.plots.calibration_curve``)."""
    frame = pd.DataFrame({"y": y, "p": p})
    bins = max(1, min(bins, len(frame)))
    frame["bin"] = pd.qcut(frame["p"].rank(method="first"), bins, labels=False)
    g = frame.groupby("bin").agg(
        rows=("y", "size"), mean_predicted=("p", "mean"), observed=("y", "mean")
    )
    return [
        {
            "bin": int(b) + 1,
            "rows": int(r.rows),
            "mean_predicted": float(r.mean_predicted),
            "observed": float(r.observed),
        }
        for b, r in g.iterrows()
    ]


def gains_table(y: NDArray[np.float64], p: NDArray[np.float64], points: int = 10) -> list[dict]:
    """Cumulative gains: for the top 10%, 20%, ... of rows by score, the share of all churners
    they hold (``captured``) and their churn rate over the overall rate (``lift``)."""
    out = []
    for i in range(1, points + 1):
        lift, captured = m.top_k(y, p, i / points)
        out.append({"share": i / points, "captured": captured, "lift": lift})
    return out


def pooled(folds: list[FoldScores]) -> tuple[NDArray[np.float64], dict[str, NDArray[np.float64]]]:
    """Labels and each scorer's out-of-fold probabilities, all folds together."""
    y = np.concatenate([f.y for f in folds])
    return y, {s: np.concatenate([f.scores[s] for f in folds]) for s in SCORERS}


@dataclass
class ChurnEvaluation:
    """What ``evaluate_churn`` measured; ``to_dict`` is what ``churn_evaluation.json`` holds.

    Attributes:
        mode, folds_text, validation: the folds and what kind of validation they give.
        per_fold: one record per fold: ``fold``, ``held_out``, ``rows``, ``churn_rate`` and
            ``<scorer>_<metric>`` for ``FOLD_METRICS``.
        summary: scorer -> metric -> ``{"mean", "sd"}`` over the folds.
        pooled: scorer -> ``training.metrics.evaluate`` of all out-of-fold predictions.
        calibration, gains: scorer -> ``calibration_table`` / ``gains_table`` of them.
    """

    feature_service: str
    mode: str
    folds_text: str
    validation: str
    rows: int
    customers: int
    churn_rate: float
    as_of: str
    per_fold: list[dict[str, Any]]
    summary: dict[str, dict[str, dict[str, float]]]
    pooled: dict[str, dict[str, float]]
    calibration: dict[str, list[dict]]
    gains: dict[str, list[dict]]
    params: dict[str, Any] = field(default_factory=dict)
    seconds: float = math.nan

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def metrics(self) -> dict[str, float]:
        """Flat figures for MLflow: ``cv_<scorer>_<metric>_mean``/``_sd`` and
        ``pooled_<scorer>_<metric>``."""
        out: dict[str, float] = {}
        for scorer, spread in self.summary.items():
            for metric, v in spread.items():
                out[f"cv_{scorer}_{metric}_mean"] = v["mean"]
                out[f"cv_{scorer}_{metric}_sd"] = v["sd"]
        for scorer, figures in self.pooled.items():
            for metric, x in figures.items():
                out[f"pooled_{scorer}_{metric}"] = x
        return {k: float(v) for k, v in out.items() if v == v}

    def markdown(self) -> str:
        """The report in markdown: headline table, folds, calibration and gains."""
        lines = [
            "# Churn model on the bank's own data: cross-validated evaluation",
            "",
            f"Feature service `{self.feature_service}`; {self.rows:,} rows of "
            f"{self.customers:,} customers, as-of {self.as_of}; {self.churn_rate:.1%} churn "
            f"within the horizon. Folds: {self.folds_text}. Validation: {self.validation}.",
            "",
            "| mean ± sd over the folds | " + " | ".join(SCORER_NAMES[s] for s in SCORERS) + " |",
            "|---|" + "---|" * len(SCORERS),
        ]
        for metric in FOLD_METRICS:
            cells = [_pm(self.summary[s][metric]) for s in SCORERS]
            lines.append(f"| {METRIC_NAMES[metric]} | " + " | ".join(cells) + " |")
        lines += [
            "",
            f"All {sum(f['rows'] for f in self.per_fold):,} out-of-fold predictions pooled: "
            + "; ".join(
                f"{SCORER_NAMES[s]} ROC AUC {self.pooled[s]['roc_auc']:.3f}, Brier "
                f"{self.pooled[s]['brier']:.4f}, ECE {self.pooled[s]['ece']:.4f}"
                for s in SCORERS
            )
            + ".",
            "",
            "## Folds",
            "",
            "| fold | held out | rows | churn rate | ROC AUC retain | ROC AUC logistic |",
            "|---|---|---|---|---|---|",
        ]
        for f in self.per_fold:
            lines.append(
                f"| {f['fold']} | {f['held_out']} | {f['rows']:,} | {f['churn_rate']:.2%} | "
                f"{f['model_roc_auc']:.3f} | {f['logistic_roc_auc']:.3f} |"
            )
        lines += [
            "",
            "## Calibration (pooled; bins of equal size by predicted probability)",
            "",
            "| bin | rows | retain: predicted | observed | logistic: predicted | observed |",
            "|---|---|---|---|---|---|",
        ]
        for a, b in zip(self.calibration["model"], self.calibration["logistic"], strict=True):
            lines.append(
                f"| {a['bin']} | {a['rows']:,} | {a['mean_predicted']:.4f} | {a['observed']:.4f} "
                f"| {b['mean_predicted']:.4f} | {b['observed']:.4f} |"
            )
        lines += [
            "",
            "## Cumulative gains (pooled; highest score first)",
            "",
            "| top share of rows | retain: churners captured | lift | logistic: captured | lift |",
            "|---|---|---|---|---|",
        ]
        for a, b in zip(self.gains["model"], self.gains["logistic"], strict=True):
            lines.append(
                f"| {a['share']:.0%} | {a['captured']:.1%} | {a['lift']:.2f} | "
                f"{b['captured']:.1%} | {b['lift']:.2f} |"
            )
        return "\n".join(lines) + "\n"


def _pm(v: dict[str, float]) -> str:
    sd = "" if math.isnan(v["sd"]) else f" ± {v['sd']:.3f}"
    return f"{v['mean']:.3f}{sd}"


def _held_out(plan: FoldPlan, fold: FoldScores, frame: pd.DataFrame) -> str:
    if plan.mode == "time":
        return plan.splits[fold.fold - 1].test.describe()
    customers = frame.loc[fold.rows, KEY].nunique()
    return f"{customers:,} customers"


def summarise(
    folds: list[FoldScores],
    plan: FoldPlan,
    frame: pd.DataFrame,
    feature_service: str,
    bins: int = 10,
) -> ChurnEvaluation:
    """The evaluation of out-of-fold probabilities ``folds`` of ``frame``'s rows. Pure."""
    per_fold = []
    for f in folds:
        record: dict[str, Any] = {
            "fold": f.fold,
            "held_out": _held_out(plan, f, frame),
            "rows": len(f.y),
            "churn_rate": float(f.y.mean()),
        }
        for scorer in SCORERS:
            figures = m.evaluate(f.y, f.scores[scorer])
            record.update({f"{scorer}_{k}": float(figures[k]) for k in FOLD_METRICS})
        per_fold.append(record)
    summary = {
        s: {
            k: {
                "mean": float(np.nanmean(v)) if not np.isnan(v).all() else math.nan,
                "sd": float(np.nanstd(v, ddof=1)) if np.isfinite(v).sum() > 1 else math.nan,
            }
            for k in FOLD_METRICS
            for v in [np.array([r[f"{s}_{k}"] for r in per_fold], dtype=np.float64)]
        }
        for s in SCORERS
    }
    y, scores = pooled(folds)
    labelled = frame[frame[LABEL].notna()]
    months = labelled_months(frame)
    as_of = f"{months[0]:%Y-%m-%d}" if len(months) == 1 else Window(tuple(months)).describe()
    return ChurnEvaluation(
        feature_service=feature_service,
        mode=plan.mode,
        folds_text=plan.describe(),
        validation=OUT_OF_TIME if plan.mode == "time" else f"in-time: {IN_TIME_CAVEAT}",
        rows=len(labelled),
        customers=int(labelled[KEY].nunique()),
        churn_rate=float(labelled[LABEL].mean()),
        as_of=as_of,
        per_fold=per_fold,
        summary=summary,
        pooled={s: m.evaluate(y, p) for s, p in scores.items()},
        calibration={s: calibration_table(y, p, bins) for s, p in scores.items()},
        gains={s: gains_table(y, p) for s, p in scores.items()},
    )


def evaluate_churn(
    data: Dataset, plan: FoldPlan, config: TrainConfig, progress: Progress = silent
) -> tuple[ChurnEvaluation, list[FoldScores]]:
    """Fit and score every fold of ``plan`` on ``data``; the evaluation and the raw fold scores
    (for the plots).

    Raises:
        DataError: a fold's part has only one class of label.
    """
    start = time.perf_counter()
    folds = fold_scores(data, plan, config, progress)
    evaluation = summarise(folds, plan, data.frame, data.feature_service)
    evaluation.params = {
        "feature_service": data.feature_service,
        "split": plan.mode,
        "folds": plan.folds,
        "seed": config.seed,
        "num_threads": config.num_threads,
        "horizon_days": config.horizon_days,
        "valid_months": config.valid_months,
        "test_months": config.test_months,
        "valid_share": config.valid_share,
    }
    evaluation.seconds = round(time.perf_counter() - start, 1)
    return evaluation, folds


def _write(path: Path, write: Any) -> None:
    """Write through a temporary file in the same folder, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    tmp.replace(path)


def write_report(evaluation: ChurnEvaluation, folds: list[FoldScores], folder: Path) -> list[Path]:
    """``churn_evaluation.json`` and ``.md``, and the ROC/PR, calibration and gain/lift plots of
    the pooled out-of-fold predictions, in ``folder``.

    Raises:
        ConfigError: ``folder`` cannot be made or written.
    """
    from retain.core.errors import ConfigError
    from training import plots

    y, scores = pooled(folds)
    named = {SCORER_NAMES[s]: p for s, p in scores.items()}
    figures = {
        "roc_pr": plots.roc_pr_curves(y, named),
        "calibration": plots.calibration_curve(y, named),
        "gain_lift": plots.gain_lift(y, named),
    }
    paths = [folder / f"{REPORT}.json", folder / f"{REPORT}.md"]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps(evaluation.to_dict(), indent=2, default=float) + "\n"
        _write(paths[0], lambda p: p.write_text(text))
        _write(paths[1], lambda p: p.write_text(evaluation.markdown()))
        for name, fig in figures.items():
            path = folder / f"{REPORT}_{name}.png"
            _write(path, lambda p, fig=fig: fig.savefig(p, dpi=110, format="png"))
            paths.append(path)
    except OSError as e:
        raise ConfigError(f"cannot write the report to {folder}: {e.strerror or e}") from e
    finally:
        plots.close(list(figures.values()))
    return paths


def log_evaluation(settings: Settings, evaluation: ChurnEvaluation, paths: list[Path]) -> str:
    """Log the figures and the report's files as one MLflow run of ``retain-churn-evaluation``;
    returns the run id.

    Raises:
        ConfigError: the tracking store cannot be reached.
    """
    import mlflow

    from training.tracking import code_version, experiment_id, tracking

    with (
        tracking(settings),
        mlflow.start_run(experiment_id=experiment_id(settings, EXPERIMENT)) as run,
    ):
        mlflow.log_params(evaluation.params)
        mlflow.set_tags({"split": evaluation.mode, "code_version": code_version()})
        mlflow.set_tag("validation", evaluation.validation)
        mlflow.log_metrics(evaluation.metrics())
        for path in paths:
            mlflow.log_artifact(str(path))
        return str(run.info.run_id)
