"""The uplift gate: a challenger must beat random rankings of the same test window, not zero."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training.gate import decide_uplift
from training.uplift.metrics import random_metrics, ranker_metrics

ACTIONS = ("fee_waiver", "rm_call")
CONTROLS = {"": "cross_sell"}


@pytest.fixture(scope="module")
def window() -> dict[str, np.ndarray]:
    """A randomised test window whose true effects are known: each action lowers churn by
    ``0.25 * (x - 0.4)`` for customers with feature ``x`` in [0, 1] (and raises it below 0.4)."""
    rng = np.random.default_rng(3)
    n = 3000
    arm = rng.choice([*ACTIONS, "cross_sell"], size=n)
    x = rng.random(n)
    true = np.stack([-0.25 * (x - 0.4)] * len(ACTIONS), axis=1)  # change in P(churn)
    treated = np.stack([arm == a for a in ACTIONS], axis=1)
    p_churn = 0.35 + (treated * true).sum(1)
    churned = (rng.random(n) < p_churn).astype(float)
    return {"arm": arm, "churned": churned, "truth": -true}


@pytest.fixture(scope="module")
def floor(window: dict[str, np.ndarray]) -> dict[str, float]:
    return random_metrics(window["churned"], window["arm"], ACTIONS, CONTROLS, seed=5)


def judged(window: dict[str, np.ndarray], floor: dict[str, float], scores: np.ndarray) -> bool:
    run = ranker_metrics(window["churned"], window["arm"], {"model": scores}, ACTIONS, CONTROLS)
    return decide_uplift({**run, **floor}, None, 0.01).promote


def test_the_gate_accepts_the_truth_ranking_and_refuses_random_ones(window, floor):
    """On the same window, ranking by the true effects clears the 95th percentile of random
    rankings on both Qini and AUUC; random rankings (fresh ones, not those that set the floor)
    pass at most about 5% of the time."""
    assert judged(window, floor, window["truth"])
    rng = np.random.default_rng(11)
    passed = [judged(window, floor, rng.random(window["truth"].shape)) for _ in range(60)]
    assert np.mean(passed) <= 0.1


def test_a_refusal_says_which_figure_is_inside_the_random_spread(window, floor):
    run = {"test_qini_mean": 0.0, "test_auuc_mean": 0.0, **floor}
    decision = decide_uplift(run, None, 0.01)
    assert not decision.promote
    assert "is not above the p95 of random rankings" in decision.reason


def test_a_positive_qini_inside_the_random_spread_is_refused():
    """Above zero is not enough: the figure must clear the random rankings' 95th percentile."""
    run = {
        "test_qini_mean": 0.02,
        "test_auuc_mean": 0.03,
        "random_test_qini_p95_mean": 0.05,
        "random_test_auuc_p95_mean": 0.02,
    }
    decision = decide_uplift(run, None, 0.01)
    assert not decision.promote
    assert [c.name for c in decision.checks if not c.passed] == ["qini_above_random"]


@pytest.mark.parametrize(("champion", "promote"), [(None, True), (0.065, True), (0.09, False)])
def test_against_a_champion_the_qini_must_stay_within_the_tolerance(champion, promote):
    run = {
        "test_qini_mean": 0.06,
        "test_auuc_mean": 0.05,
        "random_test_qini_p95_mean": 0.04,
        "random_test_auuc_p95_mean": 0.04,
    }
    assert decide_uplift(run, champion, 0.01).promote is promote


def test_a_run_without_the_random_spread_is_refused():
    """A run logged before the spread was measured cannot pass: nothing to compare with."""
    decision = decide_uplift({"test_qini_mean": 0.3, "test_auuc_mean": 0.3}, None, 0.01)
    assert not decision.promote
    assert all(math.isnan(c.limit) for c in decision.checks)


def test_the_random_spread_is_wider_than_its_mean(floor):
    """The 95th percentile lies above the random rankings' mean Qini (about 0)."""
    m = floor
    assert (
        m["random_test_qini_p95_mean"] > m["random_test_qini_mean"] + m["random_test_qini_sd_mean"]
    )
    assert abs(m["random_test_qini_mean"]) < m["random_test_qini_sd_mean"]
