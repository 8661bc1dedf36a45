"""The report of a small monitoring result: one self-contained HTML page and plain JSON."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from monitoring.attribution import attribution_table, ndcg
from monitoring.config import MonitoringConfig
from monitoring.drift import categorical_drift, feature_drift, numeric_drift
from monitoring.monitor import MonitorResult, month_performance
from monitoring.report import render_html, summary_json, write_report
from retain.core.settings import Settings


@pytest.fixture
def result() -> MonitorResult:
    rng = np.random.default_rng(2)
    n = 2000
    ref = pd.DataFrame(
        {"balance": rng.gamma(2.0, 100.0, n), "channel": rng.choice(["branch", "mobile"], n)}
    )
    cur = pd.DataFrame(
        {"balance": rng.gamma(2.0, 60.0, n), "channel": rng.choice(["branch", "mobile"], n)}
    )
    features = ["balance", "channel"]
    p_ref, p_cur = rng.beta(1, 20, n), rng.beta(1, 15, n)
    months = pd.to_datetime(["2024-01-31 23:59:59"] * n, utc=True)
    frame = pd.DataFrame({"event_timestamp": months, "label": (rng.random(n) < p_ref) * 1.0})
    a_ref = pd.Series({"balance": 0.3, "channel": 0.1})
    a_cur = pd.Series({"balance": 0.1, "channel": 0.2})
    return MonitorResult(
        model={
            "name": "retain-churn",
            "version": "3",
            "run_id": "abc",
            "feature_service": "churn_v1",
            "train_window": "2023-01..2023-12 (12 months)",
            "threshold": 0.1,
        },
        reference="2023-01..2023-12",
        current="2024-10..2024-12",
        rows={"reference": n, "current": n},
        features=feature_drift(ref, cur, features),
        prediction={
            "churn_score": numeric_drift(p_ref, p_cur, feature="churn_score").__dict__,
            "risk_band": categorical_drift(["low"] * 5, ["low", "high"], "risk_band").__dict__,
        },
        bands=pd.DataFrame({"reference": [0.9, 0.1], "current": [0.8, 0.2]}, index=["low", "high"]),
        attribution=attribution_table(a_ref, a_cur),
        ndcg=ndcg(a_ref, a_cur),
        performance=month_performance(frame, p_ref, 0.1, "reference"),
        summary={"status": "alert", "ndcg": ndcg(a_ref, a_cur), "auc_current_realised": np.nan},
        alerts=[
            {
                "status": "alert",
                "kind": "feature drift",
                "subject": "balance",
                "detail": "PSI 0.4 <b>",
            }
        ],
        config=MonitoringConfig(),
        samples={
            "scores": (p_ref, p_cur),
            "features": {f: (ref[f], cur[f]) for f in features},
        },
    )


def test_the_page_embeds_the_charts_given_and_escapes_text(result: MonitorResult):
    page = render_html(result, {"psi": "AAAA", "features": "BBBB"})
    assert page.count("data:image/png;base64,") == 2
    assert "PSI 0.4 &lt;b&gt;" in page and "PSI 0.4 <b>" not in page


def test_write_report_writes_html_and_json_with_null_for_nan(result: MonitorResult, tmp_path):
    path = write_report(Settings(home=tmp_path / "home"), result, tmp_path / "out")
    assert path.read_text().count("data:image/png;base64,") == 5
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["summary"]["auc_current_realised"] is None
    assert [f["feature"] for f in summary["features"]][0] == "balance"
    assert summary["thresholds"]["psi_alert"] == 0.25


def test_summary_json_is_plain_json(result: MonitorResult):
    json.dumps(summary_json(result), allow_nan=False)


def test_quality_segments_actions_and_fairness_reach_the_page_and_the_json(
    result: MonitorResult,
):
    """Each of the four has its section, and its tables are in the JSON."""
    from dataclasses import replace

    from monitoring.decisions import action_mix
    from monitoring.fairness import rate_ratios
    from monitoring.quality import QualityResult, missing_shares, volume

    config = MonitoringConfig()
    frame = pd.DataFrame({"a": [1.0, np.nan]})
    quality = QualityResult(
        checks=pd.DataFrame(
            [["monthly", "age", "in_range(0, 120)", 10, 1, 0.1, "140", "alert"]],
            columns=[
                "table",
                "column",
                "check",
                "rows",
                "failed",
                "failed_share",
                "example",
                "status",
            ],
        ),
        missing=missing_shares("monthly", frame, frame, config),
        volume=volume(pd.Series([10, 9], index=["2024-11", "2024-12"]), config),
        rows={"monthly": 10},
    )
    decisions = pd.DataFrame(
        {"at": pd.to_datetime(["2024-11-02"] * 4, utc=True), "action": ["x", "x", "y", "no_action"]}
    )
    rates = rate_ratios("offer", {"gender": pd.Series(["f", "m"] * 100)}, np.ones(200), config)
    full = replace(
        result,
        quality=quality,
        actions=action_mix(decisions, decisions, config, "as-of windows"),
        fairness=rates,
    )
    page = render_html(full, {})
    for title in ("Data quality of the raw tables", "Feature drift per segment", "Fairness"):
        assert f"<h2>{title}</h2>" in page
    assert "in_range(0, 120)" in page and "as-of windows" in page
    data = json.loads(json.dumps(summary_json(full), allow_nan=False))
    assert data["data_quality"]["checks"][0]["column"] == "age"
    assert data["actions"]["drift"]["status"] == "ok"
    assert {r["group"] for r in data["fairness"]["rates"]} == {"f", "m"}
