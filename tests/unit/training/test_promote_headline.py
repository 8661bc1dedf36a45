"""The headline-metric gate of the propensity and uplift models, as a pure function."""

from __future__ import annotations

import math

import pytest

from training.gate import decide_headline


@pytest.mark.parametrize(
    ("challenger", "champion", "promote"),
    [
        (0.62, None, True),  # first champion above chance
        (0.50, None, False),  # chance is not enough
        (math.nan, None, False),  # a run without the metric
        (0.615, 0.62, True),  # within the tolerance
        (0.60, 0.62, False),  # lost more than the tolerance
        (0.70, 0.62, True),
    ],
)
def test_the_challenger_must_beat_chance_and_stay_near_the_champion(challenger, champion, promote):
    decision = decide_headline("test_macro_auc", challenger, champion, 0.5, 0.01)
    assert decision.promote is promote
    assert len(decision.checks) == (1 if champion is None else 2)
    if not promote:
        assert "test_macro_auc" in decision.reason


def test_a_qini_floor_of_zero_refuses_a_harmful_uplift_model():
    assert not decide_headline("test_qini_mean", -0.01, None, 0.0, 0.01).promote
    assert decide_headline("test_qini_mean", 0.02, 0.025, 0.0, 0.01).promote
