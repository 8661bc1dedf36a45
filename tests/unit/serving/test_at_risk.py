"""At-risk lists: filters, order, bad input, and the best retention action (pure functions)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retain.core.errors import ConfigError, DataError, NotReadyError
from retain.core.settings import Settings
from serving.actions import ActionCatalogue
from serving.at_risk import Filters, latest_scores, select
from serving.batch import best_actions, month_end, retention_actions
from serving.keys import SCOPES, scope_of

TIERS = ("mass", "affluent", "private")


def scores() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4],
            "customer_key": [1, 2, 3, 4],
            "branch_id": pd.array([101, 102, 101, None], dtype="Int64"),
            "value_tier": ["mass", "affluent", "mass", "private"],
            "lifecycle_stage": ["declining", "mature", "new", "declining"],
            "behaviour_segment": ["digital", "branch", "digital", "mixed"],
            "churn_probability": [0.3, 0.1, 0.5, 0.05],
            "value": [1000.0, 9000.0, 100.0, 40000.0],
            "value_at_stake": [300.0, 900.0, 50.0, 2000.0],
            "expected_saved_value": [np.nan, np.nan, np.nan, np.nan],
        }
    )


@pytest.mark.parametrize(
    ("filters", "ids"),
    [
        (Filters(), [4, 2, 1, 3]),
        (Filters(segments=("declining",)), [4, 1]),
        (Filters(segments=("declining", "digital")), [1]),  # a stage and a behaviour: both
        (Filters(segments=("new", "declining")), [4, 1, 3]),  # two stages: either
        (Filters(branches=("101",)), [1, 3]),
        (Filters(value_tiers=("mass", "private")), [4, 1, 3]),
        (Filters(min_value=1000.0), [4, 2, 1]),
    ],
)
def test_the_list_keeps_what_the_filters_name_sorted_by_value_at_stake(filters, ids):
    assert select(scores(), filters, TIERS)["customer_id"].tolist() == ids


def test_expected_saved_value_ranks_first_where_an_action_is_suggested():
    frame = scores()
    frame["expected_saved_value"] = [50.0, np.nan, 80.0, np.nan]
    assert select(frame, Filters(), TIERS)["customer_id"].tolist() == [3, 1, 4, 2]


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        (Filters(segments=("vip",)), "unknown segment 'vip'"),
        (Filters(branches=("999",)), "unknown branch '999'"),
        (Filters(value_tiers=("gold",)), "unknown value tier 'gold'"),
        (Filters(min_value=-1.0), "minimum value"),
    ],
)
def test_a_bad_filter_is_one_message(filters, message):
    with pytest.raises(DataError, match=message):
        select(scores(), filters, TIERS)


@pytest.mark.parametrize(
    ("text", "day"),
    [("2024-06", "2024-06-30 23:59:59"), ("2024-02-10", "2024-02-29 23:59:59")],
)
def test_an_as_of_date_means_its_month_end(text, day):
    assert month_end(text) == pd.Timestamp(day, tz="UTC")


@pytest.mark.parametrize("text", ["2024", "yesterday", "2024-13"])
def test_a_bad_as_of_is_a_configuration_error(text):
    with pytest.raises(ConfigError, match="YYYY-MM"):
        month_end(text)


def test_the_best_action_is_the_allowed_one_that_saves_most_and_only_when_it_pays():
    """Saved value = -effect x value - cost; an action the customer is not eligible for, or one
    that would lose money, is never suggested."""
    actions = retention_actions(ActionCatalogue.load())
    by_id = {a.id: a for a in actions}
    assert {"fee_waiver", "rate_boost", "rm_call"} <= set(by_id)
    chosen = [by_id["fee_waiver"], by_id["rm_call"]]
    frame = pd.DataFrame(
        {
            "has_current_account": [True, False, True],
            "age": [40, 40, 40],
            "risk_tolerance": [3, 3, 3],
            "marketing_consent": [True, True, True],
        }
    )
    effects = np.array([[-0.10, -0.02], [-0.10, -0.02], [-0.001, -0.001]])
    value = np.array([5000.0, 5000.0, 5000.0])
    ids, saved = best_actions(frame, chosen, effects, value)
    assert ids == ["fee_waiver", "rm_call", None]
    cost = {a.id: a.cost for a in chosen}
    np.testing.assert_allclose(saved[:2], [500 - cost["fee_waiver"], 100 - cost["rm_call"]])
    assert np.isnan(saved[2])


def test_without_scores_the_list_says_to_run_retain_score(tmp_path):
    with pytest.raises(NotReadyError, match="retain score"):
        latest_scores(Settings(home=tmp_path))


@pytest.mark.parametrize("path", ["/at_risk", "/at_risk/"])
def test_the_list_needs_the_at_risk_scope(path):
    assert scope_of("GET", path) == "at_risk"
    assert "at_risk" in SCOPES
