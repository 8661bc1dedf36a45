"""The retention uplift model on a small simulated bank: trained from Feast, tracked and
registered in MLflow, loaded back by alias."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from retain.core.errors import DataError, NotReadyError
from retain.core.settings import Settings
from retain.core.tables import RETENTION_ACTIONS
from training.encode import encode
from training.uplift.data import load_frame
from training.uplift.job import (
    EXPERIMENT,
    MODEL_NAME,
    UpliftConfig,
    UpliftResult,
    fit_and_evaluate,
    train_uplift,
)
from training.uplift.load import load_uplift

LEARNERS = ("t", "pooled_x", "dr")
"""Three of the five (each kind's own fit is tested in the unit tests): a third less time."""
pytestmark = pytest.mark.slow


@dataclass
class Bank:
    settings: Settings
    frame: pd.DataFrame
    features: list[str]


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Bank:
    """3,000 customers over 24 months: about 75 randomised contacts per action to train on."""
    from features.build import build_sources
    from features.store import apply
    from simulator import WorldConfig, simulate

    settings = Settings(home=tmp_path_factory.mktemp("uplift") / "home")
    simulate(WorldConfig(customers=3000, months=24, seed=11), settings)
    build_sources(settings)
    apply(settings)
    frame, features = load_frame(settings)
    return Bank(settings, frame, features)


@pytest.fixture(scope="module")
def trained(bank: Bank) -> UpliftResult:
    from simulator.truth import ground_truth

    return train_uplift(
        bank.settings,
        seed=7,
        num_threads=2,
        config=UpliftConfig(compare=True, learners=LEARNERS),
        frame=(bank.frame, bank.features),
        truth=ground_truth(bank.settings),
    )


def test_metrics_are_logged_with_sample_sizes(bank, trained):
    """The run holds the headline Qini (the gate's protocol: each offer against its own
    holdouts), each action's Qini and AUUC, the comparisons inside the experiment beside it, the
    baselines and sizes."""
    from training.tracking import client

    run = client(bank.settings).get_run(trained.run_id)
    metrics = run.data.metrics
    assert math.isfinite(metrics["test_qini_mean"])
    for action in RETENTION_ACTIONS:
        for key in (f"test_qini_{action}", f"test_auuc_{action}", f"random_test_qini_{action}"):
            assert key in metrics
        for side in ("_vs_cross_sell", "_vs_holdout", "_vs_none"):
            assert f"test_qini{side}_{action}" in metrics
            assert f"random_test_qini_p95{side}_{action}" in metrics
        assert metrics[f"train_n_{action}"] >= 40
    assert "churn_score_test_qini_mean" in metrics
    assert "truth_test_qini_mean" in metrics and "truth_corr_mean" in metrics
    assert metrics["train_n_none"] > metrics["train_n_fee_waiver"]
    assert run.data.params["feature_service"] == "churn_v1"
    assert run.data.tags["data_fingerprint"]
    # every learner compared on the same test window, the kept one named, the random spread
    for kind in LEARNERS:
        assert f"learner_{kind}_test_qini_mean" in metrics
    assert run.data.params["learner"] in LEARNERS
    assert metrics["random_test_qini_p95_mean"] > metrics["random_test_qini_mean"]
    experiment = client(bank.settings).get_experiment(run.info.experiment_id)
    assert experiment.name == EXPERIMENT
    artifacts = {a.path for a in client(bank.settings).list_artifacts(trained.run_id, "plots")}
    assert "plots/qini.png" in artifacts


def test_registered_as_challenger_and_loaded_as_champion(bank, trained):
    """Absent champion: a one-line hint; after the alias is set, the boosters load natively and
    give one finite effect per action for encoded rows."""
    from training.tracking import client

    c = client(bank.settings)
    assert str(c.get_model_version_by_alias(MODEL_NAME, "challenger").version) == trained.version
    with pytest.raises(NotReadyError, match="retain promote uplift"):
        load_uplift(bank.settings)
    c.set_registered_model_alias(MODEL_NAME, "champion", trained.version)
    model, version = load_uplift(bank.settings)
    assert version == trained.version
    assert model.actions == RETENTION_ACTIONS
    x = encode(bank.frame.head(50), model.spec).to_numpy()
    effects = model.effects(x)
    assert effects.shape == (50, len(RETENTION_ACTIONS))
    assert np.isfinite(effects).all()
    np.testing.assert_allclose(effects, trained.fitted.model.effects(x))
    assert model.info["feature_service"] == "churn_v1"


def test_the_pyfunc_flavour_scores_a_feature_frame(bank, trained):
    """``mlflow.pyfunc.load_model`` gives a frame with one column per action."""
    import mlflow

    from training.tracking import tracking

    with tracking(bank.settings):
        pyfunc = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}/{trained.version}")
        out = pyfunc.predict(bank.frame[bank.features].head(5))
    assert list(out.columns) == list(RETENTION_ACTIONS)
    assert len(out) == 5


def test_too_few_randomised_contacts_is_a_clear_data_error(bank):
    """The error says how many contacts there are and that a bigger history is needed."""
    with pytest.raises(DataError, match="too few randomised retention contacts.*fee_waiver \\d+"):
        fit_and_evaluate(bank.frame, bank.features, UpliftConfig(min_contacts=10**6))


def test_effects_of_no_rows(trained):
    """An empty batch gives an empty [0, actions] array."""
    model = trained.fitted.model
    assert model.effects(np.empty((0, len(model.spec.features)))).shape == (0, 4)
