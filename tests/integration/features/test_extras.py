"""A bank's own columns (``extras`` of its ingest mapping) reach Feast: the ``bank_extras`` view
and the ``churn_bank_v1`` service, point-in-time like every other view; a bank without extras
keeps exactly the views and services it had."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from features.frames import entity_frame, feature_names
from retain.core.settings import Settings
from tests.conftest import CliRunner
from tests.integration.features.test_cli import FEAST, REPO_ROOT
from tests.integration.ingest.test_cli import _raw, write_csv_bank

pytestmark = pytest.mark.integration

RETAIN_VIEWS = {
    "customer_profile",
    "balances_flows",
    "engagement_channels",
    "service_complaints",
    "product_holdings",
    "contact_history",
    "customer_segments",
    "request_time",
}


def _with_extras(folder: Path) -> dict:
    """The CSV bank of ``test_ingest_cli`` with a customer-level extra (a segment code, a
    credit score) and a monthly one (the month's number, 0 for the first month)."""
    mapping = write_csv_bank(folder)
    customers = pd.read_csv(folder / "customers.csv")
    customers["SEGMENT"] = ["gold" if i % 3 == 0 else "silver" for i in range(len(customers))]
    customers["BUREAU"] = 500 + customers["CUST_NO"] % 300
    customers.to_csv(folder / "customers.csv", index=False)
    snapshots = pd.read_csv(folder / "snapshots.csv")
    periods = sorted(snapshots["PERIOD"].unique())
    snapshots["MONTH_NO"] = snapshots["PERIOD"].map({p: i for i, p in enumerate(periods)})
    snapshots.to_csv(folder / "snapshots.csv", index=False)
    mapping["tables"]["customers"]["extras"] = {
        "segment": "SEGMENT",
        "bureau_score": {"column": "BUREAU", "type": "int"},
    }
    mapping["tables"]["monthly"]["extras"] = {"month_no": {"column": "MONTH_NO", "type": "float"}}
    return mapping


def _ingest_build_apply(run_cli: CliRunner, mapping: dict, folder: Path) -> str:
    path = folder / "bank.yaml"
    path.write_text(yaml.safe_dump(mapping, sort_keys=False))
    for args in (("ingest", "--mapping", str(path)), ("features", "build"), ("features", "apply")):
        result = run_cli(*args)
        assert result.returncode == 0, result.stderr
    return result.stderr + result.stdout


def test_extras_reach_feast_point_in_time(run_cli: CliRunner, settings: Settings, tmp_path: Path):
    """With extras, apply registers ``bank_extras`` (typed from the mapping) and
    ``churn_bank_v1`` = churn_v1 + the extras, which the ``feast`` CLI sees too; a frame through
    it carries each month's value from that month end on, the customer's extras throughout, and
    nothing before the first month end. ``churn_v1`` is unchanged. Ingesting the bank again
    without extras removes the view and the service."""
    folder = tmp_path / "bank"
    folder.mkdir()
    plain = write_csv_bank(folder)
    _ingest_build_apply(run_cli, plain, folder)
    churn_v1 = feature_names(settings, "churn_v1")

    applied = _ingest_build_apply(run_cli, _with_extras(folder), folder)
    assert "bank_extras" in applied and "churn_bank_v1" in applied
    assert feature_names(settings, "churn_v1") == churn_v1
    bank = feature_names(settings, "churn_bank_v1")
    assert bank == [*churn_v1, "segment", "bureau_score", "month_no"]

    env = {**os.environ, "RETAIN_HOME": str(settings.home)}
    listed = subprocess.run(
        [FEAST, "-c", "features/repo", "-f", str(settings.feast_dir / "feature_store.yaml")]
        + ["feature-services", "list"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert listed.returncode == 0, listed.stderr
    assert {line.split()[0] for line in listed.stdout.splitlines()[1:] if line.strip()} == {
        "churn_v1",
        "churn_bank_v1",
        "segments_v1",
    }

    monthly = _raw(settings.raw_dir, "monthly")
    customer = int(monthly["customer_id"].value_counts().index[0])  # one with several months
    stamps = sorted(monthly.loc[monthly["customer_id"] == customer, "month_end"])
    periods = sorted(monthly["month_end"].dt.strftime("%Y-%m").unique())
    first_month = periods.index(stamps[0].strftime("%Y-%m"))
    times = [stamps[0] - pd.Timedelta(days=1), stamps[0], stamps[1] + pd.Timedelta(days=10)]
    rows = pd.DataFrame({"customer_id": customer, "event_timestamp": times})
    frame = entity_frame(settings, rows, "churn_bank_v1")
    assert str(frame["bureau_score"].dtype) == "Int64" and frame["month_no"].dtype == "float64"
    assert frame["month_no"].isna().tolist() == [True, False, False]
    assert frame["month_no"].tolist()[1:] == [first_month, first_month + 1]
    score = 500 + customer % 300
    assert frame["bureau_score"].tolist()[1:] == [score, score]
    assert frame["segment"].iloc[1] in ("gold", "silver")

    applied = _ingest_build_apply(run_cli, plain, folder)
    assert "bank_extras" not in applied and "churn_bank_v1" not in applied
    assert not (settings.sources_dir / "bank_extras").exists()
    assert feature_names(settings, "churn_v1") == churn_v1
