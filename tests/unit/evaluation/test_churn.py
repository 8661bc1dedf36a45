"""The cross-validated evaluation of the churn model on a bank's own data, on small synthetic
frames (no Feast, no MLflow): the choice and the soundness of the folds, the out-of-fold scores,
and the figures and report built from them."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from evaluation.churn import (
    calibration_table,
    evaluate_churn,
    gains_table,
    plan_folds,
    summarise,
    time_folds,
    write_report,
)
from retain.core.errors import ConfigError, DataError
from training.churn.crossval import FoldScores
from training.churn.synthetic import synthetic_dataset
from training.config import TrainConfig

FAST = TrainConfig(num_threads=1, num_boost_round=60, min_data_in_leaf=40, cv_folds=3)


def month_ends(n: int) -> list[pd.Timestamp]:
    return list(
        pd.date_range("2023-01-31", periods=n, freq="ME", tz="UTC") + pd.Timedelta("23:59:59")
    )


def labels(months: int, customers: int = 40) -> pd.DataFrame:
    """A label table: every fourth customer churns, in every other month it is labelled."""
    rows = [
        {"customer_id": c, "event_timestamp": m, "label": int(c % 4 == 0 and (c + i) % 2 == 0)}
        for i, m in enumerate(month_ends(months))
        for c in range(customers)
    ]
    return pd.DataFrame(rows)


def test_time_folds_test_consecutive_later_blocks_on_what_was_known_before_each():
    """The latest blocks, earliest fold first, none overlapping; every train and validation label
    was known (as-of + horizon) before its fold's test block starts."""
    months = month_ends(20)
    folds = time_folds(months, 90, 3, 2, 4)
    tests = [f.test.months for f in folds]
    assert tests[-1] == tuple(months[-2:])
    assert [t[0] for t in tests] == sorted(t[0] for t in tests)
    assert len({m for t in tests for m in t}) == 8  # disjoint blocks of two months
    horizon = pd.Timedelta(days=90)
    for f in folds:
        assert f.valid.end + horizon <= f.test.start
        assert f.train.end + horizon <= f.valid.start


def test_too_short_a_history_for_the_time_folds_is_refused_with_what_to_do():
    with pytest.raises(DataError, match="lower --folds or --test-months, or use --split snapshot"):
        time_folds(month_ends(12), 90, 3, 2, 5)


def test_a_snapshot_gets_folds_of_customers_and_says_why():
    plan = plan_folds(labels(1), FAST)
    assert plan.mode == "snapshot" and plan.folds == 3 and not plan.splits
    assert "no room for a split by time" in plan.reason
    assert "stratified folds of customers" in plan.describe()


def test_a_history_gets_time_folds_unless_folds_of_customers_are_asked_for():
    history = labels(20)
    plan = plan_folds(history, FAST)
    assert plan.mode == "time" and len(plan.splits) == 3 and not plan.reason
    assert plan.describe().startswith("3 time folds: test blocks of 2 month(s)")
    by_customer = plan_folds(history, TrainConfig(split="snapshot", cv_folds=3))
    assert by_customer.mode == "snapshot" and not by_customer.reason


@pytest.mark.parametrize(
    ("config", "error", "message"),
    [
        (TrainConfig(cv_folds=1), ConfigError, "--folds must be at least 2"),
        (TrainConfig(cv_folds=3, split="weekly"), ConfigError, "unknown split 'weekly'"),
        (TrainConfig(cv_folds=11), DataError, "the data has 10 and 30: lower the number of folds"),
        (TrainConfig(cv_folds=3, split="time"), DataError, "only 1 labelled as-of months"),
    ],
)
def test_bad_requests_are_refused_before_any_frame_is_built(config, error, message):
    """Too few folds, an unknown split, more folds than churning customers, time folds on one
    snapshot: each one line from the label table alone."""
    with pytest.raises(error, match=message):
        plan_folds(labels(1), config)


def test_a_time_fold_without_churners_is_refused():
    history = labels(20)
    history.loc[history["event_timestamp"] == month_ends(20)[-1], "label"] = 0
    history.loc[history["event_timestamp"] == month_ends(20)[-2], "label"] = 0
    with pytest.raises(DataError, match="time fold 3 of 3 .* test rows have only one class"):
        plan_folds(history, FAST)


def test_the_calibration_table_bins_equal_counts_and_follows_calibrated_scores():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 0.5, 20_000)
    y = (rng.uniform(size=p.size) < p).astype(float)
    table = calibration_table(y, p, bins=5)
    assert [r["rows"] for r in table] == [4000] * 5
    for r in table:
        assert r["observed"] == pytest.approx(r["mean_predicted"], abs=0.03)


def test_gains_of_a_perfect_ranking_capture_every_churner_in_the_first_decile():
    """2 churners in 20 rows: the top 10% holds both (lift 10); the whole list has lift 1."""
    y = np.array([1.0, 1.0] + [0.0] * 18)
    gains = gains_table(y, -np.arange(20.0))
    assert gains[0] == {"share": 0.1, "captured": 1.0, "lift": 10.0}
    assert gains[-1]["captured"] == 1.0 and gains[-1]["lift"] == 1.0


def _folds(frame: pd.DataFrame) -> list[FoldScores]:
    """Two folds over the frame's rows: the model ranks perfectly, the logistic at random."""
    rng = np.random.default_rng(1)
    out = []
    for k, rows in enumerate(np.array_split(frame.index, 2), start=1):
        y = frame.loc[rows, "label"].to_numpy(dtype=float)
        scores = {"model": 0.1 + 0.8 * y, "logistic": rng.uniform(size=len(y))}
        out.append(FoldScores(k, pd.Index(rows), y, scores))
    return out


def test_summarise_gives_each_fold_the_mean_and_spread_and_the_pooled_figures():
    frame = labels(1, customers=200)
    plan = plan_folds(frame, TrainConfig(cv_folds=2))
    ev = summarise(_folds(frame), plan, frame, "churn_v1")
    assert [f["model_roc_auc"] for f in ev.per_fold] == [1.0, 1.0]
    assert ev.summary["model"]["roc_auc"] == {"mean": 1.0, "sd": 0.0}
    assert 0.3 < ev.summary["logistic"]["roc_auc"]["mean"] < 0.7
    assert ev.pooled["model"]["lift_top10"] == pytest.approx(4.0)  # 25% churn, all in the top
    assert ev.rows == 200 and ev.customers == 200 and ev.churn_rate == 0.25
    assert ev.validation.startswith("in-time: no out-of-time validation was possible")
    metrics = ev.metrics()
    assert metrics["cv_model_roc_auc_mean"] == 1.0 and "pooled_logistic_brier" in metrics
    text = ev.markdown()
    assert "| ROC AUC | 1.000 ± 0.000 |" in text and "## Cumulative gains" in text
    assert "| 1 | 100 customers | 100 |" in text


@pytest.fixture(scope="module")
def snapshot_run():
    data = synthetic_dataset(customers=900, months=1, seed=4, unlabelled_tail=0)
    plan = plan_folds(data.frame, FAST)
    return data, plan, *evaluate_churn(data, plan, FAST)


def test_folds_of_customers_score_every_labelled_customer_once_by_a_model_that_never_saw_it(
    snapshot_run,
):
    data, plan, ev, folds = snapshot_run
    held = np.concatenate([f.rows.to_numpy() for f in folds])
    assert sorted(held) == sorted(data.frame.index)
    assert plan.mode == "snapshot" and len(folds) == 3
    assert ev.summary["model"]["roc_auc"]["mean"] > 0.65  # the synthetic signal is learnable
    for f in folds:
        assert set(f.scores) == {"model", "logistic"}
        assert ((f.scores["model"] > 0) & (f.scores["model"] < 1)).all()


def test_the_report_is_written_as_json_markdown_and_plots(snapshot_run, tmp_path):
    _, _, ev, folds = snapshot_run
    paths = write_report(ev, folds, tmp_path / "reports")
    names = sorted(p.name for p in paths)
    assert names == [
        "churn_evaluation.json",
        "churn_evaluation.md",
        "churn_evaluation_calibration.png",
        "churn_evaluation_gain_lift.png",
        "churn_evaluation_roc_pr.png",
    ]
    saved = json.loads((tmp_path / "reports" / "churn_evaluation.json").read_text())
    assert saved["mode"] == "snapshot" and len(saved["per_fold"]) == 3
    assert len(saved["gains"]["model"]) == 10
    assert not list((tmp_path / "reports").glob(".*"))  # no temporary file left


def test_time_folds_score_only_their_later_block():
    data = synthetic_dataset(customers=300, months=18, seed=5)
    plan = plan_folds(data.frame, FAST)
    assert plan.mode == "time"
    ev, folds = evaluate_churn(data, plan, FAST)
    for f, split in zip(folds, plan.splits, strict=True):
        assert set(data.frame.loc[f.rows, "event_timestamp"]) == set(split.test.months)
    assert ev.validation.startswith("out-of-time")
    assert [r["held_out"] for r in ev.per_fold][-1] == plan.splits[-1].test.describe()
