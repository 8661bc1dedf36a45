"""``retain monitor``: drift, attribution and estimated performance of the churn champion, and
the freshness and online/offline skew of its features.

Alerts are information, not errors: the command exits 0 when it ran, whatever it found (1 with
``--fail-on warn|alert`` when the status reaches it, for a scheduler), and 2 with one line on a
user's mistake (no champion, a bad window, a window without data, an unknown feature).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from retain.cli.common import console, load_settings, progress_bar, quiet_mlflow
from retain.core.errors import ConfigError

if TYPE_CHECKING:
    from monitoring.monitor import MonitorResult

out = Console()
"""Results go to stdout; progress and messages to stderr."""

_STYLE = {"alert": "bold red", "warn": "yellow", "ok": "green"}

FAIL_ON = ("never", "warn", "alert")
"""``--fail-on`` levels."""


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


def _print_around(result: MonitorResult) -> None:
    """One line each: data quality, segments, the decision log's action mix, offer acceptance,
    fairness."""
    s, q, a = result.summary, result.quality, result.actions
    if q is not None:
        rows = ", ".join(f"{t} {n:,}" for t, n in q.rows.items())
        out.print(
            f"data quality ({rows} rows): {s['quality_checks_failed']} failed check(s), "
            f"largest rise of a missing share {s['quality_max_missing_rise']:.1%}"
        )
    seg = result.segments
    worst = ""
    if len(seg):
        w = seg.iloc[0]
        worst = f", worst {w['segment']} = {w['level']}: {w['feature']} PSI {w['psi']:.2f}"
    out.print(
        f"segments: {s['segment_levels_drifted']} of {s['segment_levels_judged']} levels drift, "
        f"{s['segment_levels_hidden']} more than overall{worst}"
    )
    if a is None or a.shares.empty:
        out.print("decision log: no decisions")
    else:
        mix = f"action mix PSI {_f(a.drift.psi)}" if a.drift else "no reference to compare"
        out.print(
            f"decision log ({a.basis}): {a.reference or 'none'} ({s['decisions_reference']:,}) "
            f"against {a.current} ({s['decisions_current']:,} decisions): {mix}"
        )
    _print_acceptance(result)
    out.print(
        f"fairness (four-fifths ratio, lowest group): high-risk flag "
        f"{_f(s['fairness_min_ratio_high_risk'], 2)}, offer {_f(s['fairness_min_ratio_offer'], 2)}"
    )


def _print_acceptance(result: MonitorResult) -> None:
    """One line: offer acceptance against its prediction, or why it is not measured."""
    a, s = result.acceptance, result.summary
    if a is None:
        return
    if a.note:
        out.print(f"offer acceptance: {a.note}")
        return
    off = s["acceptance_actions_off"]
    out.print(
        f"offer acceptance ({a.window}): {s['acceptance_answered']:,} of "
        f"{s['acceptance_delivered']:,} delivered actions answered, realised "
        f"{_f(s['acceptance_realised'])} against predicted {_f(s['acceptance_predicted'])}; "
        f"{off} of {s['acceptance_actions_judged']} judged action(s) off their prediction"
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
    fail_on: Annotated[
        str,
        typer.Option(
            help="Exit 1 when the overall status is at least this: warn, alert, or never "
            "(alerts are information: exit 0)."
        ),
    ] = "never",
) -> None:
    """Compare the current window with the reference: feature drift (overall and per
    segment), prediction drift (scores, risk bands, the decision log's actions), attribution
    drift, estimated and realised performance, offer acceptance (/feedback) against its
    prediction, fairness; check the raw tables' data quality and
    the online store's freshness and its skew against the offline features. Writes an HTML
    report and a JSON summary under $RETAIN_HOME/reports/monitoring/<timestamp>/."""
    from monitoring.config import MonitoringConfig
    from monitoring.drift import STATUS_ORDER
    from monitoring.monitor import STEPS, require_tracking_store, run_monitor
    from monitoring.report import log_to_mlflow, write_report
    from monitoring.windows import parse_window

    # Bad syntax is answered before anything heavy is loaded.
    if fail_on not in FAIL_ON:
        raise ConfigError(f"bad --fail-on {fail_on!r}: use one of {', '.join(FAIL_ON)}")
    for text, what in ((reference, "--reference"), (current, "--current")):
        if text is not None:
            parse_window(text, what)
    settings = load_settings()
    config = MonitoringConfig.load(settings)
    require_tracking_store(settings)
    quiet_mlflow(feast=True)
    with progress_bar("monitoring retain-churn", STEPS) as progress:
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
        f" (CBPE recalibration: {s.get('cbpe_recalibration', 'none')})"
        f" (realised {_f(s['auc_current_realised'])}, {s['current_labelled_share']:.0%} of "
        f"current rows labelled) | realised AUC of the latest labelled months "
        f"{s['latest_labelled_months'] or 'n/a'}: {_f(s['auc_latest_labelled_realised'])} "
        f"against the champion's test AUC {_f(s['champion_test_auc'])}"
    )
    _print_online(result)
    _print_around(result)
    out.print(f"status: [{_STYLE[s['status']]}]{s['status']}[/]")
    out.print(f"report: {path}", soft_wrap=True, highlight=False)  # one line, for scripts
    if run_id:
        console.print(f"MLflow: experiment retain-monitoring, run {run_id}")
    if fail_on != "never" and STATUS_ORDER[s["status"]] >= STATUS_ORDER[fail_on]:
        raise typer.Exit(1)
