"""A bank that brings one snapshot with a known outcome trains, registers and promotes a churn
model: ``retain ingest`` (snapshot mode), ``features build/apply``, ``train churn`` on a stratified
split of customers with cross-validation, ``promote churn`` on the same test split; the output,
the run and the model card say that no out-of-time validation was possible."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from retain.core.settings import Settings
from tests.conftest import CliRunner

pytestmark = pytest.mark.slow


def write_snapshot_bank(folder: Path, customers: int = 3000, seed: int = 11) -> dict:
    """One CSV export of a bank's customers at 2024-06-30 with whether each left afterwards
    (like Churn_Modelling.csv); returns its mapping. The outcome depends on the bank's own
    columns (products, activity) and on age, partly in ways a linear model cannot follow."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 90, customers)
    products = rng.choice([1, 2, 3, 4], customers, p=[0.45, 0.35, 0.15, 0.05])
    active = rng.random(customers) < 0.5
    balance = np.where(rng.random(customers) < 0.3, 0.0, rng.gamma(4.0, 30_000.0, customers))
    country = rng.choice(["France", "Spain", "Germany"], customers)
    logit = (
        -2.2
        + 2.0 * ((age >= 42) & (age < 66))
        + 2.2 * (products >= 3)
        - 1.0 * (products == 2)
        - 1.0 * active
        + 0.8 * ((country == "Germany") & (balance > 0))
    )
    exited = rng.random(customers) < 1 / (1 + np.exp(-logit))
    pd.DataFrame(
        {
            "CustomerId": 15_000_000 + rng.permutation(customers),
            "Geography": country,
            "Gender": rng.choice(["Female", "Male"], customers),
            "Age": age,
            "Tenure": rng.integers(0, 11, customers),
            "Balance": balance.round(2),
            "NumOfProducts": products,
            "HasCrCard": (rng.random(customers) < 0.7).astype(int),
            "IsActiveMember": active.astype(int),
            "Exited": exited.astype(int),
        }
    ).to_csv(folder / "snapshot.csv", index=False)
    return {
        "version": 1,
        "snapshot": {"as_of": "2024-06-30", "label": {"table": "customers", "column": "Exited"}},
        "tables": {
            "customers": {
                "path": "snapshot.csv",
                "columns": {
                    "customer_id": "CustomerId",
                    "region": "Geography",
                    "gender": {"column": "Gender", "values": {"Female": "f", "Male": "m"}},
                    "join_date": {"column": "Tenure", "ago": "years"},
                },
                "extras": {
                    "products": {"column": "NumOfProducts", "type": "int"},
                    "active_member": {"column": "IsActiveMember", "type": "bool"},
                },
            },
            "monthly": {
                "path": "snapshot.csv",
                "columns": {
                    "customer_id": "CustomerId",
                    "age": "Age",
                    "bal_current": "Balance",
                    "has_credit_card": "HasCrCard",
                },
            },
        },
    }


def test_one_snapshot_trains_registers_and_promotes(
    run_cli: CliRunner, settings: Settings, tmp_path: Path
):
    """Ingest, build, apply; a time split is refused before the frame is built, with what a bank
    can do; the default trains in snapshot mode and says so in its output, its run and its
    model card; promotion scores on the same stratified test split, says so, and promotes."""
    from training.registry import version_by_alias
    from training.tracking import client

    folder = tmp_path / "bank"
    folder.mkdir()
    mapping = folder / "bank.yaml"
    mapping.write_text(yaml.safe_dump(write_snapshot_bank(folder), sort_keys=False))
    for args in (
        ("ingest", "--mapping", str(mapping)),
        ("features", "build"),
        ("features", "apply"),
    ):
        done = run_cli(*args)
        assert done.returncode == 0, done.stderr[-2000:]

    service = ("--service", "churn_bank_v1")
    fast = ("--num-threads", "1", "--shap-sample", "100")
    refused = run_cli("train", "churn", *service, "--split", "time")
    assert refused.returncode == 2
    errors = [ln for ln in refused.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "only 1 labelled as-of months" in errors[0]
    assert "ingest a longer history" in errors[0] and "Traceback" not in refused.stderr
    assert "training frame" not in refused.stderr  # decided from the labels alone

    trained = run_cli("train", "churn", *service, *fast)
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert "no room for a split by time" in trained.stderr
    out = " ".join(trained.stdout.split())  # rich wraps lines
    assert "no out-of-time validation was possible" in out
    assert "cross-validated ROC AUC (5 stratified folds of customers, mean ± sd)" in out
    assert "test split snapshot 2024-06-30, 20% of customers (600;" in out

    c = client(settings)
    mv = version_by_alias(settings, "retain-churn", "challenger")
    assert mv is not None and str(mv.version) == "1"
    run = c.get_run(mv.run_id)
    assert run.data.params["split"] == "snapshot" and run.data.tags["split"] == "snapshot"
    assert run.data.tags["validation"].startswith("in-time: no out-of-time validation")
    assert run.data.params["feature_service"] == "churn_bank_v1"
    assert run.data.metrics["cv_roc_auc_mean"] > 0.7
    assert run.data.metrics["cv_roc_auc_mean"] > run.data.metrics["cv_logistic_roc_auc_mean"]
    card = Path(c.download_artifacts(mv.run_id, "model_card.md", str(tmp_path))).read_text()
    assert "**No out-of-time validation was possible.**" in card
    assert "Cross-validation, 5 stratified folds of customers" in card

    promoted = run_cli("promote", "churn")
    assert promoted.returncode == 0, promoted.stderr[-2000:]
    out = " ".join(promoted.stdout.split())
    assert "window snapshot 2024-06-30, 20% of customers (600;" in out
    assert "in-time: the challenger's stratified test split of customers (seed 7)" in out
    assert "beats_logistic" in out
    champion = version_by_alias(settings, "retain-churn", "champion")
    assert champion is not None and str(champion.version) == "1"
    gate = c.get_model_version("retain-churn", "1").tags
    assert gate["gate.outcome"] == "promoted" and gate["gate.validation"].startswith("in-time")
