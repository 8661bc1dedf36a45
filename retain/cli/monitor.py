"""``retain monitor``: drift, attribution and estimated performance of the churn champion, and
the freshness and online/offline skew of its features.

Alerts are information, not errors: the command exits 0 when it ran, whatever it found, and 2
with one line on a user's mistake (no champion, a bad window, a window without data).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from retain.cli.common import console, load_settings, progress_bar, quiet_mlflow

if TYPE_CHECKING:
    from monitoring.monitor import MonitorResult

out = Console()
"""Results go to stdout; progress and messages to stderr."""

_STYLE = {"alert": "bold red", "warn": "yellow", "ok": "green"}


def register(app: typer.Typer) -> None:
    """Add this module's command to ``app``."""
    app.command("monitor")(monitor)


def _f(v: float, digits: int = 3) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def _days(v: float) -> str:
    return "never" if isinstance(v, float) and math.isnan(v) else f"{v:g} d"


def _print_online(result: MonitorResult) -> None:
    """The freshness table, one row per feature view, and the skew line."""
    info, s = result.online, result.summary
    if not info or info.get("note"):
        out.print(f"online store: not measured ({info.get('note', 'no result')})")
        return
    table = Table(
        title=f"online store freshness at {info['as_of']} ({info['sample']:,} sampled customers)"
    )
    for column in ("status", "view", "TTL", "found", "oldest value", "materialized to"):
        table.add_column(column)
    for r in result.freshness.to_dict("records"):
        age = r["max_age_days"]
        oldest = f"{r['oldest']} ({_f(age, 0)} d)" if r["found"] else "none"
        if r["expired_share"] > 0:
            oldest += f", {r['expired_share']:.0%} past TTL"
        table.add_row(
            f"[{_STYLE[r['status']]}]{r['status']}[/]",
            r["view"],
            _days(r["ttl_days"]),
            f"{r['found']}/{r['sampled']}",
            oldest,
            r["materialized_to"] or "never",
        )
    out.print(table)
    differ = result.skew[result.skew["differ"] > 0]
    worst = (
        f", most {differ['feature'].iloc[0]} ({differ['differ_share'].iloc[0]:.1%})"
        if len(differ)
        else ""
    )
    out.print(
        f"online/offline skew at {info['as_of']}: {s['skew_features_differ']} of "
        f"{s['skew_features']} features differ for {s['skew_customers']:,} sampled "
        f"customers{worst}"
    )


def monitor(
    reference: Annotated[
        str | None,
        typer.Option(
            help="Reference window of as-of months, YYYY-MM..YYYY-MM "
            "(default: the churn champion's training window)."
        ),
    ] = None,
    current: Annotated[
        str | None,
        typer.Option(
            help="Current window, YYYY-MM..YYYY-MM (default: the latest months, "
            "current_months in monitoring.toml, 3 unless set)."
        ),
    ] = None,
    mlflow: Annotated[
        bool, typer.Option(help="Log the key figures to MLflow (experiment retain-monitoring).")
    ] = True,
    top: Annotated[int, typer.Option(help="Alert lines to print (all are in the report).")] = 15,
) -> None:
    """Compare the current window with the reference: feature drift, prediction drift,
    attribution drift, estimated and realised performance; and check the online store's
    freshness and its skew against the offline features. Writes an HTML report and a JSON
    summary under $RETAIN_HOME/reports/monitoring/<timestamp>/."""
    from monitoring.config import MonitoringConfig
    from monitoring.monitor import require_tracking_store, run_monitor
    from monitoring.report import log_to_mlflow, write_report
    from monitoring.windows import parse_window

    # Bad syntax is answered before anything heavy is loaded.
    for text, what in ((reference, "--reference"), (current, "--current")):
        if text is not None:
            parse_window(text, what)
    settings = load_settings()
    config = MonitoringConfig.load(settings)
    require_tracking_store(settings)
    quiet_mlflow(feast=True)
    with progress_bar("monitoring retain-churn", 7) as progress:
        result = run_monitor(settings, config, reference, current, progress)
    path = write_report(settings, result)
    run_id = log_to_mlflow(settings, result, path.parent) if mlflow else None

    s = result.summary
    m = result.model
    table = Table(
        title=f"{m['name']} v{m['version']}: reference {result.reference} "
        f"({result.rows['reference']:,} rows) against current {result.current} "
        f"({result.rows['current']:,} rows)"
    )
    table.add_column("status")
    table.add_column("drift of")
    table.add_column("subject")
    table.add_column("figures")
    for a in result.alerts[:top]:
        style = _STYLE[a["status"]]
        kind = a["kind"].removesuffix(" drift")  # the table's title says it is about drift
        table.add_row(f"[{style}]{a['status']}[/]", kind, a["subject"], a["detail"])
    if len(result.alerts) > top:
        table.add_row("", "", f"... {len(result.alerts) - top} more", "in the report")
    if not result.alerts:
        table.add_row("[green]ok[/]", "", "no threshold crossed", "")
    out.print(table)
    out.print(
        f"features: {s['features_alert']} alert, {s['features_warn']} warn of {s['features']} | "
        f"score PSI {_f(s['score_psi'])}, mean {_f(s['score_mean_reference'], 4)} -> "
        f"{_f(s['score_mean_current'], 4)} | attribution nDCG {_f(s['ndcg'])} | "
        f"AUC estimated {_f(s['auc_reference_estimated'])} -> {_f(s['auc_current_estimated'])}"
        f" (realised {_f(s['auc_current_realised'])}, {s['current_labelled_share']:.0%} of "
        f"current rows labelled) | realised AUC of the latest labelled months "
        f"{s['latest_labelled_months'] or 'n/a'}: {_f(s['auc_latest_labelled_realised'])} "
        f"against the champion's test AUC {_f(s['champion_test_auc'])}"
    )
    _print_online(result)
    out.print(f"status: [{_STYLE[s['status']]}]{s['status']}[/]")
    out.print(f"report: {path}", soft_wrap=True, highlight=False)  # one line, for scripts
    if run_id:
        console.print(f"MLflow: experiment retain-monitoring, run {run_id}")
