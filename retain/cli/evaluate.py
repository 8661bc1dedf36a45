"""``retain evaluate ...``: evaluations beyond a single model's own test window.

``retain evaluate public`` checks retain's modelling on public real data sets against published
results. Other evaluations join the group as further commands of ``evaluate_app``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from retain.cli.common import console, load_settings, progress_bar, quiet_mlflow

if TYPE_CHECKING:
    from retain.core.settings import Settings
    from retain.core.truth import GroundTruth

out = Console()
"""Results go to stdout; progress and messages to stderr."""

evaluate_app = typer.Typer(
    help="Evaluations: the churn model on the bank's own data, next-best-action policies, public "
    "real data sets against published results.",
    no_args_is_help=True,
)

PUBLIC_DATA_ENV = "RETAIN_PUBLIC_DATA"


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.add_typer(evaluate_app, name="evaluate")


def default_public_data() -> Path:
    """``$RETAIN_PUBLIC_DATA``, else ``../shared/data/real`` from the working directory or, when
    that is missing, from the checkout retain runs from."""
    env = os.environ.get(PUBLIC_DATA_ENV)
    if env:
        return Path(env)
    relative = Path("..") / "shared" / "data" / "real"
    checkout = Path(__file__).resolve().parents[2] / relative
    return relative if relative.is_dir() or not checkout.is_dir() else checkout


def _f(v: float, digits: int = 3) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


@evaluate_app.command("public")
def public(
    data: Annotated[
        Path | None,
        typer.Option(
            help="Folder with Churn_Modelling.csv, bank-additional-full.csv and hillstrom.csv "
            f"(default: ${PUBLIC_DATA_ENV}, else ../shared/data/real)."
        ),
    ] = None,
    only: Annotated[
        list[str] | None,
        typer.Option(
            help="Data set to evaluate (repeatable): churn_modelling, bank_marketing, hillstrom; "
            "default: all three."
        ),
    ] = None,
    mlflow: Annotated[
        bool, typer.Option(help="Log the figures to MLflow (experiment retain-public).")
    ] = True,
) -> None:
    """Churn, offer propensity and uplift on public real data, beside the published figures."""
    from evaluation.public import (
        FILES,
        PUBLISHED_SHORT,
        evaluate_public,
        log_public,
        markdown,
        public_mapping,
        window_text,
    )
    from retain.core.errors import ConfigError
    from retain.core.settings import check_home

    settings = load_settings()
    folder = (data or default_public_data()).expanduser()
    if not folder.is_dir():
        raise ConfigError(
            f"public data folder {folder} not found: pass --data DIR or set {PUBLIC_DATA_ENV}"
        )
    names = tuple(dict.fromkeys(only or FILES))
    unknown = [n for n in names if n not in FILES]
    if unknown:
        raise ConfigError(f"unknown data set {unknown[0]!r}: use one of {', '.join(FILES)}")
    for name in names:
        public_mapping(name, folder)  # a missing file is one line, before any progress bar
    check_home(settings)
    with progress_bar("evaluating on public data (models)") as progress:
        report = evaluate_public(folder, progress=progress, names=names)

    table = Table(title="retain on public real data")
    for column in ("data set", "task", "retain", "published"):
        table.add_column(column, overflow="fold")
    if report.churn:
        c = report.churn
        table.add_row(
            FILES["churn_modelling"],
            f"churn ROC AUC, {len(c['fold_auc'])}-fold CV, feature service "
            f"{c['feature_service']} (churn_v1 alone)",
            f"{_f(c['roc_auc'])} ± {_f(c['roc_auc_std'])} ({_f(c['churn_v1_roc_auc'])})",
            PUBLISHED_SHORT["churn_modelling"],
        )
    if report.bank_marketing:
        b = report.bank_marketing
        r = b["rolling"]
        table.add_row(
            FILES["bank_marketing"],
            f"offer ROC AUC, no duration, later {b['test_rows']:,} calls: rolling window "
            f"({len(r['blocks'])} blocks, {window_text(r['window'])}); every earlier call; "
            "no retraining; shuffled CV",
            f"{_f(r['roc_auc'])}; {_f(b['expanding']['roc_auc'])}; "
            f"{_f(b['static']['roc_auc'])}; {_f(b['cv_roc_auc'])}",
            PUBLISHED_SHORT["bank_marketing"],
        )
    for r in report.hillstrom:
        table.add_row(
            FILES["hillstrom"],
            f"uplift {r['treatment']} on {r['outcome']}: Qini / AUUC (random)",
            f"{_f(r['qini'])} (random 0 ± {_f(r['qini_random_sd'])}) / "
            f"{_f(r['auuc'], 4)} ({_f(r['auuc_random'], 4)})",
            PUBLISHED_SHORT["hillstrom"] if r is report.hillstrom[0] else "",
        )
    out.print(table)

    reports = settings.reports_dir
    reports.mkdir(parents=True, exist_ok=True)
    for name, text in (
        ("public.json", json.dumps(report.to_dict(), indent=2, default=float) + "\n"),
        ("public.md", markdown(report)),
    ):
        tmp = reports / f".{name}.tmp"
        tmp.write_text(text)
        tmp.replace(reports / name)
    console.print(f"wrote {reports / 'public.json'} and {reports / 'public.md'}")
    if mlflow:
        quiet_mlflow()
        run_id = log_public(settings, report)
        console.print(f"logged to MLflow experiment retain-public, run {run_id}")


@evaluate_app.command("churn")
def churn(
    service: Annotated[
        str,
        typer.Option(
            help="Feature service the frame comes through: churn_v1, or churn_bank_v1 (with the "
            "bank's own columns, after an ingest with extras)."
        ),
    ] = "churn_v1",
    folds: Annotated[int, typer.Option(help="Folds of the cross-validation (at least 2).")] = 5,
    split: Annotated[
        str,
        typer.Option(
            help="auto: time folds (later blocks of months) when the labelled months leave room "
            "for a split by time, as for train churn, else stratified folds of customers; or "
            "time, or snapshot (folds of customers, also on a monthly history)."
        ),
    ] = "auto",
    test_months: Annotated[
        int, typer.Option(help="Time folds: labelled months in each fold's test block.")
    ] = 2,
    seed: Annotated[int, typer.Option(help="Seed of the folds and the models.")] = 7,
    num_threads: Annotated[int, typer.Option(help="LightGBM threads (fixed for determinism).")] = 2,
    output: Annotated[
        Path | None,
        typer.Option(help="Folder for the report's files (default: reports/ in the home folder)."),
    ] = None,
    mlflow: Annotated[
        bool, typer.Option(help="Log the figures and files to MLflow (retain-churn-evaluation).")
    ] = True,
) -> None:
    """Cross-validated ROC AUC, calibration and lift of the churn model on the data in the home
    folder (the bank's own, or a simulated bank), beside a logistic regression: the model
    retain train churn would fit, refitted in every fold."""
    from evaluation.churn import (
        FOLD_METRICS,
        METRIC_NAMES,
        SCORER_NAMES,
        evaluate_churn,
        plan_folds,
        write_report,
    )
    from features.frames import feature_names, label_table
    from retain.core.errors import ConfigError
    from training.churn.data import load_dataset
    from training.config import TrainConfig

    if test_months < 1:
        raise ConfigError(f"--test-months must be at least 1, got {test_months}")
    quiet_mlflow(feast=True)
    settings = load_settings()
    config = TrainConfig(
        seed=seed, num_threads=num_threads, test_months=test_months, split=split, cv_folds=folds
    )
    # Decided and checked from the label table and the registry alone, before the frame build.
    plan = plan_folds(label_table(settings), config)
    feature_names(settings, service)
    if plan.reason:
        console.print(f"{plan.reason}: folds of customers instead", markup=False)
    console.print(
        f"{plan.describe()}; validation {'out-of-time' if plan.mode == 'time' else 'in-time'}"
    )
    with progress_bar(f"training frame ({service})") as progress:
        data = load_dataset(settings, service, progress)
    with progress_bar("cross-validating (folds)", plan.folds) as progress:
        evaluation, scored = evaluate_churn(data, plan, config, progress)

    table = Table(
        title=f"churn on {evaluation.rows:,} rows of {evaluation.customers:,} customers "
        f"({evaluation.churn_rate:.1%} churn), {plan.folds} "
        f"{'time folds' if plan.mode == 'time' else 'folds of customers'}, mean ± sd"
    )
    table.add_column("metric")
    for name in SCORER_NAMES.values():
        table.add_column(name, justify="right")
    for key in FOLD_METRICS:
        table.add_row(
            METRIC_NAMES[key],
            *(
                f"{_f(v['mean'])} ± {_f(v['sd'])}"
                for v in (evaluation.summary[s][key] for s in SCORER_NAMES)
            ),
        )
    out.print(table)
    out.print(f"validation: {evaluation.validation}", markup=False)
    paths = write_report(evaluation, scored, (output or settings.reports_dir).expanduser())
    console.print(f"wrote {', '.join(str(p) for p in paths)}")
    if mlflow:
        from evaluation.churn import EXPERIMENT, log_evaluation

        run_id = log_evaluation(settings, evaluation, paths)
        console.print(f"logged to MLflow experiment {EXPERIMENT}, run {run_id}")


@evaluate_app.command("nba")
def nba(
    customers: Annotated[
        int, typer.Option(help="Customers with the bank at the evaluation month to sample.")
    ] = 5000,
    seed: Annotated[int, typer.Option(help="Seed of the sample and the random policy.")] = 7,
    mlflow: Annotated[
        bool, typer.Option(help="Log the table and plot to MLflow (retain-nba-evaluation).")
    ] = True,
    ceiling_customers: Annotated[
        int | None,
        typer.Option(
            help="Customers per month end (six month ends) whose true values train the "
            "observable ceiling [default: --customers]."
        ),
    ] = None,
) -> None:
    """retain's next-best-action policy against random, most-popular, propensity-only and
    churn-only policies and the oracle (the same rules, choosing by the true effects): ground
    truth of the simulated bank, each as a share of the oracle's, and off-policy estimates (IPS,
    DR) from its randomised campaign log; and what each campaign audience's offer changed,
    measured from its holdout, beside the truth."""
    from evaluation.nba import evaluate_nba, log_evaluation, write_report
    from retain.core.errors import ConfigError
    from simulator.truth import ground_truth

    if customers < 1:
        raise ConfigError(f"--customers must be a positive number, got {customers}")
    if ceiling_customers is not None and ceiling_customers < 1:
        raise ConfigError(f"--ceiling-customers must be a positive number, got {ceiling_customers}")
    quiet_mlflow(feast=True)
    settings = load_settings()
    with progress_bar("evaluating next-best-action policies") as progress:
        evaluation = evaluate_nba(
            settings,
            customers,
            seed,
            progress,
            truth=ground_truth(settings),
            ceiling_customers=ceiling_customers,
        )
    table = Table(
        title=f"next best action, {evaluation.customers:,} customers at "
        f"{evaluation.month_end:%Y-%m-%d}; {evaluation.logged_contacts:,} randomised contacts "
        "and holdouts in the log (value per customer vs doing nothing); observable ceiling "
        f"fitted on {evaluation.ceiling_rows:,} earlier customer-months"
    )
    columns = ("policy", "truth", "of oracle's", "acts on", "IPS (log)", "DR (log)")
    for column in columns:
        table.add_column(column, justify="left" if column == "policy" else "right")
    for policy, row in evaluation.table.iterrows():
        table.add_row(
            str(policy),
            f"{row['truth']:.2f}",
            "-" if math.isnan(row["oracle_share"]) else f"{row['oracle_share']:.0%}",
            f"{row['acting']:.0%}",
            f"{row['ips']:.2f} ± {row['ips_se']:.2f}",
            f"{row['dr']:.2f} ± {row['dr_se']:.2f}",
        )
    out.print(table)
    arms = Table(
        title="what each campaign audience's offer changed: churn within the horizon, contacted "
        "minus held out"
    )
    for column in ("part", "offer", "contacted", "held out", "measured", "true"):
        arms.add_column(column, justify="left" if column in ("part", "offer") else "right")
    for (part, action), row in evaluation.arms.iterrows():
        arms.add_row(
            str(part),
            str(action),
            f"{int(row['contacted']):,}",
            f"{int(row['held_out']):,}",
            f"{row['effect']:+.4f} ± {row['se']:.4f}",
            f"{row['true_effect']:+.4f}",
        )
    out.print(arms)
    paths = write_report(evaluation, settings.reports_dir)
    console.print(f"wrote {', '.join(str(p) for p in paths)}")
    if mlflow:
        run_id = log_evaluation(settings, evaluation, paths)
        console.print(f"logged to MLflow experiment retain-nba-evaluation, run {run_id}")


def _simulated_truth(settings: Settings) -> GroundTruth:
    """The simulated bank's ground truth, which the ceilings are measured on.

    Raises:
        NotReadyError: the home holds no simulated bank.
    """
    from retain.core.errors import NotReadyError
    from simulator.truth import ground_truth

    truth = ground_truth(settings)
    if truth is None:
        raise NotReadyError(
            f"no simulated ground truth under {settings.data_dir}: the ceiling is measured on a "
            "simulated bank's truth; run `retain simulate` and `retain features` first"
        )
    return truth


@evaluate_app.command("uplift-ceiling")
def uplift_ceiling(
    test_months: Annotated[
        int, typer.Option(help="Latest months of labelled rows in the test window.")
    ] = 6,
    max_controls: Annotated[
        int, typer.Option(help="No-contact customer-months kept at most (a seeded sample).")
    ] = 300_000,
    seed: Annotated[int, typer.Option(help="Seed of the control sample and the models.")] = 7,
    num_threads: Annotated[int, typer.Option(help="LightGBM threads.")] = 2,
) -> None:
    """The observable ceiling of uplift on a simulated bank: a model fitted to the true offer
    effects (not to churn outcomes) from the served features, on the uplift model's rows and time
    split; its correlation with the true effects on the test window bounds what an uplift model
    can reach with these features and this much data."""
    from evaluation.ceiling import observable_ceiling
    from retain.core.churn import ChurnDefinition
    from retain.core.errors import ConfigError
    from retain.core.tables import RETENTION_ACTIONS
    from training.uplift.data import load_frame, time_split

    if test_months < 1 or max_controls < 1:
        raise ConfigError("--test-months and --max-controls must be positive numbers")
    quiet_mlflow(feast=True)
    settings = load_settings()
    truth = _simulated_truth(settings)
    definition = ChurnDefinition()
    with progress_bar("building the uplift rows") as progress:
        frame, features = load_frame(
            settings,
            definition=definition,
            seed=seed,
            max_controls=max_controls,
            progress=progress,
        )
    masks = time_split(frame, definition.horizon_days, test_months).masks(frame)
    figures = observable_ceiling(
        frame, features, truth, masks["train"], masks["test"], seed=seed, num_threads=num_threads
    )
    table = Table(
        title=f"observable ceiling of uplift: {int(figures['train_rows']):,} train rows, "
        f"{int(figures['test_rows']):,} test rows"
    )
    for column in ("offer", "correlation with the true effects", "variance explained"):
        table.add_column(column, justify="left" if column == "offer" else "right")
    for action in (*RETENTION_ACTIONS, "mean"):
        corr, r2 = figures[f"ceiling_corr_{action}"], figures[f"ceiling_r2_{action}"]
        table.add_row(action, f"{corr:.3f}", f"{r2:.3f}")
    out.print(table)
    path = settings.reports_dir / "uplift_ceiling.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2))
    console.print(f"wrote {path}")


@evaluate_app.command("churn-ceiling")
def churn_ceiling(
    seed: Annotated[int, typer.Option(help="Seed of the models (as `retain train churn`).")] = 7,
    num_threads: Annotated[int, typer.Option(help="LightGBM threads.")] = 2,
) -> None:
    """The churn model's distance to what is knowable, on a simulated bank: retain's churn model
    (trained as `retain train churn`, not registered), a booster fitted to the true P(churn) from
    the same features and windows (the observable ceiling) and the truth itself, by test AUC on
    the same rows."""
    from evaluation.ceiling import churn_ceiling as measure
    from training.churn.data import labelled_as_of, load_dataset
    from training.churn.job import with_split
    from training.config import TrainConfig

    quiet_mlflow(feast=True)
    settings = load_settings()
    truth = _simulated_truth(settings)
    config = with_split(TrainConfig(seed=seed, num_threads=num_threads), labelled_as_of(settings))
    with progress_bar("training frame (churn_v1)") as progress:
        data = load_dataset(settings, "churn_v1", progress, truth=truth)
    with progress_bar("churn model and observable ceiling", 2) as progress:
        figures = measure(data, config, progress)
    table = Table(
        title=f"churn AUC on the test window: {int(figures['customers']):,} customers, "
        f"{int(figures['train_rows']):,} train rows, {int(figures['test_rows']):,} test rows"
    )
    table.add_column("scorer")
    table.add_column("test AUC", justify="right")
    for label, key in (
        ("retain's churn model", "model_auc"),
        ("logistic baseline", "logistic_auc"),
        ("observable ceiling (fitted to the true P(churn))", "observable_auc"),
        ("truth (knows the path after the as-of date)", "truth_auc"),
    ):
        table.add_row(label, f"{figures[key]:.4f}")
    out.print(table)
    console.print(
        f"retain's model is {figures['gap_to_observable']:.4f} below the observable ceiling"
    )
    path = settings.reports_dir / "churn_ceiling.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2))
    console.print(f"wrote {path}")
