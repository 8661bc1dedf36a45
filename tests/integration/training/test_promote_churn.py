"""Training runs, registry aliases, the promotion gate and rollback against a real (temporary)
MLflow SQLite store, on a small synthetic churn dataset (no simulator or Feast needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from retain.core.errors import NotReadyError
from retain.core.settings import Settings
from training.churn.job import train_churn
from training.churn.load import load_model
from training.churn.synthetic import synthetic_dataset
from training.config import GateConfig, TrainConfig
from training.promote import promote, rollback
from training.registry import version_by_alias
from training.tracking import client

pytestmark = pytest.mark.slow
NAME = "retain-churn"
FAST = TrainConfig(num_threads=1, shap_sample=200)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(home=tmp_path_factory.mktemp("promote") / "home")


@pytest.fixture(scope="module")
def data():
    return synthetic_dataset(customers=1500, seed=3)


@pytest.fixture(scope="module")
def first(store, data):
    """Version 1: a real model, promoted to champion."""
    result = train_churn(store, FAST, data=data)
    promotion = promote(store, data=data, config=FAST)
    return result, promotion


def test_training_run_logs_everything_a_reviewer_needs(store, first):
    """Params, metrics, plots, model card, importance, feature service, window, fingerprint."""
    result, _ = first
    c = client(store)
    run = c.get_run(result.run_id)
    assert run.data.params["feature_service"] == "churn_v1"
    assert run.data.params["train_window"].startswith("2023-")
    assert len(run.data.tags["data_fingerprint"]) == 64
    assert run.data.tags["code_version"]
    for key in (
        "roc_auc",
        "ece",
        "lift_top10",
        "logistic_roc_auc",
        "rule_roc_auc",
        "truth_auc",
        "corr_pred_truth",
        "four_fifths_gender",
    ):
        assert key in run.data.metrics
    files = {a.path for a in c.list_artifacts(result.run_id)}
    files |= {a.path for a in c.list_artifacts(result.run_id, "plots")}
    for name in (
        "model_card.md",
        "feature_importance.csv",
        "feature_service.json",
        "evaluation.json",
        "plots/roc_pr.png",
        "plots/calibration.png",
        "plots/gain_lift.png",
        "plots/shap_summary.png",
    ):
        assert name in files
    assert any(f.startswith("plots/shap_dependence_") for f in files)


def test_the_registered_model_carries_calibration_and_category_levels(store, data, first):
    """Serving loads the champion's native booster and metadata, and gets the same scores."""
    result, _ = first
    loaded = load_model(store)
    assert loaded.version == result.version == "1"
    assert loaded.model.spec.levels["region"] == ("east", "north", "south", "west")
    assert loaded.model.calibration["method"] == "platt"
    rows = data.frame.tail(50)
    np.testing.assert_allclose(
        loaded.model.predict_proba(rows), result.fitted.model.predict_proba(rows), rtol=1e-9
    )
    mv = client(store).get_model_version(NAME, "1")
    assert "challenger" in mv.aliases and "champion" in mv.aliases


def test_first_model_becomes_champion_by_beating_the_baselines(first):
    """Without a champion the gate checks only the baselines."""
    _, promotion = first
    assert promotion.decision.promote
    assert promotion.champion is None
    assert {c.name for c in promotion.decision.checks} == {"beats_logistic", "beats_rule"}


@pytest.fixture(scope="module")
def shuffled(store, data, first):
    """Version 2: trained on shuffled labels, then put to the gate."""
    result = train_churn(
        store,
        TrainConfig(num_threads=1, shap_sample=100, shuffle_labels=True, num_boost_round=50),
        data=data,
    )
    return result, promote(store, data=data, config=FAST)


def test_a_worse_challenger_is_refused_and_the_champion_stays(store, shuffled):
    """A model trained on shuffled labels fails the gate; champion still points at v1."""
    result, promotion = shuffled
    assert result.version == "2"
    assert not promotion.decision.promote
    assert str(version_by_alias(store, NAME, "champion").version) == "1"
    assert "AUC" in promotion.decision.reason


def test_the_outcome_and_its_figures_are_tags_on_the_versions(store, shuffled):
    """The refused version records outcome, reason, AUCs and checks; the champion the challenge."""
    c = client(store)
    tags = c.get_model_version(NAME, "2").tags
    assert tags["gate.outcome"] == "refused"
    assert tags["gate.against"] == "1"
    assert "gate.auc_vs_champion" in tags and "gate.champion_auc" in tags
    assert "refused challenger 2" in c.get_model_version(NAME, "1").tags["gate.last_challenge"]


def test_rollback_restores_the_previous_champion(store, data, shuffled):
    """v3 passes a lax gate and becomes champion; rollback puts v1 back, and keeps the history."""
    train_churn(store, TrainConfig(num_threads=1, shap_sample=100, seed=11), data=data)
    lax = GateConfig(max_auc_drop=1.0, max_ece=1.0, max_slice_auc_drop=1.0)
    assert promote(store, lax, data=data, config=FAST).decision.promote
    assert str(version_by_alias(store, NAME, "champion").version) == "3"
    back = rollback(store)
    assert (back.from_version, back.to_version) == ("3", "1")
    assert str(version_by_alias(store, NAME, "champion").version) == "1"
    history = json.loads(client(store).get_registered_model(NAME).tags["champion.history"])
    assert history == ["1"]
    with pytest.raises(NotReadyError, match="first champion"):
        rollback(store)


def test_promotion_without_a_challenger_is_refused(tmp_path: Path, data):
    """An empty registry has nothing to promote."""
    with pytest.raises(NotReadyError, match="no challenger"):
        promote(Settings(home=tmp_path / "empty"), data=data)


def test_same_data_and_seed_give_the_same_model_and_metrics(store, data, first):
    """Training twice on the same data with the same seed gives identical scores and metrics."""
    from training.churn.job import fit_and_evaluate

    a = fit_and_evaluate(data, TrainConfig(num_threads=1, num_boost_round=40, shap_sample=50))
    b = fit_and_evaluate(data, TrainConfig(num_threads=1, num_boost_round=40, shap_sample=50))
    rows = data.frame.head(500)
    assert np.array_equal(a.model.predict_proba(rows), b.model.predict_proba(rows))
    assert a.report.flat_metrics() == b.report.flat_metrics()
    assert a.info["data_fingerprint"] == b.info["data_fingerprint"]


def test_tuning_logs_one_nested_run_per_trial(tmp_path: Path, data):
    """`--tune 2` runs two optuna trials as nested runs of the training run."""
    home = Settings(home=tmp_path / "home")
    result = train_churn(home, FAST, data=data, tune_trials=2)
    c = client(home)
    run = c.get_run(result.run_id)
    children = c.search_runs(
        [run.info.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{result.run_id}'"
    )
    assert len(children) == 2
    assert all("valid_roc_auc" in child.data.metrics for child in children)


@pytest.fixture
def postgres_home(tmp_path: Path):
    """Production-profile settings whose MLflow store is a PostgreSQL database of its own."""
    import psycopg

    name = f"retain_t_{tmp_path.name[-12:].lower().replace('-', '_')}_{np.random.randint(1e9)}"
    admin = "postgresql://postgres@127.0.0.1:5432/test"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield Settings(
        home=tmp_path / "home",
        profile="production",
        postgres_url=f"postgresql://postgres@127.0.0.1:5432/{name}",
    )
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_the_production_profile_tracks_and_registers_in_postgresql(postgres_home, data):
    """Runs, versions and aliases live in PostgreSQL; promotion works the same there."""
    import psycopg

    result = train_churn(postgres_home, FAST, data=data)
    promote(postgres_home, data=data, config=FAST)
    assert int(version_by_alias(postgres_home, NAME, "champion").version) == int(result.version)
    with psycopg.connect(postgres_home.postgres_url) as conn:
        (runs,) = conn.execute("SELECT count(*) FROM runs").fetchone()
        (aliases,) = conn.execute(
            "SELECT count(*) FROM registered_model_aliases WHERE alias = 'champion'"
        ).fetchone()
    assert runs == 1 and aliases == 1
