"""Reason codes: contributions -> sentences from the catalogue; contributions add up."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from retain.core.errors import ConfigError
from serving.reasons import DEFAULT_CATALOGUE, ReasonCatalogue, top_reasons

CATALOGUE = ReasonCatalogue.load(
    descriptions={"bal_wealth": "Balance of wealth products at month end"}
)


@pytest.mark.parametrize(
    ("feature", "value", "direction", "text"),
    [
        ("months_since_salary_stopped", 2.0, "up", "Salary deposits stopped 2 months ago"),
        ("months_since_salary_stopped", 1.0, "up", "Salary deposits stopped 1 month ago"),
        ("months_since_salary_stopped", None, "down", "Salary deposits never stopped"),
        ("complaints_open", 3, "up", "3 complaints unresolved"),
        ("complaints_open", 1, "up", "1 complaint unresolved"),
        ("complaints_open", 0, "down", "No unresolved complaints"),
        ("bal_total_chg_3m", -0.48, "up", "Total balance down 48% over 3 months"),
        ("bal_total_chg_3m", 0.04, "down", "Total balance up 4% over 3 months"),
        ("net_flow", -3347.0, "up", "3,347 more went out than came in last month"),
        ("tx_total", 4, "up", "Only 4 transactions last month"),
        ("tx_total", 40, "down", "40 transactions last month"),
        ("has_pension", True, "down", "Holds a pension"),
        ("has_pension", False, "up", "Holds no pension"),
        ("life_event", "new_job", "up", "Life event last month: new job"),
        ("days_since_login_now", None, "up", "Never logged in to the app"),
        # Not in the catalogue: a generic sentence from the feature's description.
        (
            "bal_wealth",
            1234.5,
            "down",
            "Balance of wealth products at month end: 1,234.5 (lowers the risk)",
        ),
        ("some_feature", None, "up", "some feature: missing (raises the risk)"),
    ],
)
def test_a_contribution_reads_as_its_sentence(feature, value, direction, text):
    """It writes the catalogue's sentence for the feature's value and direction."""
    assert CATALOGUE.sentence(feature, value, direction) == text


def test_top_reasons_are_the_largest_contributions_by_size_with_direction_and_weight():
    """It returns the k largest contributions by absolute size, largest first; the base value
    (last element) is never a reason."""
    features = ["complaints_open", "tx_total", "bal_total_chg_3m", "n_products"]
    contributions = np.array([0.30, -0.05, 0.50, -0.40, 9.0])
    values = {"complaints_open": 3, "tx_total": 40, "bal_total_chg_3m": -0.5, "n_products": 4}
    reasons = top_reasons(contributions, values, features, CATALOGUE, k=3)
    assert [r.feature for r in reasons] == ["bal_total_chg_3m", "n_products", "complaints_open"]
    assert [r.direction for r in reasons] == ["up", "down", "up"]
    assert [r.weight for r in reasons] == [0.5, -0.4, 0.3]
    assert reasons[0].text == "Total balance down 50% over 3 months"
    assert reasons[1].text == "Holds 4 products"
    assert reasons[2].value == 3


def test_features_with_no_contribution_are_no_reason():
    """A customer whose features contribute nothing gets no reasons rather than noise."""
    assert top_reasons(np.zeros(3), {}, ["a", "b"], CATALOGUE, k=3) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"features": {"x": {"format": "dollars", "texts": [{"text": "a"}]}}}, "format"),
        ({"features": {"x": {"texts": [{"when": "about 3", "text": "a"}]}}}, "condition"),
        ({"features": {"x": {"texts": [{"text": "{amount} left"}]}}}, "only {value}"),
        ({"features": {"x": {"texts": [{"text": "{value"}]}}}, "not a valid template"),
        ({"features": {"x": {"texts": [{"direction": "sideways", "text": "a"}]}}}, "direction"),
        ({"features": {"x": {"texts": []}}}, "non-empty"),
        ({"features": {"x": {"texts": [{"text": "a", "colour": "red"}]}}}, "unknown key"),
        ({"reasons": {}}, "unknown top-level"),
    ],
)
def test_a_bad_catalogue_is_refused_at_load(data, message):
    """It refuses a catalogue with an unknown format, condition, placeholder or key."""
    with pytest.raises(ConfigError, match=message):
        ReasonCatalogue.from_dict(data)


def test_the_shipped_catalogue_loads_and_names_only_real_features(tmp_path: Path):
    """Every feature the shipped catalogue names is a churn_v1 feature."""
    from features.schema import CHURN_V1_EXCLUDED, VIEW_FEATURES

    names = [n for f in VIEW_FEATURES.values() for n, _, _ in f if n not in CHURN_V1_EXCLUDED]
    ReasonCatalogue.load(DEFAULT_CATALOGUE).check_features(
        [*names, "tenure_days", "days_since_login_now"]
    )
    with pytest.raises(ConfigError, match="does not use"):
        ReasonCatalogue.load(DEFAULT_CATALOGUE).check_features(["tx_total"])


def test_contributions_plus_base_value_equal_the_raw_score():
    """LightGBM's TreeSHAP contributions, base value included, add up to the raw score."""
    import lightgbm as lgb

    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(400, 5)), columns=list("abcde"))
    x.iloc[::7, 2] = np.nan
    y = (x["a"] + 0.5 * x["b"].fillna(0) + rng.normal(size=400) > 0).astype(int)
    booster = lgb.train(
        {"objective": "binary", "num_leaves": 7, "verbosity": -1, "num_threads": 1},
        lgb.Dataset(x, label=y),
        num_boost_round=20,
    )
    contributions = booster.predict(x.to_numpy(), pred_contrib=True)
    raw = booster.predict(x.to_numpy(), raw_score=True)
    np.testing.assert_allclose(contributions.sum(axis=1), raw, rtol=0, atol=1e-9)


@pytest.mark.parametrize("missing", [None, float("nan"), np.float32("nan")])
def test_a_missing_value_is_no_reason_unless_the_catalogue_says_what_it_means(missing):
    """A feature the bank did not provide is passed over for the next largest contribution; a
    missing value with a meaning in the catalogue (never logged in) is still a reason."""
    features = ["app_logins", "n_products", "days_since_login_now", "complaints_open"]
    contributions = np.array([0.9, -0.8, 0.5, 0.1, 0.0])
    values = {
        "app_logins": missing,
        "n_products": missing,
        "days_since_login_now": missing,
        "complaints_open": 2,
    }
    reasons = top_reasons(contributions, values, features, CATALOGUE, k=2)
    assert [r.feature for r in reasons] == ["days_since_login_now", "complaints_open"]
    assert reasons[0].text == "Never logged in to the app" and reasons[0].value is None
    assert all("missing" not in r.text for r in reasons)


@pytest.mark.parametrize(
    ("feature", "direction", "explained"),
    [
        ("days_since_login_now", "up", True),
        ("months_since_salary_stopped", "down", True),
        ("months_since_salary_stopped", "up", False),  # only "never stopped" lowers the risk
        ("app_logins", "up", False),
        ("not_in_the_catalogue", "up", False),
    ],
)
def test_the_catalogue_says_which_missing_values_mean_something(feature, direction, explained):
    assert CATALOGUE.explains_missing(feature, direction) is explained
