"""``retain monitor`` on the served bank of the integration tests (1,500 simulated customers, a
churn champion): the one end-to-end run of monitoring."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from retain.core.settings import Settings
from tests.integration.conftest import RETAIN


def test_it_compares_the_training_window_with_the_latest_months(home: Settings) -> None:
    """Exit 0, a table and the report path on stdout; the HTML report (charts embedded) and the
    JSON summary on disk, covering every feature of the champion; a run in MLflow. A window
    without data is one line and exit status 2."""

    def monitor(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [RETAIN, "monitor", *args],
            env={**os.environ, "RETAIN_HOME": str(home.home)},
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
    assert summary["reference"] == model.info["train_window"].split(" ")[0]
    assert summary["current"] == "2024-10..2024-12"
    windows = {r["window"] for r in summary["performance"]}
    assert windows == {"reference", "between", "current"}
    between = [r for r in summary["performance"] if r["window"] == "between"]
    assert all(r["labelled"] and 0.5 < r["realised_auc"] <= 1 for r in between)
    assert all(0.5 < r["estimated_auc"] < 1 for r in summary["performance"])
    assert 0 <= summary["attribution"]["ndcg"] <= 1
    assert summary["summary"]["status"] in ("ok", "warn", "alert")

    from training.tracking import client

    c = client(home)
    exp = c.get_experiment_by_name("retain-monitoring")
    runs = c.search_runs([exp.experiment_id])
    assert runs and "psi.bal_total" in runs[0].data.metrics
