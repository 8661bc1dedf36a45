"""The monitoring report: one HTML file with its charts embedded (matplotlib PNGs as base64), a
JSON summary beside it, and the key figures logged to the MLflow experiment
``retain-monitoring`` so they can be followed run after run.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from monitoring.acceptance import ALL
from monitoring.monitor import MonitorResult
from retain.core.settings import Settings

EXPERIMENT = "retain-monitoring"

_STATUS_COLOUR = {"ok": "#2e7d32", "warn": "#ef6c00", "alert": "#c62828"}


def report_folder(settings: Settings, now: datetime | None = None) -> Path:
    """``$RETAIN_HOME/reports/monitoring/<UTC timestamp>/`` (not created)."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return settings.reports_dir / "monitoring" / stamp


def _clean(v: Any) -> Any:
    """JSON-friendly: NaN and infinities become null, numpy scalars plain numbers."""
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def summary_json(result: MonitorResult) -> dict[str, Any]:
    """Everything the report says, as plain JSON values."""
    from dataclasses import asdict

    return _clean(
        {
            "model": result.model,
            "reference": result.reference,
            "current": result.current,
            "rows": result.rows,
            "summary": result.summary,
            "alerts": result.alerts,
            "prediction": result.prediction,
            "risk_bands": result.bands.reset_index(names="band").to_dict("records"),
            "features": result.features.to_dict("records"),
            "attribution": {
                "ndcg": result.ndcg,
                "features": result.attribution.to_dict("records"),
            },
            "performance": result.performance.to_dict("records"),
            "online": {
                **result.online,
                "freshness": result.freshness.to_dict("records"),
                "skew": result.skew.to_dict("records"),
            },
            "data_quality": _quality_json(result),
            "segments": {
                "levels": result.segments.to_dict("records"),
                "worst_pairs": result.segment_pairs.to_dict("records"),
            },
            "actions": _actions_json(result),
            "acceptance": _acceptance_json(result),
            "fairness": {
                **result.fairness_info,
                "rates": result.fairness.to_dict("records"),
                "auc": result.fairness_auc.to_dict("records"),
            },
            "thresholds": asdict(result.config),
        }
    )


def _quality_json(result: MonitorResult) -> dict[str, Any]:
    q = result.quality
    if q is None:
        return {}
    return {
        "rows": q.rows,
        "checks": q.checks.to_dict("records"),
        "missing": q.missing.to_dict("records"),
        "volume": q.volume.to_dict("records"),
    }


def _actions_json(result: MonitorResult) -> dict[str, Any]:
    a = result.actions
    if a is None:
        return {}
    return {
        "reference": a.reference,
        "current": a.current,
        "basis": a.basis,
        "shares": a.shares.to_dict("records"),
        "drift": a.drift.__dict__ if a.drift else None,
    }


def _acceptance_json(result: MonitorResult) -> dict[str, Any]:
    a = result.acceptance
    if a is None:
        return {}
    return {"window": a.window, "note": a.note, "table": a.table.to_dict("records")}


def _png(fig: Any) -> str:
    from training.plots import close

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    close([fig])
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _hist(ax: Any, ref: pd.Series, cur: pd.Series, title: str) -> None:
    from monitoring.drift import is_numeric

    if is_numeric(ref) and is_numeric(cur):
        r = ref.to_numpy(dtype=np.float64, na_value=np.nan)
        c = cur.to_numpy(dtype=np.float64, na_value=np.nan)
        r, c = r[~np.isnan(r)], c[~np.isnan(c)]
        both = np.concatenate([r, c])
        if len(both):
            lo, hi = np.quantile(both, [0.01, 0.99])
            bins = np.linspace(lo, hi, 40) if hi > lo else 10
            ax.hist(r, bins=bins, density=True, alpha=0.5, label="reference")
            ax.hist(c, bins=bins, density=True, alpha=0.5, label="current")
    else:
        shares = pd.DataFrame(
            {
                "reference": ref.astype(object)
                .fillna("(missing)")
                .astype(str)
                .value_counts(normalize=True),
                "current": cur.astype(object)
                .fillna("(missing)")
                .astype(str)
                .value_counts(normalize=True),
            }
        ).fillna(0.0)
        shares = shares.sort_values("reference", ascending=False).head(12)
        x = np.arange(len(shares))
        ax.bar(x - 0.2, shares["reference"], 0.4, label="reference")
        ax.bar(x + 0.2, shares["current"], 0.4, label="current")
        ax.set_xticks(x, shares.index, rotation=45, ha="right", fontsize=7)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)


def charts(result: MonitorResult) -> dict[str, str]:
    """Chart name -> base64 PNG."""
    from training.plots import pyplot

    plt = pyplot()
    out: dict[str, str] = {}
    cfg = result.config

    top = result.features.sort_values("psi", ascending=False).head(20)[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.25 * len(top) + 1.2))
    ax.barh(
        top["feature"], top["psi"], color=[_STATUS_COLOUR.get(s, "grey") for s in top["status"]]
    )
    ax.axvline(cfg.psi_warn, color=_STATUS_COLOUR["warn"], ls="--", lw=1, label="warn")
    ax.axvline(cfg.psi_alert, color=_STATUS_COLOUR["alert"], ls="--", lw=1, label="alert")
    ax.set_xlabel("PSI")
    ax.set_title("Feature drift: the 20 largest PSI")
    ax.legend(fontsize=8)
    out["psi"] = _png(fig)

    shown = result.samples.get("features", {})
    if shown:
        fig, axes = plt.subplots(2, 3, figsize=(11, 6))
        for ax, (name, (r, c)) in zip(axes.ravel(), shown.items(), strict=False):
            _hist(ax, r, c, name)
        for ax in axes.ravel()[len(shown) :]:
            ax.set_visible(False)
        fig.suptitle("The most drifted features: reference against current")
        fig.tight_layout()
        out["features"] = _png(fig)

    p_ref, p_cur = result.samples.get("scores", (np.empty(0), np.empty(0)))
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.5))
    _hist(a1, pd.Series(p_ref), pd.Series(p_cur), "Churn score (calibrated probability)")
    x = np.arange(len(result.bands))
    a2.bar(x - 0.2, result.bands["reference"], 0.4, label="reference")
    a2.bar(x + 0.2, result.bands["current"], 0.4, label="current")
    a2.set_xticks(x, result.bands.index)
    a2.set_title("Risk bands (share of customers)", fontsize=9)
    a2.legend(fontsize=7)
    out["prediction"] = _png(fig)

    att = result.attribution.head(15)[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(att) + 1.2))
    y = np.arange(len(att))
    ax.barh(y + 0.2, att["reference"], 0.4, label="reference")
    ax.barh(y - 0.2, att["current"], 0.4, label="current")
    ax.set_yticks(y, att["feature"])
    ax.set_xlabel("mean |SHAP| (log-odds)")
    ax.set_title(f"Attribution: the reference's top 15 (nDCG {result.ndcg:.3f})")
    ax.legend(fontsize=8)
    out["attribution"] = _png(fig)

    perf = result.performance
    fig, ax = plt.subplots(figsize=(9, 3.5))
    x = np.arange(len(perf))
    ax.plot(x, perf["estimated_auc"], "o-", label="estimated (CBPE)")
    ax.plot(x, perf["realised_auc"], "s-", label="realised")
    for k in range(1, len(perf)):
        if perf["window"].iloc[k] != perf["window"].iloc[k - 1]:
            ax.axvline(k - 0.5, color="grey", ls=":", lw=1)
    ax.set_xticks(x, perf["month"], rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("ROC AUC")
    ax.set_title(
        "Estimated and realised ROC AUC by as-of month\n"
        "(reference | labelled months between | current)"
    )
    ax.legend(fontsize=8)
    out["performance"] = _png(fig)
    return out


def _fmt(v: Any) -> str:
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    if isinstance(v, float | np.floating):
        if not math.isfinite(float(v)):
            return "n/a"
        return f"{float(v):.4g}"
    return html.escape(str(v))


def _table(frame: pd.DataFrame, status_column: str | None = "status") -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = []
    for record in frame.to_dict("records"):
        cells = []
        for c, v in record.items():
            style = ""
            if c == status_column:
                style = f' style="color:{_STATUS_COLOUR.get(str(v), "black")};font-weight:bold"'
            cells.append(f"<td{style}>{_fmt(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _online_html(result: MonitorResult) -> str:
    info, cfg = result.online, result.config
    if not info:
        return "<p>Not measured.</p>"
    if info.get("note"):
        return f"<p>Not measured: {html.escape(str(info['note']))}.</p>"
    as_of = html.escape(str(info["as_of"]))
    return f"""<p>A seeded sample of {info["sample"]:,} customers with the bank at {as_of}, the
latest month end in the offline sources.</p>
<p><b>Freshness</b> per feature view: the event timestamps the online store holds for the sample
(as the service reads them) and the end of the view's latest materialization in the Feast
registry, aged at {as_of}. Feast serves a value past its view's TTL as PRESENT (its issue
#6821): such a value alerts; one older than {cfg.freshness_warn_days:g} days, or a
materialization that far behind, warns. A view without a TTL (stamped once, at joining) is
judged by its materialization only.</p>
{_table(result.freshness)}
<p><b>Skew</b>: per feature, the share of the sample whose online value (read as the service
reads it) differs from the point-in-time offline value at {as_of} (numbers beyond a relative
{cfg.skew_tolerance:g}; a null equals a null only); request-time features computed at {as_of}
on both sides. More than {cfg.skew_alert_share:.0%} alerts.</p>
{_table(result.skew)}
"""


def _quality_html(result: MonitorResult) -> str:
    q, cfg = result.quality, result.config
    if q is None:
        return "<p>Not measured.</p>"
    rows = ", ".join(f"{t} {n:,}" for t, n in q.rows.items())
    moved = q.missing[q.missing["change"].abs() >= 0.001]
    checks = _table(q.checks) if len(q.checks) else "<p>Every check passes.</p>"
    return f"""<p>The raw tables as they arrived (rows checked: {rows}): the columns and types
against the contract (<code>retain.core.tables</code>); with pandera, every value in its range or
among its levels, keys present and unique, monthly snapshots stamped at month end. A check failing
for more than {cfg.invalid_alert_share:.1%} of a table's rows alerts, any failure warns.</p>
{checks}
<p><b>Missing shares</b> of the columns that moved, reference against current window (a rise of
{cfg.missing_warn:.0%} warns, {cfg.missing_alert:.0%} alerts):</p>
{_table(moved) if len(moved) else "<p>No column's missing share moved by 0.1% or more.</p>"}
<p><b>Customers per month</b> (a drop of {cfg.volume_drop_alert:.0%} on the month before
alerts):</p>
{_table(q.volume)}
"""


def _segments_html(result: MonitorResult) -> str:
    cfg = result.config
    if result.segments.empty:
        return "<p>No segment level holds enough rows to judge.</p>"
    shown = result.segments.head(cfg.segment_top)
    return f"""<p>The PSI of every feature within each level of {", ".join(cfg.segments)}, on
the reference's bins over the whole window; a level is judged where both windows hold
{cfg.segment_min_rows:,} rows or more. One row per level, its worst feature, worst first; a level
whose worst feature drifts more there than overall (<i>hidden</i>) is an alert line.</p>
{_table(shown)}
<p>The worst segment-feature pairs (those worse than the feature overall first, then by how
far the PSI there exceeds the PSI overall):</p>
{_table(result.segment_pairs)}
"""


def _actions_html(result: MonitorResult) -> str:
    a = result.actions
    if a is None or a.shares.empty:
        return "<p>The decision log holds no decisions.</p>"
    drift = (
        _table(pd.DataFrame([a.drift.__dict__]).drop(columns=["distance_name", "test_name"]))
        if a.drift
        else "<p>Not compared: a window holds no decisions.</p>"
    )
    return f"""<p>The action each decision ranked first (<code>no_action</code> when none was
delivered), reference {html.escape(a.reference or "none")} against current
{html.escape(a.current or "none")} of decision time ({html.escape(a.basis)}).</p>
{_table(a.shares, None)}
{drift}
"""


def _acceptance_html(result: MonitorResult) -> str:
    a, cfg = result.acceptance, result.config
    if a is None:
        return "<p>Not measured.</p>"
    if a.note:
        return f"<p>{html.escape(a.note)}.</p>"
    return f"""<p>The actions delivered by the decisions of {html.escape(a.window)} (the action
mix's current window), per action over every channel (<i>(all)</i>) and per channel: the answers
received through <code>/feedback</code>, the realised acceptance rate (accepted over answered;
ignored is a no) with its {cfg.acceptance_confidence:.0%} Wilson interval, and the mean
predicted P(accept) the service ranked the same answered actions with (retention and service
actions carry none). The gap is how far the prediction lies outside the interval: at
{cfg.acceptance_gap_warn:g} it warns, at {cfg.acceptance_gap_alert:g} it alerts, judged on
{cfg.acceptance_min_answered:,} answers or more (n/a below).</p>
{_table(a.table)}
"""


def _fairness_html(result: MonitorResult) -> str:
    cfg, info = result.config, result.fairness_info
    note = f"<p>{html.escape(info['note'])}</p>" if info.get("note") else ""
    return f"""<p>The share of each group flagged at risk (score at or above the operating
threshold, current window) and offered an action (the current window's decisions), and its ratio
to the highest group's: below {cfg.fairness_ratio_warn} warns, below
{cfg.fairness_ratio_alert} alerts (the four-fifths rule); groups under
{cfg.fairness_min_rows:,} rows are not judged. Gender is read for these checks only.</p>{note}
{_table(result.fairness)}
<p>ROC AUC by group on the rows with outcomes: {html.escape(str(info.get("auc_rows", "")))}.</p>
{_table(result.fairness_auc, None)}
"""


def render_html(result: MonitorResult, images: dict[str, str]) -> str:
    """The report as one self-contained HTML page."""
    m, s = result.model, result.summary

    def img(name: str) -> str:
        return f'<img src="data:image/png;base64,{images[name]}">' if name in images else ""

    alerts = pd.DataFrame(result.alerts, columns=["status", "kind", "subject", "detail"])
    headline = pd.DataFrame(
        [{"figure": k, "value": v} for k, v in s.items()], columns=["figure", "value"]
    )
    features = result.features.drop(columns=["distance_name", "test_name"])
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>retain monitoring: {html.escape(m["name"])}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 1100px; }}
table {{ border-collapse: collapse; font-size: 0.85em; margin-bottom: 1.5em; }}
td, th {{ border: 1px solid #ccc; padding: 2px 6px; text-align: right; }}
th {{ background: #f0f0f0; }}
td:first-child, th:first-child {{ text-align: left; }}
img {{ max-width: 100%; }}
</style></head><body>
<h1>Monitoring: {html.escape(m["name"])} v{html.escape(str(m["version"]))}</h1>
<p>Reference {result.reference} ({result.rows["reference"]:,} customer-months; the model's
training window is {html.escape(m["train_window"])}) against current {result.current}
({result.rows["current"]:,} customer-months), feature service {html.escape(m["feature_service"])}.
Overall status:
<b style="color:{_STATUS_COLOUR[s["status"]]}">{s["status"]}</b>.</p>
<h2>Alerts</h2>
{_table(alerts) if len(alerts) else "<p>No threshold crossed.</p>"}
<h2>Headline figures</h2>
{_table(headline, None)}
<h2>Feature drift</h2>
<p>PSI over the reference's deciles (missing values a bin of their own); Wasserstein distance
over the reference's standard deviation (numeric) or Jensen-Shannon distance (categorical);
KS or chi-square test. Every row of both windows, no sampling.</p>
{img("psi")}
{img("features")}
{_table(features)}
<h2>Prediction drift</h2>
{img("prediction")}
{_table(pd.DataFrame(result.prediction.values()).drop(columns=["distance_name", "test_name"]))}
{_table(result.bands.reset_index(names="band"), None)}
<h2>Attribution drift</h2>
<p>Mean |SHAP| (LightGBM TreeSHAP) over a seeded sample of {result.config.shap_rows:,} rows per
window; nDCG of the current ranking against the reference's: {result.ndcg:.3f}
(warn below {result.config.ndcg_warn}, alert below {result.config.ndcg_alert}).</p>
{img("attribution")}
{_table(result.attribution, None)}
<h2>Performance: estimated (CBPE) and realised</h2>
<p>Estimated from the calibrated scores alone (expected confusion matrix at the operating
threshold {m["threshold"]:.4f}, expected ROC AUC); realised where the 90-day outcomes are in.
The scores are first recalibrated (isotonic, on labelled months out of sample:
{html.escape(str(s.get("cbpe_recalibration", "none")))}); <code>estimated_auc_plain</code> is the
estimate from the champion's calibration alone. The estimate trusts the calibration: under
concept drift it cannot be trusted, and only the realised figures tell. The reference window is
the model's training window by default, where realised figures are in-sample.</p>
{img("performance")}
{_table(result.performance, None)}
<h2>Online store: freshness and online/offline skew</h2>
{_online_html(result)}
<h2>Data quality of the raw tables</h2>
{_quality_html(result)}
<h2>Feature drift per segment</h2>
{_segments_html(result)}
<h2>Actions in the decision log</h2>
{_actions_html(result)}
<h2>Offer acceptance: realised against predicted</h2>
{_acceptance_html(result)}
<h2>Fairness</h2>
{_fairness_html(result)}
</body></html>
"""


def write_report(settings: Settings, result: MonitorResult, folder: Path | None = None) -> Path:
    """Write ``report.html`` and ``summary.json`` into ``folder`` (default: a new timestamped
    folder under the reports); returns the HTML file's path."""
    folder = folder or report_folder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summary.json").write_text(json.dumps(summary_json(result), indent=2))
    path = folder / "report.html"
    path.write_text(render_html(result, charts(result)))
    return path


def log_to_mlflow(settings: Settings, result: MonitorResult, folder: Path) -> str:
    """Log the headline figures, each feature's PSI and the report files as one run of the
    experiment ``retain-monitoring``; returns the run id."""
    import mlflow

    from training.tracking import experiment_id, tracking

    metrics = {
        k: float(v)
        for k, v in result.summary.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v))
    }
    metrics.update(
        {
            f"psi.{f}": float(v)
            for f, v in zip(result.features["feature"], result.features["psi"], strict=True)
        }
    )
    if result.acceptance is not None:
        for r in result.acceptance.table.to_dict("records"):
            if r["channel"] == ALL:
                for what in ("realised", "predicted"):
                    if math.isfinite(r[what]):
                        metrics[f"acceptance_{what}.{r['action']}"] = float(r[what])
    with tracking(settings):
        exp = experiment_id(settings, EXPERIMENT)
        with mlflow.start_run(experiment_id=exp, run_name=f"{result.current}") as run:
            mlflow.log_params(
                {
                    "model_name": result.model["name"],
                    "model_version": result.model["version"],
                    "reference": result.reference,
                    "current": result.current,
                    "rows_reference": result.rows["reference"],
                    "rows_current": result.rows["current"],
                }
            )
            mlflow.set_tags(
                {"status": result.summary["status"], "model_run": result.model["run_id"] or ""}
            )
            mlflow.log_metrics(metrics)
            mlflow.log_artifacts(str(folder), "report")
            return str(run.info.run_id)
