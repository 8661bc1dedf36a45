"""Qini coefficient and AUUC on hand-made data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training.uplift.metrics import (
    auuc,
    pool_actions,
    qini_coefficient,
    qini_curve,
    ranker_metrics,
    uplift_area,
    uplift_area_random,
    uplift_curve,
)

# Four customers: two treated (one stays), two controls (one stays).
Y = np.array([1.0, 0.0, 1.0, 0.0])
T = np.array([True, True, False, False])
SCORE = np.array([4.0, 3.0, 2.0, 1.0])


def test_the_qini_curve_of_a_small_example_is_known():
    """Q(k) = R_t - R_c * N_t / N_c, 0 while there is no control yet."""
    x, q = qini_curve(Y, SCORE, T)
    np.testing.assert_allclose(x, [0, 1, 2, 3, 4])
    np.testing.assert_allclose(q, [0, 1, 1, -1, 0])


def test_the_uplift_curve_of_a_small_example_is_known():
    """U(k) = (R_t / N_t - R_c / N_c) * k."""
    x, u = uplift_curve(Y, SCORE, T)
    np.testing.assert_allclose(u, [0, 1, 1, -1.5, 0])


def test_small_example_values():
    """Qini: curve area 1 over the perfect ranking's 3; AUUC: 0.5 over 4.5 (worked by hand)."""
    assert qini_coefficient(Y, SCORE, T) == pytest.approx(1 / 3)
    assert auuc(Y, SCORE, T) == pytest.approx(1 / 9)
    assert uplift_area(Y, SCORE, T) == pytest.approx(0.5 / 16)
    assert uplift_area_random(Y, T) == pytest.approx(0.0)


def test_ties_enter_the_curve_together():
    """Rows with equal scores are one step of the curve, whatever their order."""
    x, _ = qini_curve(Y, np.array([1.0, 1.0, 0.0, 0.0]), T)
    np.testing.assert_allclose(x, [0, 2, 4])


def _experiment(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Half the customers are persuadable: treated, they stay with 0.9 instead of 0.5."""
    rng = np.random.default_rng(seed)
    persuadable = rng.random(n) < 0.5
    treated = rng.random(n) < 0.5
    p = np.where(persuadable & treated, 0.9, 0.5)
    return (rng.random(n) < p).astype(float), treated, persuadable


def test_the_perfect_ranking_scores_one_and_a_good_ranking_beats_random():
    """The ranking the definitions call perfect scores 1; knowing the persuadables is clearly
    positive; random scores are near 0."""
    y, t, persuadable = _experiment(20_000, seed=1)
    perfect = y * t - y * ~t
    assert qini_coefficient(y, perfect, t) == pytest.approx(1.0)
    good = qini_coefficient(y, persuadable.astype(float), t)
    randoms = [qini_coefficient(y, np.random.default_rng(s).random(len(y)), t) for s in range(10)]
    assert good > 0.1
    assert abs(np.mean(randoms)) < 0.02
    assert good > max(randoms) + 0.05
    assert auuc(y, persuadable.astype(float), t) > 0.1
    assert auuc(y, -persuadable.astype(float), t) < 0


def test_undefined_without_both_groups():
    """No control row: NaN, not an error."""
    assert math.isnan(qini_coefficient(Y[:2], SCORE[:2], T[:2]))
    assert math.isnan(auuc(Y[:2], SCORE[:2], T[:2]))


def test_ranker_metrics_name_each_action_and_the_mean():
    """Model metrics have no prefix, others their ranker's; the mean is over actions."""
    y, t, persuadable = _experiment(4000, seed=2)
    arm = np.where(t, "fee_waiver", "cross_sell")
    scores = {
        "model": persuadable.astype(float)[:, None],
        "churn_score": np.zeros((len(y), 1)),
    }
    out = ranker_metrics(1 - y, arm, scores, ("fee_waiver",), {"": "cross_sell"})
    assert out["test_qini_fee_waiver"] == out["test_qini_mean"] > 0.1
    assert out["churn_score_test_qini_mean"] == pytest.approx(0.0)
    assert set(out) >= {"test_auuc_mean", "churn_score_test_auuc_fee_waiver"}


def test_a_control_per_action_and_pooled_offers():
    """``held_out:{action}`` compares each action with its own holdouts; pooled, every row of a
    matched comparison is scored by the offer it was assigned, and otherwise by the actions'
    mix (weighted by their treated rows), so contacted and control rows are scored alike."""
    arm = np.array(["a", "held_out:a", "b", "held_out:b", "b", "held_out"])
    churned = np.array([0.0, 1.0, 1.0, 0.0, 0.0, 1.0])
    scores = {"model": np.array([[1.0, 10.0]] * 6)}
    out = ranker_metrics(churned, arm, scores, ("a", "b"), {"": "held_out:{action}"})
    assert math.isfinite(out["test_qini_a"]) and math.isfinite(out["test_qini_b"])
    pooled_arm, pooled, actions = pool_actions(arm, scores, ("a", "b"))
    assert actions == ("any_retention",)
    assert pooled_arm.tolist() == [
        "any_retention", "held_out:any_retention", "any_retention", "held_out:any_retention",
        "any_retention", "held_out",
    ]  # fmt: skip
    mix = (1.0 + 2 * 10.0) / 3  # one "a" row, two "b" rows
    assert pooled["model"][:, 0] == pytest.approx([1.0, 1.0, 10.0, 10.0, 10.0, mix])
    unmatched = np.array(["a", "b", "b", "held_out"])
    _, pooled, _ = pool_actions(unmatched, {"model": np.array([[1.0, 10.0]] * 4)}, ("a", "b"))
    assert pooled["model"][:, 0] == pytest.approx([mix] * 4)
