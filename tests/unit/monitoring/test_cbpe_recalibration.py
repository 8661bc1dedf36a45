"""CBPE's recalibration (NannyML's step): an isotonic map of label on score, fitted on labelled
months out of sample, leave-one-month-out, before the expected AUC and confusion matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq
from scipy.special import expit, logit

from monitoring.monitor import _recalibration, month_labels, month_performance
from monitoring.performance import (
    RECALIBRATION_MIN_CLASS,
    cross_recalibrate,
    expected_auc,
    expected_confusion,
    realised_auc,
    realised_confusion,
    recalibrate,
)
from monitoring.windows import parse_window


def _right_on_average_wrong_by_range(
    rng: np.random.Generator, n: int, slope: float = 2.0
) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from true risks, and scores that keep their order and their mean but are
    too sure: too high at the top, too low below (a logit slope of ``slope``)."""
    true = expit(rng.normal(-3.5, 0.9, n))
    z = logit(true)
    shift = brentq(lambda b: expit(slope * z + b).mean() - true.mean(), -30, 30)
    scores = expit(slope * z + shift)
    return (rng.random(n) < true).astype(np.float64), scores


def test_the_synthetic_scores_are_right_on_average_and_the_plain_estimate_is_off():
    y, p = _right_on_average_wrong_by_range(np.random.default_rng(1), 200_000)
    assert p.mean() == pytest.approx(y.mean(), abs=0.002)
    assert expected_auc(p) - realised_auc(y, p) > 0.03


def test_the_recalibrated_estimate_is_within_0_01_of_the_realised_auc():
    rng = np.random.default_rng(2)
    y_fit, p_fit = _right_on_average_wrong_by_range(rng, 200_000)  # labelled, other months
    y, p = _right_on_average_wrong_by_range(rng, 200_000)  # the month estimated
    q = recalibrate(y_fit, p_fit, p)
    assert q is not None
    realised = realised_auc(y, p)
    assert abs(expected_auc(p) - realised) > 0.03
    assert expected_auc(q, scores=p) == pytest.approx(realised, abs=0.01)
    # The precision at an operating threshold too, flagging by the champion's scores.
    t = float(np.quantile(p, 0.9))
    real = realised_confusion(y, p, t).precision
    assert abs(expected_confusion(p, t).precision - real) > 0.03
    assert expected_confusion(q, t, scores=p).precision == pytest.approx(real, abs=0.01)


def test_cross_fitting_never_reads_a_months_own_labels():
    rng = np.random.default_rng(3)
    y, p = _right_on_average_wrong_by_range(rng, 60_000)
    months = np.repeat(["2024-01", "2024-02", "2024-03"], 20_000)
    fit = months != "2024-03"  # March: not labelled, or in the training window
    q, done = cross_recalibrate(p, months, y, fit)
    assert done.all()
    jan, feb, mar = (months == m for m in ("2024-01", "2024-02", "2024-03"))
    np.testing.assert_allclose(q[jan], recalibrate(y[feb], p[feb], p[jan]))
    np.testing.assert_allclose(q[feb], recalibrate(y[jan], p[jan], p[feb]))
    np.testing.assert_allclose(q[mar], recalibrate(y[fit], p[fit], p[mar]))
    # Changing January's labels leaves January's estimate as it was.
    y2 = y.copy()
    y2[jan] = 1 - y2[jan]
    np.testing.assert_allclose(cross_recalibrate(p, months, y2, fit)[0][jan], q[jan])


def test_a_single_labelled_month_is_not_recalibrated_with_itself():
    rng = np.random.default_rng(4)
    y, p = _right_on_average_wrong_by_range(rng, 40_000)
    months = np.repeat(["2024-01", "2024-02"], 20_000)
    q, done = cross_recalibrate(p, months, y, months == "2024-01")
    assert not done[months == "2024-01"].any()
    np.testing.assert_array_equal(q[months == "2024-01"], p[months == "2024-01"])
    assert done[months == "2024-02"].all()


def test_too_few_leavers_fit_nothing():
    p = np.linspace(0.01, 0.2, 1_000)
    y = np.zeros(1_000)
    y[-(RECALIBRATION_MIN_CLASS - 1) :] = 1
    assert recalibrate(y, p, p) is None
    q, done = cross_recalibrate(p, np.repeat(["a", "b"], 500), y, np.ones(1_000, dtype=bool))
    assert not done.any()
    np.testing.assert_array_equal(q, p)


def test_the_fit_is_sampled_beyond_its_row_limit_and_stays_a_rate():
    rng = np.random.default_rng(5)
    y, p = _right_on_average_wrong_by_range(rng, 50_000)
    q = recalibrate(y, p, p, rows=5_000, seed=1)
    assert q is not None
    assert np.all(np.diff(q[np.argsort(p)]) >= 0)  # monotone in the score
    assert q.min() >= 0 and q.max() <= 1
    assert q.mean() == pytest.approx(y.mean(), abs=0.01)


def test_expected_auc_ranks_by_the_scores_given():
    rng = np.random.default_rng(6)
    p = rng.beta(0.6, 10, 5_000)
    assert expected_auc(p, scores=p) == pytest.approx(expected_auc(p))
    # Constant probabilities: no pair is more likely ordered one way than the other.
    assert expected_auc(np.full(5_000, 0.1), scores=p) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="scores for"):
        expected_auc(p, scores=p[:10])


def test_month_performance_keeps_the_plain_estimate_beside_the_recalibrated_one():
    rng = np.random.default_rng(7)
    y, p = _right_on_average_wrong_by_range(rng, 100_000)
    months = np.repeat(pd.to_datetime(["2024-01-31", "2024-02-29"], utc=True), 50_000)
    frame = pd.DataFrame({"event_timestamp": months, "label": y})
    groups = np.repeat(["2024-01", "2024-02"], 50_000)
    q, done = cross_recalibrate(p, groups, y, np.ones(len(y), dtype=bool))
    out = month_performance(frame, p, 0.1, "between", q, done)
    assert out["recalibrated"].all()
    for r in out.to_dict("records"):
        assert r["estimated_auc_plain"] - r["realised_auc"] > 0.03
        assert r["estimated_auc"] == pytest.approx(r["realised_auc"], abs=0.015)
    plain = month_performance(frame, p, 0.1, "between")
    assert not plain["recalibrated"].any()
    np.testing.assert_allclose(plain["estimated_auc"], plain["estimated_auc_plain"])


def _window(months: list[str], y: np.ndarray, p: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    stamps = pd.to_datetime([f"{m}-15" for m in months], utc=True)
    n = len(y) // len(months)
    return pd.DataFrame({"event_timestamp": np.repeat(stamps, n), "label": y}), p


def test_the_monitor_fits_out_of_sample_and_before_the_current_window_only():
    rng = np.random.default_rng(8)
    y, p = _right_on_average_wrong_by_range(rng, 160_000)
    ref, p_ref = _window(["2023-11", "2023-12"], y[:40_000], p[:40_000])  # training window
    mid, p_mid = _window(["2024-01", "2024-02"], y[40_000:80_000], p[40_000:80_000])
    cur, p_cur = _window(["2024-03", "2024-04"], y[80_000:120_000], p[80_000:120_000])
    windows = [("reference", ref, p_ref), ("between", mid, p_mid), ("current", cur, p_cur)]
    out = _recalibration(
        windows,
        "2023-01..2023-12 (12 months)",
        parse_window("2023-11..2023-12"),
        parse_window("2024-03..2024-04"),
        7,
    )
    assert out.months == ["2024-01", "2024-02"] and out.fitted
    assert "2 labelled month(s) out of sample in 2024-01..2024-02" in out.note
    fit_y, fit_p = y[40_000:80_000], p[40_000:80_000]
    # The current window's labels, though known, are not read: its estimate meets them.
    for w, pw in (("reference", p_ref), ("current", p_cur)):
        np.testing.assert_allclose(out.rows[w][0], recalibrate(fit_y, fit_p, pw, seed=7))
        np.testing.assert_allclose(out.window[w], recalibrate(fit_y, fit_p, pw, seed=7))
    # Between the windows: each month by the other's fit; at the window level, one map.
    jan = slice(0, 20_000)
    np.testing.assert_allclose(
        out.rows["between"][0][jan], recalibrate(y[60_000:80_000], p[60_000:80_000], p_mid[jan])
    )
    np.testing.assert_allclose(out.window["between"], recalibrate(fit_y, fit_p, p_mid, seed=7))
    assert all(done.all() for _, done in out.rows.values())


def test_without_labelled_months_out_of_sample_the_monitor_says_so():
    rng = np.random.default_rng(9)
    y, p = _right_on_average_wrong_by_range(rng, 40_000)
    ref, p_ref = _window(["2023-11", "2023-12"], y[:20_000], p[:20_000])
    cur, p_cur = _window(["2024-01", "2024-02"], y[20_000:], p[20_000:])  # labelled: not read
    windows = [("reference", ref, p_ref), ("current", cur, p_cur)]
    refw, curw = parse_window("2023-11..2023-12"), parse_window("2024-01..2024-02")
    out = _recalibration(windows, "2023-01..2023-12", refw, curw, 7)
    assert out.months == [] and not out.fitted
    assert out.note.startswith("none: 0 labelled month(s)")
    assert "champion's own calibration" in out.note
    np.testing.assert_array_equal(out.rows["current"][0], p_cur)
    np.testing.assert_array_equal(out.window["reference"], p_ref)
    # No recorded training window: the reference, possibly in sample, is left out as well.
    out = _recalibration(windows, "", refw, parse_window("2024-03..2024-04"), 7)
    assert out.fitted and out.months == ["2024-01", "2024-02"]
    out = _recalibration(windows, "", refw, curw, 7)
    assert not out.fitted and "outside the reference 2023-11..2023-12" in out.note


def test_month_labels_read_as_strftime_does():
    stamps = pd.to_datetime(
        ["2023-12-31 23:59:59", "2024-01-31 23:59:59", "2023-12-01 00:00:00"], utc=True
    )
    frame = pd.DataFrame({"event_timestamp": stamps})
    assert month_labels(frame).tolist() == stamps.strftime("%Y-%m").tolist()
