"""``retain evaluate ...``: evaluations beyond a single model's own test window.

``retain evaluate public`` checks retain's modelling on public real data sets against published
results. Other evaluations join the group as further commands of ``evaluate_app``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from retain.cli.common import console, load_settings, progress_bar, quiet_mlflow

out = Console()
"""Results go to stdout; progress and messages to stderr."""

evaluate_app = typer.Typer(
    help="Evaluations: next-best-action policies, public real data sets against published results.",
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


@evaluate_app.command("nba")
def nba(
    customers: Annotated[
        int, typer.Option(help="Customers with the bank at the evaluation month to sample.")
    ] = 5000,
    seed: Annotated[int, typer.Option(help="Seed of the sample and the random policy.")] = 7,
    mlflow: Annotated[
        bool, typer.Option(help="Log the table and plot to MLflow (retain-nba-evaluation).")
    ] = True,
) -> None:
    """retain's next-best-action policy against random, most-popular, propensity-only and
    churn-only policies: ground truth of the simulated bank, and off-policy estimates (IPS, DR)
    from its randomised campaign log."""
    from evaluation.nba import evaluate_nba, log_evaluation, write_report
    from retain.core.errors import ConfigError
    from simulator.truth import ground_truth

    if customers < 1:
        raise ConfigError(f"--customers must be a positive number, got {customers}")
    quiet_mlflow(feast=True)
    settings = load_settings()
    with progress_bar("evaluating next-best-action policies") as progress:
        evaluation = evaluate_nba(settings, customers, seed, progress, truth=ground_truth(settings))
    table = Table(
        title=f"next best action, {evaluation.customers:,} customers at "
        f"{evaluation.month_end:%Y-%m-%d}; {evaluation.logged_contacts:,} randomised contacts "
        "in the log (value per customer vs doing nothing)"
    )
    for column in ("policy", "truth", "acts on", "IPS (log)", "DR (log)"):
        table.add_column(column, justify="left" if column == "policy" else "right")
    for policy, row in evaluation.table.iterrows():
        table.add_row(
            str(policy),
            f"{row['truth']:.2f}",
            f"{row['acting']:.0%}",
            f"{row['ips']:.2f} ± {row['ips_se']:.2f}",
            f"{row['dr']:.2f} ± {row['dr_se']:.2f}",
        )
    out.print(table)
    paths = write_report(evaluation, settings.reports_dir)
    console.print(f"wrote {', '.join(str(p) for p in paths)}")
    if mlflow:
        run_id = log_evaluation(settings, evaluation, paths)
        console.print(f"logged to MLflow experiment retain-nba-evaluation, run {run_id}")
