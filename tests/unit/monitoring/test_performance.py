"""CBPE: on outcomes drawn from the calibrated probabilities themselves, the estimates match the
realised figures."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from monitoring.performance import (
    beyond_noise,
    calibration_error,
    expected_auc,
    expected_confusion,
    expected_top_share_precision,
    noise_level,
    realised_auc,
    realised_confusion,
    top_share_precision,
)
from training.metrics import auc_standard_error


def _calibrated(seed: int, n: int, a: float = 0.6, b: float = 12.0):
    """Scores like a churn model's (a few percent leave) and outcomes drawn from them."""
    rng = np.random.default_rng(seed)
    p = rng.beta(a, b, n)
    y = (rng.random(n) < p).astype(float)
    return p, y


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_expected_auc_matches_the_realised_auc_on_calibrated_scores(seed):
    """Within 0.01 on 200,000 rows (the realised AUC's own noise is about 0.003)."""
    p, y = _calibrated(seed, 200_000)
    assert expected_auc(p) == pytest.approx(realised_auc(y, p), abs=0.01)


def test_expected_auc_averages_to_the_realised_auc_over_many_draws():
    """Its mean over 200 draws of the outcomes is within 0.003 of the mean realised AUC."""
    rng = np.random.default_rng(5)
    p = rng.beta(0.8, 6.0, 2000)
    realised = [realised_auc((rng.random(len(p)) < p).astype(float), p) for _ in range(200)]
    assert expected_auc(p) == pytest.approx(float(np.mean(realised)), abs=0.003)


def test_expected_auc_is_exact_for_certain_outcomes():
    """Probabilities of 0 and 1 are outcomes already known: the estimate is the realised AUC."""
    p = np.array([0.0, 1.0, 0.0, 1.0, 0.0])
    assert expected_auc(p) == pytest.approx(1.0)


def test_expected_auc_counts_ties_half():
    """Equal scores order no pair: the AUC of one repeated score is 0.5."""
    assert expected_auc(np.full(50, 0.2)) == pytest.approx(0.5)


def test_expected_auc_is_nan_without_pairs():
    assert math.isnan(expected_auc([0.3]))
    assert math.isnan(expected_auc([0.0, 0.0, 0.0]))


def test_expected_auc_rejects_what_is_not_a_probability():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        expected_auc([0.2, 1.5])


def test_realised_auc_is_sklearns():
    p, y = _calibrated(4, 5000)
    p = np.round(p, 2)  # ties
    assert realised_auc(y, p) == pytest.approx(roc_auc_score(y, p))
    assert math.isnan(realised_auc(np.zeros(3), [0.1, 0.2, 0.3]))


@pytest.mark.parametrize("threshold", [0.05, 0.15, 0.3])
def test_expected_confusion_matches_the_realised_one(threshold):
    """Expected TP/FP/FN/TN within four binomial standard deviations of the realised counts,
    the rates within 0.01 (0.03 for precision on the few flagged above 0.3)."""
    p, y = _calibrated(6, 300_000)
    expected, realised = expected_confusion(p, threshold), realised_confusion(y, p, threshold)
    for cell in ("tp", "fp", "fn", "tn"):
        count = getattr(realised, cell)
        assert getattr(expected, cell) == pytest.approx(count, abs=4 * math.sqrt(count + 1))
    tolerance = 0.03 if threshold > 0.2 else 0.01
    for rate in ("precision", "recall", "specificity", "accuracy", "f1"):
        assert getattr(expected, rate) == pytest.approx(getattr(realised, rate), abs=tolerance)


def test_expected_confusion_by_hand():
    c = expected_confusion([0.9, 0.6, 0.2, 0.1], threshold=0.5)
    assert (c.tp, c.fp, c.fn, c.tn) == pytest.approx((1.5, 0.5, 0.3, 1.7))
    assert c.precision == pytest.approx(0.75)
    assert c.recall == pytest.approx(1.5 / 1.8)


def test_rates_of_an_empty_cell_are_nan():
    c = expected_confusion([0.1, 0.2], threshold=0.5)
    assert math.isnan(c.precision) and c.as_dict()["tp"] == 0.0


def test_expected_top_decile_precision_matches_the_realised_one():
    p, y = _calibrated(7, 200_000)
    assert expected_top_share_precision(p, 0.1) == pytest.approx(
        top_share_precision(y, p, 0.1), abs=0.01
    )


def test_calibration_error_is_small_on_calibrated_scores_and_large_otherwise():
    p, y = _calibrated(8, 200_000)
    assert calibration_error(y, p) < 0.005
    assert calibration_error(y, np.clip(p * 3, 0, 1)) > 0.05


def test_the_auc_standard_error_matches_the_spread_of_realised_aucs():
    """Hanley and McNeil's error against the spread of the AUC over 400 months of 60 leavers and
    1,440 stayers drawn from one score model."""
    rng = np.random.default_rng(3)
    aucs = []
    for _ in range(400):
        y = np.r_[np.ones(60), np.zeros(1440)]
        s = rng.normal(loc=1.0 * y, scale=1.0)  # binormal, AUC about 0.76
        aucs.append(roc_auc_score(y, s))
    se = auc_standard_error(float(np.mean(aucs)), 60, 1440)
    assert se == pytest.approx(np.std(aucs), rel=0.15)
    assert 0.025 < se < 0.045  # the size that makes a 0.05 drop noise on such a month


def test_a_drop_is_judged_against_its_noise():
    assert not beyond_noise(0.05, 0.035)
    assert beyond_noise(0.10, 0.035)
    assert beyond_noise(0.05, math.nan)  # no error to judge by: the drop as it is
    assert math.isnan(auc_standard_error(0.7, 0, 100))


def test_a_drop_alerts_beyond_the_action_limit_and_warns_between_the_limits():
    """Control-chart limits: within 1.96 errors ok, to 3 a warning, beyond 3 an alert (a
    quiet simulated month once dropped 0.133 over an error of 0.049: 2.7 errors)."""
    assert noise_level(0.05, 0.035) == "ok"
    assert noise_level(0.133, 0.0487) == "warn"
    assert noise_level(0.2, 0.0487) == "alert"
    assert noise_level(0.05, math.nan) == "alert"  # no error: the drop as it is
