"""Training on one snapshot (no MLflow, no Feast): a stratified split of customers, a
cross-validated AUC, and a model card and run facts that say no out-of-time validation was
possible."""

from __future__ import annotations

import numpy as np
import pytest

from training.churn.card import render_model_card
from training.churn.job import Fitted, fit_and_evaluate, split_dataset, split_info
from training.churn.synthetic import synthetic_dataset
from training.config import TrainConfig

FAST = TrainConfig(num_threads=1, num_boost_round=80, min_data_in_leaf=50, shap_sample=50)


@pytest.fixture(scope="module")
def data():
    """1,500 customers at one labelled as-of time."""
    return synthetic_dataset(customers=1500, months=1, seed=2, unlabelled_tail=0)


@pytest.fixture(scope="module")
def fitted(data) -> Fitted:
    return fit_and_evaluate(data, FAST)


def test_one_snapshot_trains_on_a_stratified_split_of_customers(data, fitted):
    """Auto mode picks the snapshot split; train, validation and test are disjoint customers."""
    assert fitted.split.mode == "snapshot" and fitted.in_time
    masks = fitted.split.masks(data.frame)
    ids = {k: set(data.frame.loc[m, "customer_id"]) for k, m in masks.items()}
    assert not (ids["train"] & ids["test"] or ids["valid"] & ids["test"])
    assert fitted.info["rows_test"] == 300


def test_the_reported_auc_is_cross_validated(fitted):
    """Five folds, a mean well above chance and a spread; the logistic baseline beside it."""
    cv = fitted.cv
    assert cv is not None and cv.folds == 5
    assert len(cv.per_fold["roc_auc"]) == 5
    assert cv.mean("roc_auc") > 0.6 and cv.sd("roc_auc") > 0
    metrics = cv.metrics()
    assert {"cv_roc_auc_mean", "cv_roc_auc_sd", "cv_logistic_roc_auc_mean"} <= set(metrics)


def test_the_run_facts_and_the_model_card_say_no_out_of_time_validation(fitted):
    """The model's info records the split (seed and shares, to rebuild its test split); the
    card opens with the caveat and gives the cross-validated figures."""
    assert fitted.info["split"] == "snapshot" and fitted.info["split_seed"] == FAST.seed
    assert "no out-of-time validation was possible" in fitted.info["validation"]
    card = render_model_card(
        model_name="retain-churn",
        report=fitted.report,
        info=fitted.info,
        features=fitted.model.spec.features,
        categorical=fitted.model.spec.categorical,
        cv=fitted.cv,
    )
    assert "**No out-of-time validation was possible.**" in card
    assert "Cross-validation, 5 stratified folds of customers" in card
    assert "## Metrics on the test split (in-time)" in card


def test_snapshot_training_is_deterministic(data, fitted):
    """The same data and seed give the same split and the same cross-validated figures."""
    again = fit_and_evaluate(data, FAST)
    assert set(again.split.test) == set(fitted.split.test)  # type: ignore[union-attr]
    assert again.cv is not None and fitted.cv is not None
    assert again.cv.per_fold == fitted.cv.per_fold
    rows = data.frame.head(100)
    np.testing.assert_array_equal(again.model.predict_proba(rows), fitted.model.predict_proba(rows))


def test_monthly_history_keeps_the_time_split():
    """With room for three windows, auto mode splits by time as before: no caveat, no CV."""
    data = synthetic_dataset(customers=100, months=18, seed=1)
    split, _ = split_dataset(data, FAST)
    assert split.mode == "time"
    assert split_info(split, FAST) == {"split": "time"}


def test_promotion_rescores_on_the_challengers_own_test_split(data, fitted):
    """A snapshot model's recorded seed and shares rebuild its test split, so promotion scores
    it on customers it was not trained on; a model split by time gets a fresh time split."""
    from dataclasses import replace

    from training.promote import rescoring_config
    from training.registry import Loaded

    loaded = Loaded("retain-churn", "1", fitted.model, None)
    config = rescoring_config(loaded)
    assert config.split == "snapshot" and config.seed == FAST.seed
    split, _ = split_dataset(data, config)
    assert set(split.test) == set(fitted.split.test)  # type: ignore[union-attr]
    timed = replace(fitted.model, info={**fitted.model.info, "split": "time"})
    assert rescoring_config(Loaded("retain-churn", "2", timed, None)).split == "auto"
