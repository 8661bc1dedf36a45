"""The uplift learners: the DR pseudo-outcome, the selection rule, and every learner on a
synthetic experiment whose effects are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retain.core.tables import RETENTION_ACTIONS
from training.encode import encode, fit_spec
from training.uplift.job import keep_best
from training.uplift.model import (
    CONTROL,
    KINDS,
    LearnerConfig,
    UpliftModel,
    dr_pseudo_outcome,
    fit_learners,
    fit_uplift,
)


def test_the_dr_pseudo_outcome_is_unbiased_when_the_outcome_models_are_wrong():
    """With the true propensity, wrong outcome models still give the average effect (0.1)."""
    rng = np.random.default_rng(0)
    n = 200_000
    treated = (rng.random(n) < 0.3).astype(float)
    y = (rng.random(n) < 0.2 + 0.1 * treated).astype(float)
    pseudo = dr_pseudo_outcome(y, treated, np.full(n, 0.5), np.full(n, 0.9), 0.3)
    assert pseudo.mean() == pytest.approx(0.1, abs=0.01)


@pytest.mark.parametrize(
    ("qini", "kept"),
    [
        ({"t": 0.01, "pooled_offset": 0.05, "dr": 0.02}, "pooled_offset"),
        ({"t": 0.0495, "pooled_offset": 0.05, "dr": 0.02}, "t"),  # a tie: the simpler one
        ({"t": float("nan"), "pooled_offset": -0.01, "dr": 0.02}, "dr"),
        ({"t": float("nan"), "pooled_offset": float("nan"), "dr": float("nan")}, "t"),
    ],
)
def test_the_best_validation_qini_is_kept_and_ties_go_to_the_simpler_learner(qini, kept):
    assert keep_best(qini, ("t", "pooled_offset", "dr"), tie=0.001) == kept


@pytest.fixture(scope="module")
def experiment() -> tuple[pd.DataFrame, np.ndarray]:
    """1,000 customers, each with no-contact rows and randomised contacts: an offer lowers
    churn by 0.3 where ``x1 > 0.5`` and raises it by 0.1 elsewhere (each action alike)."""
    rng = np.random.default_rng(1)
    n = 6_000
    x1, x2 = rng.random(n), rng.random(n)
    arm = rng.choice(
        [*RETENTION_ACTIONS, "cross_sell", "none"], size=n, p=[0.1, 0.1, 0.1, 0.1, 0.1, 0.5]
    )
    effect = np.where(x1 > 0.5, -0.3, 0.1)
    offered = np.isin(arm, RETENTION_ACTIONS)
    churned = rng.random(n) < 0.4 + 0.1 * x2 + offered * effect
    frame = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 1000, n),
            "x1": x1,
            "x2": x2,
            "segment": rng.choice(["a", "b"], n),
            "arm": arm,
            "label": churned.astype(float),
        }
    )
    return frame, effect


def _inputs(frame: pd.DataFrame) -> tuple:
    spec = fit_spec(frame, ["x1", "x2", "segment"])
    return (
        encode(frame, spec),
        frame["label"].to_numpy(),
        frame["arm"].to_numpy().astype(str),
        frame["customer_id"].to_numpy(),
        spec,
    )


@pytest.fixture(scope="module")
def alone(experiment) -> dict[str, UpliftModel]:
    """Each learner fitted on its own (``fit_uplift``)."""
    args = _inputs(experiment[0])
    weight = np.ones(len(experiment[0]))
    return {
        k: fit_uplift(*args, LearnerConfig(kind=k, num_threads=1), weight=weight) for k in KINDS
    }


@pytest.mark.parametrize("kind", KINDS)
def test_every_learner_finds_who_an_offer_helps(kind, experiment, alone):
    """Each learner's predicted effects rank the helped customers (effect -0.3) before the
    harmed ones (+0.1)."""
    frame, effect = experiment
    model = alone[kind]
    x = _inputs(frame)[0].to_numpy()
    predicted = model.effects(x)
    assert predicted.shape == (len(frame), len(RETENTION_ACTIONS))
    for j in range(len(RETENTION_ACTIONS)):
        assert np.corrcoef(predicted[:, j], effect)[0, 1] > 0.5
    assert model.kind == kind


def test_learners_fitted_together_share_one_control_model_and_equal_those_fitted_alone(
    experiment, alone
):
    """``fit_learners`` fits the control model (and the direct learners' cross-fitted
    nuisances) once for every learner; each model still predicts exactly what it predicts when
    fitted on its own."""
    args = _inputs(experiment[0])
    together = fit_learners(
        *args, LearnerConfig(num_threads=1), KINDS, weight=np.ones(len(experiment[0]))
    )
    assert list(together) == list(KINDS)
    assert len({id(m.boosters[CONTROL]) for m in together.values()}) == 1
    x = args[0].to_numpy()
    for kind, model in together.items():
        assert model.kind == kind
        np.testing.assert_array_equal(model.effects(x), alone[kind].effects(x))


def test_a_saved_direct_learner_loads_with_the_same_effects(experiment, tmp_path):
    frame, _ = experiment
    spec = fit_spec(frame, ["x1", "x2", "segment"])
    args = (frame["label"].to_numpy(), frame["arm"].to_numpy().astype(str))
    x = encode(frame, spec)
    model = fit_uplift(
        x,
        *args,
        frame["customer_id"].to_numpy(),
        spec,
        LearnerConfig(kind="sklift_ct", num_threads=1),
    )
    model.save(tmp_path / "m")
    loaded = UpliftModel.load(tmp_path / "m")
    np.testing.assert_allclose(loaded.effects(x.to_numpy()), model.effects(x.to_numpy()))
