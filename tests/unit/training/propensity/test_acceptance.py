"""What a cross-sell offer changes (``training.propensity.acceptance``): P(accept | offered)
learned from answered offers, the churn a contact adds measured against holdouts, and how both
reach the model, its files and the offer's expected value."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from retain.core.columns import AS_OF, KEY, LABEL
from training.propensity.acceptance import (
    MIN_ACCEPTS,
    contact_churn_ratio,
    fit_acceptance,
    offer_rows,
)
from training.propensity.job import fit_propensity

from .test_fit import FAST, synthetic


def offers(n: int = 4000, seed: int = 3) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Offers of savings and mortgage over 20 months: acceptance rises with ``income`` (the
    first feature) and with the customer's P(open); mortgage is accepted less."""
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.normal(size=n), rng.uniform(20, 70, n), rng.integers(0, 2, n)])
    product = rng.choice(["savings", "mortgage"], n)
    p_open = rng.uniform(0.01, 0.3, n)
    logit = -2.2 + 1.2 * x[:, 0] + 4 * p_open - 0.8 * (product == "mortgage")
    accepted = rng.random(n) < 1 / (1 + np.exp(-logit))
    months = pd.date_range("2023-01-31", periods=20, freq="ME", tz="UTC")
    frame = pd.DataFrame(
        {
            KEY: np.arange(n, dtype="int64"),
            AS_OF: months[rng.integers(0, 20, n)],
            "product": product,
            "accepted": accepted,
        }
    )
    return x, p_open, frame


def test_offer_rows_keep_answered_cross_sell_contacts_only():
    campaigns = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4],
            "sent_at": pd.to_datetime(["2024-01-05"] * 4, utc=True),
            "action_id": ["xsell_savings", "xsell_savings", "fee_waiver", "xsell_mortgage"],
            "holdout": [False, True, False, False],
            "outcome": ["accepted", None, "accepted", "ignored"],
        }
    )
    rows = offer_rows(campaigns)
    assert rows[KEY].tolist() == [1, 4]
    assert rows["product"].tolist() == ["savings", "mortgage"]
    assert rows["accepted"].tolist() == [True, False]


def test_acceptance_is_learned_calibrated_and_tested_out_of_time():
    x, p_open, frame = offers()
    before = pd.Timestamp("2024-05-01", tz="UTC")
    model = fit_acceptance(x, p_open, frame, before, num_threads=1)
    assert model is not None and model.products == ("mortgage", "savings")
    info = model.info
    assert info["test_offers"] == int((frame[AS_OF] >= before).sum())
    assert info["test_auc"] > 0.7
    assert info["test_logloss"] < info["test_logloss_base"]
    assert info["test_mean_predicted"] == pytest.approx(info["test_accept_rate"], abs=0.04)
    p = model.predict(x[:50], np.column_stack([p_open[:50]] * 3), ["savings", "mortgage", "x"])
    assert p.shape == (50, 3) and np.isnan(p[:, 2]).all()
    assert np.all((p[:, :2] > 0) & (p[:, :2] < 1))
    # Same customers: mortgage is accepted less.
    assert (p[:, 1] < p[:, 0]).mean() > 0.9


def test_too_few_accepts_give_no_model():
    x, p_open, frame = offers(n=300)
    frame["accepted"] = False
    frame.loc[frame.index[: MIN_ACCEPTS - 1], "accepted"] = True
    assert fit_acceptance(x, p_open, frame, pd.Timestamp("2030-01-01", tz="UTC")) is None


def test_contact_churn_ratio_averages_audiences_against_their_holdouts():
    rows = []
    # Audience a: 10% churn held out, 15% contacted; audience b: 20% and 30% (+50% each).
    for action, base, n in (("xsell_a", 0.10, 1000), ("xsell_b", 0.20, 3000)):
        for holdout, rate in ((True, base), (False, base * 1.5)):
            churned = np.arange(n) < rate * n
            rows.append(
                pd.DataFrame(
                    {"action_id": action, "part": "rules", "holdout": holdout, LABEL: churned}
                )
            )
    ratio, se = contact_churn_ratio(pd.concat(rows, ignore_index=True))
    assert ratio == pytest.approx(0.5, abs=0.01)
    assert 0 < se < 0.2
    alone = pd.DataFrame({"action_id": "x", "part": "rules", "holdout": [False], LABEL: [1]})
    assert contact_churn_ratio(alone)[0] == 0.0


def test_the_propensity_model_carries_acceptance_through_its_files(tmp_path):
    from training.encode import encode
    from training.propensity.model import PropensityModel

    data = synthetic()
    rng = np.random.default_rng(5)
    sample = data.frame.sample(3000, random_state=1).reset_index(drop=True)
    accepted = rng.random(len(sample)) < 1 / (1 + np.exp(-(sample["income"] - 1.5)))
    data.offers = sample.assign(
        product=rng.choice(["savings", "mortgage"], len(sample)), accepted=accepted
    )
    data.contact_churn = (0.25, 0.1)
    fitted = fit_propensity(data, FAST)
    model = fitted.model
    assert model.acceptance is not None and model.contact_churn_ratio == 0.25
    assert fitted.metrics["contact_churn_ratio"] == 0.25
    assert "acceptance_test_auc" in fitted.metrics
    model.save(tmp_path / "m")
    loaded = PropensityModel.load(tmp_path / "m")
    x = encode(sample.head(20), model.spec).to_numpy(np.float64)
    p_open = model.predict_proba(x)
    np.testing.assert_allclose(loaded.offer_proba(x, p_open), model.offer_proba(x, p_open))
    assert loaded.contact_churn_ratio == 0.25


def test_a_cross_sell_is_valued_by_the_openings_it_causes_less_the_churn_it_adds():
    from serving.actions import ActionCatalogue
    from serving.decide import Context, Levers, expected_value
    from serving.nba import model_scores

    catalogue = ActionCatalogue.load()
    action = catalogue["xsell_savings"]
    customer = {"has_current_account": True}
    p_open = {"savings": 0.2}
    plain = model_scores(catalogue, customer, 0.1, p_open, {})
    assert plain.p_accept["xsell_savings"] == 0.2 and not plain.p_anyway
    scores = model_scores(catalogue, customer, 0.1, p_open, {}, {"savings": 0.3}, 0.5)
    assert scores.p_accept["xsell_savings"] == 0.3
    assert scores.p_anyway["xsell_savings"] == 0.2
    assert scores.contact_churn == pytest.approx(0.05)
    context = Context("mobile", datetime(2024, 6, 30, tzinfo=UTC))
    ev, p, text = expected_value(action, scores, context, Levers())
    expected = 0.3 * 0.8 * action.value - action.cost - 0.05 * scores.customer_value
    assert ev == pytest.approx(expected) and p == 0.3
    assert "P(not opening anyway) 0.800" in text and "contact churn" in text
    # A product never offered (NaN) falls back to P(open).
    unknown = model_scores(catalogue, customer, 0.1, p_open, {}, {"savings": float("nan")}, 0.5)
    assert unknown.p_accept["xsell_savings"] == 0.2 and unknown.contact_churn == 0.0


def test_an_acceptance_model_no_better_than_chance_is_not_used(caplog):
    import logging

    data = synthetic()
    rng = np.random.default_rng(6)
    sample = data.frame.sample(3000, random_state=2).reset_index(drop=True)
    data.offers = sample.assign(  # answers at random: nothing to learn
        product=rng.choice(["savings", "mortgage"], len(sample)),
        accepted=rng.random(len(sample)) < 0.1,
    )
    with caplog.at_level(logging.WARNING, logger="training.propensity.job"):
        fitted = fit_propensity(data, FAST)
    assert fitted.model.acceptance is None
    assert "no better than chance" in caplog.text
    assert "acceptance_test_auc" not in fitted.metrics
