"""Customer value and segments: pure functions over feature columns, thresholds as data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.segments import (
    INPUTS,
    ValueConfig,
    behaviour_segment,
    customer_value,
    expected_months,
    lifecycle_stage,
    monthly_margin,
    segment_columns,
    value_tier,
)
from retain.core.errors import ConfigError
from retain.core.settings import Settings
from retain.core.tables import PRODUCTS

CONFIG = ValueConfig.defaults()


def customers(**columns: list) -> dict[str, list]:
    """Columns of ``n`` customers: every input, zero or not held unless given."""
    n = len(next(iter(columns.values())))
    base: dict[str, list] = {c: [0.0] * n for c in INPUTS}
    base.update({f"has_{p}": [False] * n for p in PRODUCTS})
    base.update({"tx_total": [20] * n, "tenure_months": [60] * n, "days_since_login": [3.0] * n})
    base.update(columns)
    return base


@pytest.mark.parametrize(
    ("total", "tier"),
    [
        (0.0, "mass"),
        (24_999.0, "mass"),
        (25_000.0, "affluent"),
        (250_000.0, "private"),
        (None, "unknown"),
    ],
)
def test_the_value_tier_is_the_highest_whose_lower_bound_the_balance_reaches(total, tier):
    assert list(value_tier([total], CONFIG.value_tiers)) == [tier]


@pytest.mark.parametrize(
    ("columns", "stage"),
    [
        ({"tx_total": [0], "days_since_login": [200.0]}, "dormant"),
        ({"tx_total": [0], "days_since_login": [None]}, "dormant"),  # never logged in
        ({"tx_total": [0], "days_since_login": [5.0]}, "mature"),  # still logs in
        ({"tenure_months": [3]}, "new"),
        ({"bal_total_chg_3m": [-0.4]}, "declining"),
        ({"n_products_chg_3m": [-1.0]}, "declining"),
        ({"tx_total_chg_3m": [-0.6]}, "declining"),
        ({"bal_total_chg_3m": [0.2]}, "growing"),
        ({"n_products_chg_3m": [1.0]}, "growing"),
        ({"bal_total_chg_3m": [None]}, "mature"),
        ({"tenure_months": [3], "bal_total_chg_3m": [-0.4]}, "new"),  # the first rule wins
    ],
)
def test_each_customer_gets_the_first_lifecycle_stage_whose_rule_holds(columns, stage):
    assert list(lifecycle_stage(customers(**columns), CONFIG.lifecycle)) == [stage]


@pytest.mark.parametrize(
    ("columns", "segment"),
    [
        ({"tx_total": [2]}, "low_activity"),
        ({"tx_total": [None]}, "low_activity"),
        ({"digital_share": [0.8]}, "digital"),
        ({"tx_branch": [10]}, "branch"),
        ({"tx_branch": [2], "digital_share": [0.3]}, "mixed"),
    ],
)
def test_the_behavioural_segment_follows_the_thresholds(columns, segment):
    assert list(behaviour_segment(customers(**columns), CONFIG.behaviour)) == [segment]


def test_the_margin_adds_product_margins_and_balance_margins_per_month():
    columns = customers(has_credit_card=[True, None], bal_savings=[12_000.0, None])
    margin = monthly_margin(columns, CONFIG)
    expected = (CONFIG.product_margins["credit_card"] + 0.010 * 12_000) / 12
    np.testing.assert_allclose(margin, [expected, 0.0])


def test_value_is_margin_times_discounted_expected_months():
    """With no churn and no discount a customer is worth the margin for the whole horizon; the
    value falls as P(churn) rises, and matches the sum it stands for."""
    flat = ValueConfig(**{**vars(CONFIG), "annual_discount": 0.0})
    assert customer_value([10.0], [0.0], flat)[0] == pytest.approx(10.0 * CONFIG.horizon_months)
    p = np.array([0.01, 0.1, 0.5])
    months = expected_months(p, CONFIG)
    assert np.all(np.diff(months) < 0)
    s = (1 - p) ** (1 / 3) * 1.08 ** (-1 / 12)
    direct = sum(s**t for t in range(1, CONFIG.horizon_months + 1))
    np.testing.assert_allclose(months, direct)
    assert customer_value([0.0], [1.0], CONFIG)[0] == 0.0


def test_segment_columns_agree_on_pandas_frames_and_online_lists():
    """The offline frame (nullable pandas dtypes) and the online read (lists with None) give the
    same segments and margins."""
    columns = customers(
        bal_total=[30_000.0, None], bal_total_chg_3m=[-0.5, None], has_savings=[True, None]
    )
    frame = pd.DataFrame(columns)
    for c in ("tx_total", "tenure_months"):
        frame[c] = frame[c].astype("Int64")
    frame["has_savings"] = frame["has_savings"].astype("boolean")
    online, offline = segment_columns(columns, CONFIG), segment_columns(frame, CONFIG)
    for name in ("value_tier", "lifecycle_stage", "behaviour_segment"):
        assert list(online[name]) == list(offline[name])
    np.testing.assert_allclose(online["monthly_margin"], offline["monthly_margin"])
    assert list(online["value_tier"]) == ["affluent", "unknown"]


def test_a_missing_input_feature_is_a_configuration_error():
    columns = customers(bal_total=[1.0])
    del columns["digital_share"]
    with pytest.raises(ConfigError, match="digital_share"):
        segment_columns(columns, CONFIG)


def test_the_home_overrides_the_defaults_key_by_key(tmp_path):
    settings = Settings(home=tmp_path)
    (tmp_path / "value.toml").write_text(
        "horizon_months = 24\n[product_margins]\nmortgage = 300\n[value_tiers]\ngold = 100000\n"
    )
    config = ValueConfig.load(settings)
    assert config.horizon_months == 24
    assert config.product_margins["mortgage"] == 300
    assert config.product_margins["savings"] == CONFIG.product_margins["savings"]
    assert config.tiers == ("mass", "gold")  # tiers are replaced whole, not merged


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colour = 1", "unknown key"),
        ("horizon_months = 0", "horizon_months"),
        ("[product_margins]\nyacht = 5", "unknown name"),
        ("[value_tiers]\naffluent = 300000\nprivate = 250000", "must increase"),
        ("[lifecycle]\nnew_months = 'x'", "must be a number"),
    ],
)
def test_a_wrong_value_file_says_what_is_wrong(tmp_path, text, message):
    (tmp_path / "value.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        ValueConfig.load(Settings(home=tmp_path))
