"""Commands of the `models` group: ``retain train``, ``retain promote``, ``retain rollback``."""

from __future__ import annotations

import math
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from retain.cli.cluster import SchedulerOption, dask_client, scheduler_address
from retain.cli.common import console, load_settings, progress_bar, quiet_mlflow
from retain.core.errors import ConfigError, DataError, NotReadyError
from retain.core.settings import Settings

if TYPE_CHECKING:
    from training.uplift.job import ChurnScorer

out = Console()
"""Results go to stdout; progress and messages to stderr."""

MODELS = ("churn", "propensity", "uplift")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("train")(train)
    app.command("promote")(promote)
    app.command("rollback")(rollback)
    app.command("webhook")(webhook)


def _check_model(model: str, feast: bool = False) -> str:
    """The registered name of ``model``; quiets MLflow (and imports Feast first when used)."""
    from training.config import MODEL_NAMES

    if model not in MODEL_NAMES:
        raise ConfigError(f"unknown model {model!r}: use one of {', '.join(MODEL_NAMES)}")
    quiet_mlflow(feast)
    return MODEL_NAMES[model]


def _fmt(v: float) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"


def train(
    model: Annotated[str, typer.Argument(help="Model to train: churn, propensity or uplift.")],
    tune: Annotated[
        int, typer.Option(help="Optuna trials before the final fit (0 = none; needs optuna).")
    ] = 0,
    seed: Annotated[
        int, typer.Option(help="Seed; the same data and seed give the same model.")
    ] = 7,
    num_threads: Annotated[int, typer.Option(help="LightGBM threads (fixed for determinism).")] = 2,
    valid_months: Annotated[int, typer.Option(help="As-of months in the validation window.")] = 3,
    test_months: Annotated[
        int, typer.Option(help="Latest labelled months in the test window.")
    ] = 2,
    max_rounds: Annotated[int, typer.Option(help="Most boosting rounds (early stopping).")] = 1000,
    calibration: Annotated[str, typer.Option(help="platt or isotonic.")] = "platt",
    shap_sample: Annotated[int, typer.Option(help="Rows explained for the SHAP plots.")] = 1000,
    service: Annotated[
        str,
        typer.Option(
            help="Feature service of the churn model: churn_v1, or churn_bank_v1 (with the "
            "bank's own columns, after an ingest with extras)."
        ),
    ] = "churn_v1",
    split: Annotated[
        str,
        typer.Option(
            help="auto: by time when the labelled months leave room for train, validation and "
            "test windows, else (one snapshot) a stratified split of customers; or time, or "
            "snapshot."
        ),
    ] = "auto",
    cv_folds: Annotated[
        int,
        typer.Option(help="Snapshot split: stratified cross-validation folds (0 = none)."),
    ] = 5,
    shuffle_labels: Annotated[
        bool, typer.Option(hidden=True, help="Train on shuffled labels (tests of the gate).")
    ] = False,
    compare_learners: Annotated[
        bool,
        typer.Option(
            help="Uplift: also measure every learner on the test window beside the kept one."
        ),
    ] = False,
    dask_scheduler: SchedulerOption = None,
) -> None:
    """Train a model, log it to MLflow and register it as the challenger.

    The training frame comes through the feature service (--service, default churn_v1), which
    the model records and serving uses; the run holds metrics, baselines, plots and a model card.
    With too few labelled months for a split by time (a bank's single snapshot), churn trains on
    a stratified split of customers with cross-validation, and says that its figures are in-time.
    Only --seed and --num-threads apply to propensity and uplift. With a Dask scheduler, the churn
    booster is trained on its workers (lightgbm.dask); the rest of the job runs here.
    """
    name = _check_model(model, feast=True)
    if model != "churn" and service != "churn_v1":
        raise ConfigError("--service applies to the churn model only")
    if model != "churn" and dask_scheduler:
        raise ConfigError("--dask-scheduler applies to the churn model only")
    if model != "churn":
        _train_other(model, name, seed, num_threads, compare_learners)
        return
    if calibration not in ("platt", "isotonic"):
        raise ConfigError(f"unknown calibration {calibration!r}: use platt or isotonic")
    if cv_folds == 1 or cv_folds < 0:
        raise ConfigError("--cv-folds must be 0 (none) or at least 2")
    from simulator.truth import ground_truth
    from training.churn.data import labelled_as_of, load_dataset
    from training.churn.job import train_churn, with_split
    from training.churn.model import BoosterTrainer, train_booster
    from training.churn.tune import require_optuna
    from training.config import TrainConfig

    if tune:
        require_optuna()
    settings = load_settings()
    config = TrainConfig(
        seed=seed,
        num_threads=num_threads,
        valid_months=valid_months,
        test_months=test_months,
        num_boost_round=max_rounds,
        calibration=calibration,
        shap_sample=shap_sample,
        shuffle_labels=shuffle_labels,
        split=split,
        cv_folds=cv_folds,
    )
    # Decided from the label table alone, before the (long) frame build.
    months = labelled_as_of(settings)
    config = with_split(config, months)
    address = scheduler_address(dask_scheduler, settings)
    with ExitStack() as stack:
        trainer: BoosterTrainer = train_booster
        if address:  # reached (or refused) before the long frame build
            from training.churn.distributed import booster_on_cluster

            trainer = booster_on_cluster(stack.enter_context(dask_client(address)))
        if config.split == "snapshot":
            console.print(_snapshot_plan(months, config))
        with progress_bar(f"training frame ({service})") as progress:
            data = load_dataset(settings, service, progress, truth=ground_truth(settings))
        where = f" on {address}" if address else ""
        with progress_bar(f"training {name}{where}", 6) as progress:
            result = train_churn(
                settings,
                config,
                data=data,
                tune_trials=tune,
                progress=progress,
                trainer=trainer,
            )
    fitted = result.fitted
    report = fitted.report
    where = "test split" if fitted.in_time else "test window"
    table = Table(
        title=f"{name} version {result.version} (alias challenger), {where} "
        f"{fitted.info['test_window']}"
    )
    scorers = list(report.metrics)
    table.add_column("metric")
    for s in scorers:
        table.add_column(s, justify="right")
    for k in ("roc_auc", "pr_auc", "brier", "log_loss", "ece", "lift_top10", "capture_top10"):
        table.add_row(k, *(_fmt(report.metrics[s][k]) for s in scorers))
    if "corr_pred_truth" in report.truth:
        table.add_row(
            "corr with truth", _fmt(report.truth["corr_pred_truth"]), *[""] * (len(scorers) - 1)
        )
    out.print(table)
    if fitted.cv is not None:
        out.print(
            f"cross-validated ROC AUC ({fitted.cv.folds} stratified folds of customers, "
            f"mean ± sd): {fitted.cv.describe()} (logistic "
            f"{fitted.cv.describe('logistic_roc_auc')})"
        )
    if fitted.in_time:
        from training.split import IN_TIME_CAVEAT

        out.print(f"warning: {IN_TIME_CAVEAT}", markup=False)
    out.print(f"run {result.run_id}; model card: model_card.md in the run's artifacts")


def _snapshot_plan(months: list[Any], config: Any) -> str:
    """The stderr line that says, before the frame is built, how a snapshot is split."""
    when = f"{months[0]:%Y-%m-%d}" if len(months) == 1 else f"{months[0]:%Y-%m}..{months[-1]:%Y-%m}"
    train = 1 - config.valid_share - config.test_share
    cv = f" and {config.cv_folds}-fold cross-validation" if config.cv_folds else ""
    return (
        f"{len(months)} labelled as-of month(s) ({when}): no room for a split by time, so "
        f"customers are split at random, stratified by label ({train:.0%} train, "
        f"{config.valid_share:.0%} validation, {config.test_share:.0%} test){cv}; "
        "no out-of-time validation is possible"
    )


def _train_other(
    model: str, name: str, seed: int, num_threads: int, compare_learners: bool = False
) -> None:
    """``retain train propensity|uplift``: train, then print the run's headline figures."""
    from simulator.truth import ground_truth
    from training.config import HEADLINE_METRICS

    settings = load_settings()
    truth = ground_truth(settings)
    with progress_bar(f"training {name}") as progress:
        if model == "propensity":
            from training.propensity.job import load_propensity_data, train_propensity

            data = load_propensity_data(settings, progress=progress, truth=truth)
            result: Any = train_propensity(settings, seed, num_threads, progress, data=data)
        else:
            from training.uplift.job import (  # built separately; imported when asked for
                UpliftConfig,
                train_uplift,
            )

            result = train_uplift(
                settings,
                seed,
                num_threads,
                progress,
                config=UpliftConfig(compare=compare_learners),
                truth=truth,
                churn_score=_churn_champion(settings),
            )
    headline = HEADLINE_METRICS[model]
    table = Table(title=f"{name} version {result.version} (alias challenger)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    metrics: dict[str, float] = result.metrics
    shown = [headline, *(k for k in sorted(metrics) if k != headline and _headline_like(k))]
    for k in shown:
        if k in metrics:
            table.add_row(k, _fmt(metrics[k]))
    out.print(table)
    out.print(f"run {result.run_id}; all metrics and the model card are in the run")


def _churn_champion(settings: Settings) -> ChurnScorer | None:
    """``retain-churn@champion`` as the churn score the uplift model is compared with, or None
    when no churn model is promoted yet."""
    from training.churn.load import load_model
    from training.config import MODEL_NAMES
    from training.uplift.job import ChurnScorer

    try:
        champion = load_model(settings)
    except (NotReadyError, DataError):
        return None
    return ChurnScorer(f"{MODEL_NAMES['churn']}@champion", champion.model.predict_proba)


def _headline_like(metric: str) -> bool:
    """Summary figures worth a line in the terminal (per-product ones stay in the run)."""
    if any(s in metric for s in ("qini", "auuc", "corr")):  # uplift: the means over actions
        # the gate's comparison only: the others (_vs_) and the selection's (_valid_) are in the run
        return metric.endswith("_mean") and not any(
            s in metric for s in ("_sd_", "_vs_", "_valid_")
        )
    if metric in ("acceptance_test_auc", "acceptance_test_logloss", "contact_churn_ratio"):
        return True  # propensity: what cross-sell offers are valued by
    return any(s in metric for s in ("macro_auc", "hit_rate", "map_at"))


def promote(
    model: Annotated[str, typer.Argument(help="Model to promote: churn, propensity or uplift.")],
    config: Annotated[
        Path | None, typer.Option(help="Gate thresholds file (TOML or JSON, [gate] table).")
    ] = None,
    max_auc_drop: Annotated[
        float | None, typer.Option(help="Most AUC the challenger may lose to the champion.")
    ] = None,
    max_ece: Annotated[
        float | None, typer.Option(help="Highest expected calibration error.")
    ] = None,
    max_slice_auc_drop: Annotated[
        float | None, typer.Option(help="Most AUC any value-tier or age-band slice may lose.")
    ] = None,
    tolerance: Annotated[
        float,
        typer.Option(help="propensity/uplift: most headline metric lost to the champion."),
    ] = 0.01,
) -> None:
    """Make the challenger the champion if it passes the gate (exit status 1 if refused).

    Churn: challenger, champion and both baselines are scored on the latest labelled window.
    Propensity and uplift: the headline metric of each version's run (macro AUC, mean Qini)
    must beat chance and stay within --tolerance of the champion's.
    """
    name = _check_model(model)
    if model != "churn":
        _promote_headline(model, name, tolerance)
        return
    from training.config import GateConfig
    from training.promote import promote as run_promote

    gate = GateConfig.load(
        config, max_auc_drop=max_auc_drop, max_ece=max_ece, max_slice_auc_drop=max_slice_auc_drop
    )
    settings = load_settings()
    from training.promote import check_ready

    check_ready(settings, name)
    with progress_bar(f"scoring {name} challenger and champion", 4) as progress:
        result = run_promote(
            settings,
            gate,
            name=name,
            progress=progress,
        )
    figures = Table(
        title=f"{name}: challenger v{result.challenger} vs champion "
        f"{'v' + result.champion if result.champion else '(none)'}, window {result.window}"
    )
    figures.add_column("scorer")
    for k in ("roc_auc", "pr_auc", "ece", "brier", "lift_top10"):
        figures.add_column(k, justify="right")
    for who, m in result.figures.items():
        figures.add_row(
            who, *(_fmt(m[k]) for k in ("roc_auc", "pr_auc", "ece", "brier", "lift_top10"))
        )
    out.print(figures)
    if result.note:
        out.print(f"note: {result.note}", markup=False)
    _gate_outcome(name, result, "gate")


def _promote_headline(model: str, name: str, tolerance: float) -> None:
    from training.promote import check_ready, promote_headline

    settings = load_settings()
    check_ready(settings, name)
    result = promote_headline(settings, model, tolerance)
    champion = f"v{result.champion}" if result.champion else "(none)"
    _gate_outcome(name, result, f"{name}: challenger v{result.challenger} vs champion {champion}")


def _gate_outcome(name: str, result: Any, title: str) -> None:
    """Print the gate's checks; a refusal is a PromotionRefused (exit status 1)."""
    from training.promote import PromotionRefused

    checks = Table(title=title)
    for col in ("check", "value", "limit", "result"):
        checks.add_column(col)
    for row in result.rows():
        checks.add_row(*row)
    out.print(checks)
    if not result.decision.promote:
        raise PromotionRefused(
            f"challenger v{result.challenger} refused, champion stays "
            f"{'v' + result.champion if result.champion else '(none)'}: {result.decision.reason}"
        )
    console.print(f"{name} v{result.challenger} is now the champion")


def rollback(
    model: Annotated[str, typer.Argument(help="Model to roll back: churn, propensity or uplift.")],
) -> None:
    """Point the champion alias back at the previous champion."""
    name = _check_model(model)
    from training.promote import rollback as run_rollback

    result = run_rollback(load_settings(), name)
    out.print(f"{name}: champion moved from v{result.from_version} back to v{result.to_version}")


def webhook(
    url: Annotated[
        str,
        typer.Option(help="The service's refresh endpoint: http(s)://HOST:PORT/models/refresh."),
    ],
    name: Annotated[
        str, typer.Option(help="The webhook's name (one per service host; replaced if it exists).")
    ] = "retain",
) -> None:
    """Register an MLflow registry webhook so that a promotion or rollback reaches the service
    at once (polling every model_poll_s stays as the fallback). Needs a tracking server
    (mlflow_url) and the secret in RETAIN_WEBHOOK_SECRET, the same for the service."""
    from serving.webhooks import (
        check_secret,
        check_tracking_server,
        register_webhook,
        webhook_secret,
    )

    secret = check_secret(webhook_secret())
    settings = load_settings()
    check_tracking_server(settings)
    quiet_mlflow(False)
    done = register_webhook(settings, url, secret, f"{name}.{settings.project}")
    verb = "replaced" if done.replaced else "added"
    out.print(f"webhook {done.name!r} {verb}: alias changes go to {done.url}", markup=False)
    if done.test_error is not None:
        console.print(
            f"warning: the test delivery failed ({done.test_status}: {done.test_error[:300]}); "
            "check the URL, the secret and the server's MLFLOW_WEBHOOK_* settings",
            markup=False,
        )
        raise typer.Exit(1)
    out.print(f"test delivery answered {done.test_status}", markup=False)
