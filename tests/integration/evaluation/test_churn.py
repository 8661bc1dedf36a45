"""``retain evaluate churn`` on the real stack: a bank's one snapshot (ingested, features built
and applied; folds of customers, logged to MLflow) and the served simulated bank's monthly
history (time folds), with the refusals a bank meets on the way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from retain.core.settings import Settings
from tests.conftest import CliRunner
from tests.integration.training.test_snapshot import write_snapshot_bank

pytestmark = pytest.mark.slow

FAST = ("--num-threads", "1")


def one_line_error(done) -> str:
    """The single ``error:`` line of a refused command (exit 2, no traceback)."""
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    errors = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, done.stderr
    return errors[0]


def test_a_snapshot_bank_is_evaluated_by_folds_of_customers(
    run_cli: CliRunner, settings: Settings, tmp_path: Path
):
    """Before the features are applied: refused, naming the step. Then 3 folds of customers
    through churn_bank_v1, beside the logistic regression, in-time and saying so; the report's
    files and an MLflow run. Too many folds for the churners: refused before the frame."""
    from training.tracking import client

    folder = tmp_path / "bank"
    folder.mkdir()
    mapping = folder / "bank.yaml"
    mapping.write_text(yaml.safe_dump(write_snapshot_bank(folder), sort_keys=False))
    ingested = run_cli("ingest", "--mapping", str(mapping))
    assert ingested.returncode == 0, ingested.stderr[-2000:]
    service = ("--service", "churn_bank_v1")

    assert "retain features apply" in one_line_error(run_cli("evaluate", "churn", *service))
    for args in (("features", "build"), ("features", "apply")):
        done = run_cli(*args)
        assert done.returncode == 0, done.stderr[-2000:]

    too_many = run_cli("evaluate", "churn", *service, "--folds", "1000")
    assert "customers who churn" in one_line_error(too_many)
    assert "training frame" not in too_many.stderr  # decided from the labels alone

    out_dir = tmp_path / "report"
    done = run_cli("evaluate", "churn", *service, *FAST, "--folds", "3", "--output", str(out_dir))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "3 stratified folds of customers" in done.stderr
    stdout = " ".join(done.stdout.split())
    assert "retain (LightGBM)" in stdout and "logistic regression" in stdout
    assert "validation: in-time: no out-of-time validation was possible" in stdout
    report = json.loads((out_dir / "churn_evaluation.json").read_text())
    assert report["mode"] == "snapshot" and report["feature_service"] == "churn_bank_v1"
    assert report["customers"] == 3000 and len(report["per_fold"]) == 3
    auc = report["summary"]["model"]["roc_auc"]["mean"]
    assert auc > 0.7 and auc > report["summary"]["logistic"]["roc_auc"]["mean"]
    assert report["gains"]["model"][0]["lift"] > 1.5
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "churn_evaluation.json",
        "churn_evaluation.md",
        "churn_evaluation_calibration.png",
        "churn_evaluation_gain_lift.png",
        "churn_evaluation_roc_pr.png",
    ]

    c = client(settings)
    experiment = c.get_experiment_by_name("retain-churn-evaluation")
    assert experiment is not None
    (run,) = c.search_runs([experiment.experiment_id])
    assert run.data.params["split"] == "snapshot" and run.data.params["folds"] == "3"
    assert run.data.metrics["cv_model_roc_auc_mean"] == pytest.approx(auc)
    artifacts = {a.path for a in c.list_artifacts(run.info.run_id)}
    assert {"churn_evaluation.md", "churn_evaluation_gain_lift.png"} <= artifacts


def test_a_monthly_history_is_evaluated_by_later_blocks_of_months(
    home: Settings, tmp_path: Path, run_cli: CliRunner
):
    """The served simulated bank: time folds, out-of-time, each fold's held-out block later
    than the one before; the shared home is only read (report elsewhere, no MLflow run)."""
    done = run_cli(
        "evaluate",
        "churn",
        *FAST,
        "--folds",
        "2",
        "--no-mlflow",
        "--output",
        str(tmp_path),
        env={"RETAIN_HOME": str(home.home)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "2 time folds: test blocks of 2 month(s)" in " ".join(done.stderr.split())
    report = json.loads((tmp_path / "churn_evaluation.json").read_text())
    assert report["mode"] == "time" and report["validation"].startswith("out-of-time")
    held = [f["held_out"] for f in report["per_fold"]]
    assert held == sorted(held) and len(set(held)) == 2
    assert report["summary"]["model"]["roc_auc"]["mean"] > 0.6
