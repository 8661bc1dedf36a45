"""``retain monitor`` on the served bank of the integration tests (1,500 simulated customers, a
churn champion): the one end-to-end run of monitoring."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path

from retain.core.settings import Settings
from tests.integration.conftest import RETAIN, copy_home


def test_it_compares_the_training_window_with_the_latest_months(
    home: Settings, tmp_path: Path
) -> None:
    """Exit 0, a table and the report path on stdout; the HTML report (charts embedded) and the
    JSON summary on disk, covering every feature of the champion; a run in MLflow. A window
    without data is one line and exit status 2. The freshly materialized online store is fresh
    and agrees with the offline frames; in a copy whose online values are 61 days old in one view
    and gone from another, freshness alerts (past the TTL Feast ignores) and warns, skew alerts
    on the lost view's features, and the exit status stays 0. The raw tables pass their data
    quality checks; segments, the decision log's actions (the demo's decisions, made at the wall
    clock) and fairness slices are in the summary. A threshold for a feature the champion does
    not have is one line and exit status 2."""

    def monitor(*args: str, at: Path = home.home) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [RETAIN, "monitor", *args],
            env={**os.environ, "RETAIN_HOME": str(at)},
            capture_output=True,
            text=True,
            timeout=600,
        )

    empty = monitor("--current", "2030-01..2030-03", "--no-mlflow")
    assert empty.returncode == 2
    last = empty.stderr.strip().splitlines()[-1]
    assert last.startswith("error: the current window 2030-01..2030-03 has no data: ")
    assert "the bank's months are 2023-01.." in last
    done = monitor()
    assert done.returncode == 0, done.stderr[-3000:]
    assert "retain-churn v1: reference" in done.stdout
    report = Path(done.stdout.split("report: ")[1].split()[0])
    assert report.parent.parent == home.reports_dir / "monitoring"
    html = report.read_text()
    assert html.count("data:image/png;base64,") == 5
    summary = json.loads((report.parent / "summary.json").read_text())

    from training.churn.load import load_model

    model = load_model(home).model
    assert {f["feature"] for f in summary["features"]} == set(model.spec.features)
    # The training window without the data's first six months (``monitoring.comparable``).
    trained = model.info["train_window"].split(" ")[0]
    assert summary["reference"] == f"2023-07..{trained.split('..')[1]}"
    assert summary["current"] == "2024-10..2024-12"
    windows = {r["window"] for r in summary["performance"]}
    assert windows == {"reference", "between", "current"}
    between = [r for r in summary["performance"] if r["window"] == "between"]
    assert all(r["labelled"] and 0.5 < r["realised_auc"] <= 1 for r in between)
    assert all(0.5 < r["estimated_auc"] < 1 for r in summary["performance"])
    assert 0 <= summary["attribution"]["ndcg"] <= 1
    assert summary["summary"]["status"] in ("ok", "warn", "alert")

    online = summary["online"]
    assert (online["as_of"], online["sample"], online["materialized"]) == ("2024-12-31", 300, True)
    views = {r["view"]: r for r in online["freshness"]}
    assert {"customer_profile", "balances_flows", "engagement_channels"} <= set(views)
    assert all(r["status"] == "ok" and r["found"] == 300 for r in views.values())
    assert views["balances_flows"]["max_age_days"] == 0
    assert views["balances_flows"]["materialized_to"] == "2024-12-31"
    assert {r["feature"] for r in online["skew"]} == set(model.spec.features)
    assert all(r["differ"] == 0 for r in online["skew"])
    assert summary["summary"]["skew_features_differ"] == 0
    assert "online store freshness at 2024-12-31 (300 sampled customers)" in done.stdout
    assert "online/offline skew at 2024-12-31: 0 of " in done.stdout
    assert "Online store: freshness and online/offline skew" in html

    quality = summary["data_quality"]
    assert quality["rows"]["monthly"] > 0 and quality["checks"] == []
    assert {r["table"] for r in quality["missing"]} == {"monthly", "customers"}
    assert all(r["status"] == "ok" for r in quality["volume"])
    levels = summary["segments"]["levels"]
    assert levels and {r["segment"] for r in levels} <= set(summary["thresholds"]["segments"])
    actions = summary["actions"]
    assert actions["basis"] == "the log's latest months"
    assert summary["summary"]["decisions_current"] > 0
    assert sum(r["current_decisions"] for r in actions["shares"]) > 0
    rates = summary["fairness"]["rates"]
    assert {(r["measure"], r["attribute"]) for r in rates} == {
        (m, a) for m in ("high-risk flag", "offer") for a in ("gender", "age band")
    }
    assert {r["attribute"] for r in summary["fairness"]["auc"]} == {"gender", "age band"}
    for line in ("data quality (", "segments: ", "decision log (", "fairness (four-fifths"):
        assert line in done.stdout
    for title in ("Data quality of the raw tables", "Feature drift per segment", "Fairness"):
        assert f"<h2>{title}</h2>" in html

    from training.tracking import client

    c = client(home)
    exp = c.get_experiment_by_name("retain-monitoring")
    runs = c.search_runs([exp.experiment_id])
    assert runs and "psi.bal_total" in runs[0].data.metrics

    copy = tmp_path / "home"
    copy_home(home.home, copy)
    with sqlite3.connect(copy / "feast" / "online.db") as db:
        db.execute(f"UPDATE {home.project}_balances_flows SET event_ts = event_ts - 61 * 86400")
        db.execute(f"DELETE FROM {home.project}_engagement_channels")
    stale = monitor("--no-mlflow", at=copy)
    assert stale.returncode == 0, stale.stderr[-3000:]
    report = Path(stale.stdout.split("report: ")[1].split()[0])
    summary = json.loads((report.parent / "summary.json").read_text())
    views = {r["view"]: r for r in summary["online"]["freshness"]}
    assert views["balances_flows"]["status"] == "alert"
    assert views["balances_flows"]["expired_share"] == 1
    assert "PRESENT" in views["balances_flows"]["detail"]
    assert (views["engagement_channels"]["status"], views["engagement_channels"]["found"]) == (
        "warn",
        0,
    )
    assert views["customer_profile"]["status"] == "ok"
    lost = {r["feature"] for r in summary["online"]["skew"] if r["status"] == "alert"}
    assert "tx_branch" in lost and "bal_total" not in lost
    alerts = {(a["kind"], a["subject"], a["status"]) for a in summary["alerts"]}
    assert ("freshness", "balances_flows", "alert") in alerts
    assert ("skew", "tx_branch", "alert") in alerts

    (copy / "monitoring.toml").write_text("[features.market_rat]\npsi_alert = 1.0\n")
    unknown = monitor("--no-mlflow", at=copy)
    assert unknown.returncode == 2
    last = unknown.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "unknown feature(s) in [features]: market_rat" in last
    assert "did you mean market_rate?" in last and "Traceback" not in unknown.stderr
