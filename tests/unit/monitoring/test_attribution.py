"""Attribution drift: mean |SHAP| per feature and the nDCG of the current ranking."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from monitoring.attribution import attribution_table, mean_abs_attribution, ndcg

REF = pd.Series({"a": 4.0, "b": 3.0, "c": 2.0, "d": 1.0})


def test_mean_abs_attribution_is_per_feature():
    values = np.array([[1.0, -2.0], [-3.0, 0.0]])
    out = mean_abs_attribution(values, ["x", "y"])
    assert out.to_dict() == {"x": 2.0, "y": 1.0}


def test_mean_abs_attribution_checks_the_shape():
    with pytest.raises(ValueError, match="2 SHAP"):
        mean_abs_attribution(np.zeros((3, 3)), ["x", "y"])


def test_an_unchanged_ranking_scores_one():
    """Only the order matters: halving every attribution keeps nDCG at 1."""
    assert ndcg(REF, REF / 2) == pytest.approx(1.0)


def test_ndcg_by_hand_when_the_top_two_swap():
    current = pd.Series({"a": 3.0, "b": 4.0, "c": 2.0, "d": 1.0})
    d = 1 / np.log2(np.arange(2, 6))
    expected = (3 * d[0] + 4 * d[1] + 2 * d[2] + 1 * d[3]) / (4 * d[0] + 3 * d[1] + 2 * d[2] + d[3])
    assert ndcg(REF, current) == pytest.approx(expected)


def test_a_reversed_ranking_falls_below_clarifys_threshold():
    reversed_ = pd.Series({"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0})
    assert ndcg(REF, reversed_) < 0.9


def test_top_k_ranks_only_the_first_k():
    """With k = 1 only the first place counts: 'b' first scores 3/4."""
    current = pd.Series({"a": 3.0, "b": 4.0, "c": 2.0, "d": 1.0})
    assert ndcg(REF, current, top=1) == pytest.approx(0.75)


def test_nothing_attributed_scores_one():
    zero = REF * 0
    assert ndcg(zero, REF) == 1.0


def test_ndcg_needs_the_same_features():
    with pytest.raises(ValueError, match="different features"):
        ndcg(REF, REF.drop("d"))


def test_attribution_table_ranks_both_windows():
    current = pd.Series({"a": 1.0, "b": 3.0, "c": 2.0, "d": 4.0})
    t = attribution_table(REF, current)
    assert t["feature"].tolist() == ["a", "b", "c", "d"]
    assert t["rank_current"].tolist() == [4, 2, 3, 1]
    assert not math.isnan(t["current"].sum())
