"""The product propensity model on a small simulated bank, end to end: ``retain train
propensity`` through Feast and MLflow, the registry, promotion on the headline metric, refusal,
rollback, and the loaded model's probabilities and explanations."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from retain.core.errors import NotReadyError
from retain.core.settings import Settings
from tests.conftest import RETAIN
from training.registry import version_by_alias
from training.tracking import client

pytestmark = pytest.mark.slow
NAME = "retain-propensity"


def make_bank(home: Path, customers: int, months: int = 24, seed: int = 7) -> Settings:
    """Simulate a bank and apply the feature repo over it."""
    from features.build import build_sources
    from features.store import apply
    from simulator import WorldConfig, simulate

    settings = Settings(home=home)
    simulate(WorldConfig(customers=customers, months=months, seed=seed), settings)
    build_sources(settings)
    apply(settings)
    return settings


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_bank(tmp_path_factory.mktemp("propensity") / "home", customers=3000)


@pytest.fixture
def settings(bank: Settings) -> Settings:
    """``run_cli`` runs against the module's simulated bank."""
    return bank


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RETAIN_HOME": str(settings.home)}
    return subprocess.run([RETAIN, *args], env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def trained(bank: Settings) -> tuple[subprocess.CompletedProcess[str], Any]:
    """``retain train propensity`` once; its run."""
    done = cli(bank, "train", "propensity", "--num-threads", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    mv = version_by_alias(bank, NAME, "challenger")
    assert mv is not None
    return done, client(bank).get_run(mv.run_id)


def test_the_run_records_metrics_against_baselines_and_truth(bank, trained):
    """Per-product AUC, macro AUC, hit rate and MAP@3 of the model, the popular ranking and the
    simulator's truth; the feature service, windows, fingerprint and code version."""
    done, run = trained
    assert "test_macro_auc" in done.stdout and "challenger" in done.stdout
    m, params, tags = run.data.metrics, run.data.params, run.data.tags
    assert m["test_macro_auc"] > 0.55  # 0.64 on the default 10k bank; truth ~0.68 on both
    assert m["test_truth_macro_auc"] > 0.6
    for prefix in ("", "popular_", "truth_"):
        assert 0 < m[f"test_{prefix}hit_rate_at_3"] <= 1
        assert 0 < m[f"test_{prefix}map_at_3"] <= m[f"test_{prefix}hit_rate_at_3"]
    # Ranking by the customer's own propensities should not lose to one fixed order.
    assert m["test_hit_rate_at_3"] >= m["test_popular_hit_rate_at_3"] - 0.02
    products = params["products"].split(",")
    assert len(products) >= 8
    for p in products:
        assert 0 <= m[f"test_auc_{p}"] <= 1 and m[f"test_positives_{p}"] >= 0
    assert params["feature_service"] == "churn_v1"
    assert params["train_window"] and params["test_window"]
    assert len(tags["data_fingerprint"]) == 64 and tags["code_version"]
    artifacts = {a.path for a in client(bank).list_artifacts(run.info.run_id)}
    assert {"model_card.md", "evaluation.json", "feature_service.json", "plots"} <= artifacts


def test_no_champion_before_promotion(bank, trained):
    from training.propensity.load import load_propensity

    with pytest.raises(NotReadyError, match="retain promote propensity"):
        load_propensity(bank)


def test_promoted_model_loads_and_explains_itself(bank, trained):
    """Promoted on its macro AUC; probabilities in [0, 1] per product; TreeSHAP contributions
    plus the base value add up to the raw score."""
    from features.frames import entity_frame
    from training.encode import encode
    from training.propensity.load import load_propensity

    promoted = cli(bank, "promote", "propensity")
    assert promoted.returncode == 0, promoted.stderr[-2000:]
    assert "test_macro_auc_above_floor" in promoted.stdout
    model, version = load_propensity(bank)
    assert version == "1"
    assert model.info["feature_service"] == "churn_v1"
    rows = pd.DataFrame(
        {
            "customer_id": np.arange(1, 51, dtype="int64"),
            "event_timestamp": pd.Timestamp("2024-06-30 23:59:59", tz="UTC"),
        }
    )
    x = encode(entity_frame(bank, rows), model.spec).to_numpy()
    p = model.predict_proba(x)
    assert p.shape == (50, len(model.products))
    assert np.all((p >= 0) & (p <= 1)) and p.std() > 0
    product = model.products[0]
    contrib = model.contributions(x, product)
    assert contrib.shape == (50, len(model.spec.features) + 1)
    raw = model.boosters[product].predict(x, raw_score=True)
    np.testing.assert_allclose(contrib.sum(axis=1), raw, rtol=1e-6, atol=1e-6)


def champion(bank: Settings) -> str:
    return str(version_by_alias(bank, NAME, "champion").version)


def _fake_challenger(bank: Settings, macro_auc: float) -> str:
    """A new version (same files as v1) whose run reports ``macro_auc``."""
    c = client(bank)
    files = c.get_model_version_download_uri(NAME, "1")
    exp = c.get_experiment_by_name("retain-propensity").experiment_id
    run = c.create_run(exp)
    c.log_metric(run.info.run_id, "test_macro_auc", macro_auc)
    c.set_terminated(run.info.run_id)
    mv = c.create_model_version(NAME, files, run_id=run.info.run_id)
    c.set_registered_model_alias(NAME, "challenger", mv.version)
    return str(mv.version)


def test_a_worse_challenger_is_refused_then_a_tolerated_one_promoted_and_rolled_back(bank, trained):
    """Refusal exits 1 with one ``error:`` line and leaves the champion; a looser tolerance
    lets it through; rollback restores version 1."""
    m1 = trained[1].data.metrics["test_macro_auc"]
    if version_by_alias(bank, NAME, "champion") is None:  # run alone: promote version 1 first
        assert cli(bank, "promote", "propensity").returncode == 0
    below_chance = _fake_challenger(bank, 0.45)
    refused = cli(bank, "promote", "propensity", "--tolerance", "1.0")
    assert refused.returncode == 1
    errors = [ln for ln in refused.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "refused" in errors[0] and "Traceback" not in refused.stderr
    assert champion(bank) == "1"
    tags = client(bank).get_model_version(NAME, below_chance).tags
    assert tags["gate.outcome"] == "refused"

    worse = _fake_challenger(bank, m1 - 0.05)
    assert cli(bank, "promote", "propensity").returncode == 1
    assert champion(bank) == "1"
    loose = cli(bank, "promote", "propensity", "--tolerance", "0.1")
    assert loose.returncode == 0, loose.stderr[-2000:]
    assert champion(bank) == worse

    back = cli(bank, "rollback", "propensity")
    assert back.returncode == 0, back.stderr[-2000:]
    assert champion(bank) == "1"
