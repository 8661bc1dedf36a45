"""``fit_propensity`` on a small synthetic frame (no Feast, no MLflow): one booster per product
with enough openings, a product with too few skipped with a warning, probabilities and
explanations of the right shape."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from training.config import TrainConfig
from training.propensity.job import PropensityData, fit_propensity

FAST = TrainConfig(num_threads=1, num_boost_round=60, min_data_in_leaf=50)


def synthetic(customers: int = 800, months: int = 20, seed: int = 1) -> PropensityData:
    """``savings`` opens more with higher income, ``mortgage`` with age; ``pension`` almost
    never opens."""
    rng = np.random.default_rng(seed)
    ends = pd.date_range("2023-01-31", periods=months, freq="ME", tz="UTC") + pd.Timedelta(
        hours=23, minutes=59, seconds=59
    )
    n = customers * months
    income = rng.normal(size=n)
    age = rng.uniform(20, 70, n)
    frame = pd.DataFrame(
        {
            "customer_id": np.tile(np.arange(customers, dtype="int64"), months),
            "event_timestamp": np.repeat(ends, customers),
            "income": income,
            "age": age,
            "region": rng.choice(["north", "south"], n),
        }
    )
    p_savings = 1 / (1 + np.exp(-(income * 1.5 - 2.5)))
    p_mortgage = 1 / (1 + np.exp(-((age - 45) / 5 - 3)))
    frame["label_savings"] = (rng.random(n) < p_savings).astype("float32")
    frame["label_mortgage"] = (rng.random(n) < p_mortgage).astype("float32")
    frame["label_pension"] = np.float32(0.0)
    frame.loc[rng.random(n) < 0.3, "label_savings"] = np.nan  # held: not candidates
    frame.loc[frame.index[:5], "label_pension"] = 1.0  # 5 openings, all in the first month
    frame = frame.sort_values(["event_timestamp", "customer_id"], ignore_index=True)
    return PropensityData(
        frame, ["income", "age", "region"], "test_v1", ("savings", "mortgage", "pension")
    )


@pytest.fixture(scope="module")
def fitted():
    return fit_propensity(synthetic(), FAST)


def test_a_product_with_too_few_openings_is_skipped_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="training.propensity.job"):
        result = fit_propensity(synthetic(), FAST)
    assert result.model.products == ("savings", "mortgage")
    assert "pension" in result.skipped and "pension" in caplog.text


def test_the_model_learns_each_products_driver_and_beats_popular(fitted):
    m = fitted.metrics
    assert m["test_auc_savings"] > 0.75 and m["test_auc_mortgage"] > 0.75
    assert m["test_macro_auc"] == pytest.approx(
        (m["test_auc_savings"] + m["test_auc_mortgage"]) / 2
    )
    assert m["test_map_at_3"] >= m["test_popular_map_at_3"]
    assert "test_truth_macro_auc" not in m  # no simulator truth here


def test_probabilities_and_contributions(fitted):
    from training.encode import encode

    model = fitted.model
    x = encode(synthetic(customers=20, months=1, seed=2).frame, model.spec).to_numpy()
    p = model.predict_proba(x)
    assert p.shape == (20, 2) and np.all((p >= 0) & (p <= 1))
    contrib = model.contributions(x, "mortgage")
    raw = model.boosters["mortgage"].predict(x, raw_score=True)
    np.testing.assert_allclose(contrib.sum(axis=1), raw, atol=1e-6)
    with pytest.raises(KeyError):
        model.contributions(x, "pension")


def test_metadata_round_trip(fitted, tmp_path):
    from training.propensity.model import PropensityModel

    fitted.model.save(tmp_path / "m")
    loaded = PropensityModel.load(tmp_path / "m")
    assert loaded.products == fitted.model.products and loaded.spec == fitted.model.spec
    x = np.array([[0.5, 50.0, 1.0], [-1.0, 30.0, np.nan]])
    np.testing.assert_allclose(loaded.predict_proba(x), fitted.model.predict_proba(x))
