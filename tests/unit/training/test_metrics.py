"""Calibration, metrics, category encoding, baselines and the model card on tiny frames."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from training import metrics as m
from training.calibrate import calibrate, fit_calibration
from training.churn.baselines import BankRule, fit_logistic, fit_rule, predict_logistic
from training.churn.card import render_model_card
from training.churn.evaluate import age_band, build_report, value_tier
from training.encode import FeatureSpec, encode, fit_spec


@pytest.fixture(scope="module")
def miscalibrated() -> tuple[np.ndarray, np.ndarray]:
    """Raw scores that overstate risk: the true probability is raw**2."""
    rng = np.random.default_rng(0)
    raw = rng.uniform(0, 1, 20_000)
    y = (rng.uniform(0, 1, raw.size) < raw**2).astype(float)
    return raw, y


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_calibration_brings_probabilities_to_observed_rates(miscalibrated, method):
    """After calibration a bin's mean probability matches its churn rate (ECE falls a lot)."""
    raw, y = miscalibrated
    params = fit_calibration(raw, y, method)
    p = calibrate(raw, params)
    assert m.expected_calibration_error(y, raw) > 0.1
    assert m.expected_calibration_error(y, p) < 0.03


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_calibration_parameters_are_plain_json_and_monotone(miscalibrated, method):
    """The parameters survive a JSON round trip and keep the order of the scores."""
    raw, y = miscalibrated
    params = json.loads(json.dumps(fit_calibration(raw, y, method)))
    grid = np.linspace(-0.5, 1.5, 101)
    p = calibrate(grid, params)
    assert np.all(np.diff(p) >= -1e-12)
    assert np.all((p >= 0) & (p <= 1))


def test_calibration_refuses_one_class():
    """A validation window without churners cannot be calibrated."""
    with pytest.raises(ValueError, match="both classes"):
        fit_calibration([0.1, 0.2], [0, 0])


def test_ece_of_perfect_and_of_constant_scores():
    """ECE is 0 for probabilities equal to the rate in each bin, |p - rate| for a constant."""
    y = np.array([0, 0, 0, 1] * 25, dtype=float)
    assert m.expected_calibration_error(y, np.full(100, 0.25)) == pytest.approx(0.0)
    assert m.expected_calibration_error(y, np.full(100, 0.75)) == pytest.approx(0.5)


def test_lift_and_capture_at_the_top():
    """Top 10% of 100 rows holding 5 of 10 churners: lift 5, capture 0.5."""
    y = np.zeros(100)
    y[:5] = 1
    y[50:55] = 1
    p = np.linspace(1, 0, 100)
    lift, capture = m.top_k(y, p, 0.10)
    assert lift == pytest.approx(5.0)
    assert capture == pytest.approx(0.5)


def test_evaluate_reports_every_headline_metric():
    """The metric dict has AUCs, Brier, log loss, ECE and lift/capture at 5/10/20%."""
    rng = np.random.default_rng(1)
    p = rng.uniform(size=500)
    y = (rng.uniform(size=500) < p).astype(float)
    out = m.evaluate(y, p)
    for key in ("roc_auc", "pr_auc", "brier", "log_loss", "ece", "lift_top5", "capture_top20"):
        assert key in out and not math.isnan(out[key])
    assert out["roc_auc"] > 0.7


def test_auc_of_one_class_is_nan_not_an_error():
    """A slice without churners has no AUC."""
    assert math.isnan(m.roc_auc([0, 0, 0], [0.1, 0.2, 0.3]))


def test_four_fifths_ratio():
    """Flag rates 0.2 and 0.1 give a ratio of 0.5."""
    flags = np.array([1, 1] + [0] * 8 + [1] + [0] * 9)
    groups = pd.Series(["a"] * 10 + ["b"] * 10)
    table, ratio = m.flag_rates(flags, groups)
    assert list(table.flag_rate) == [0.2, 0.1]
    assert ratio == pytest.approx(0.5)


def test_category_levels_are_recorded_and_unknowns_become_missing():
    """Training levels fix the codes; an unseen or missing category scores as NaN."""
    train = pd.DataFrame(
        {"region": ["north", "south", "north"], "x": [1, 2, 3], "b": [True, False, True]}
    )
    spec = fit_spec(train, ["region", "x", "b"])
    assert spec.categorical == ("region",)
    assert spec.levels == {"region": ("north", "south")}
    scored = encode(
        pd.DataFrame(
            {"x": [5, None, 1], "region": ["south", "mars", None], "b": [False, True, None]}
        ),
        spec,
    )
    assert list(scored.columns) == ["region", "x", "b"]
    assert scored["region"].tolist()[0] == 1.0
    assert scored["region"].isna().tolist() == [False, True, True]
    assert scored["b"].tolist()[:2] == [0.0, 1.0]
    assert FeatureSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_encoding_does_not_depend_on_row_order_or_index():
    """The same row gets the same codes wherever it sits in a frame."""
    train = pd.DataFrame({"c": ["b", "a", "c"], "x": [1.0, 2.0, 3.0]})
    spec = fit_spec(train, ["c", "x"])
    a = encode(train, spec)
    b = encode(train.iloc[::-1].set_index(pd.Index([7, 8, 9])), spec)
    assert a.to_numpy().tolist() == b.to_numpy()[::-1].tolist()


def rule_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    f = pd.DataFrame(
        {
            "bal_total_chg_3m": rng.uniform(-1, 1, n),
            "months_since_salary_stopped": np.where(rng.uniform(size=n) < 0.1, 1.0, np.nan),
            "months_since_salary": np.where(rng.uniform(size=n) < 0.5, 0.0, 2.0),
            "region": rng.choice(["north", "south"], n),
        }
    )
    risky = (f.bal_total_chg_3m <= -0.5) | f.months_since_salary_stopped.notna()
    f["label"] = (rng.uniform(size=n) < np.where(risky, 0.6, 0.1)).astype(float)
    return f


def test_bank_rule_flags_halved_balances_and_stopped_salaries():
    """Balance down by half, or salary stopped and not back: flagged; otherwise not."""
    f = pd.DataFrame(
        {
            "bal_total_chg_3m": [-0.6, 0.1, 0.1, 0.1, np.nan],
            "months_since_salary_stopped": [np.nan, 1, 1, np.nan, np.nan],
            "months_since_salary": [0, 1, 0, 0, np.nan],
        }
    )
    assert BankRule().flags(f).tolist() == [True, True, False, False, False]


def test_baselines_learn_from_the_train_window():
    """The rule's probabilities are its groups' churn rates; the logistic model ranks well."""
    train, test = rule_frame(seed=0), rule_frame(seed=1)
    rule = fit_rule(train, BankRule())
    assert rule.rate_flagged > rule.rate_unflagged
    spec = fit_spec(train, ["bal_total_chg_3m", "months_since_salary_stopped", "region"])
    lr = fit_logistic(train, spec, seed=0)
    assert m.roc_auc(test.label, predict_logistic(lr, test, spec)) > 0.6
    assert m.roc_auc(test.label, rule.predict_proba(test)) > 0.6


def test_age_bands_and_value_tiers():
    """Ages fall into fixed bands; balances into equal thirds."""
    assert age_band(pd.Series([18, 30, 59, 75, None])).tolist() == [
        "<30",
        "30-44",
        "45-59",
        "60+",
        "unknown",
    ]
    assert value_tier(pd.Series([1.0, 2, 3, 4, 5, 6])).tolist() == [
        "low",
        "low",
        "mid",
        "mid",
        "high",
        "high",
    ]


def test_model_card_holds_windows_metrics_slices_fairness_and_limits():
    """The card is generated from the run's figures, with every section present."""
    rng = np.random.default_rng(2)
    y = (rng.uniform(size=300) < 0.2).astype(float)
    p = np.clip(y * 0.3 + rng.uniform(0, 0.5, 300), 0, 1)
    groups = {
        "age_band": pd.Series(rng.choice(["<30", "60+"], 300)),
        "gender": pd.Series(rng.choice(["f", "m"], 300)),
    }
    report = build_report(y, {"model": p, "rule": np.full(300, 0.2)}, groups, 0.5, truth=p)
    card = render_model_card(
        model_name="retain-churn",
        report=report,
        info={"feature_service": "churn_v1", "train_window": "2023-01..2023-06 (6 months)"},
        features=["age", "region"],
        categorical=["region"],
    )
    for text in (
        "# Model card: retain-churn",
        "churn_v1",
        "2023-01..2023-06",
        "`region` (categorical)",
        "| roc_auc |",
        "truth_auc",
        "### age_band",
        "four-fifths ratio",
        "## Known limits",
    ):
        assert text in card
