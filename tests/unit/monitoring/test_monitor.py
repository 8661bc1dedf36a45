"""The monitoring job's pure helpers: window syntax, risk bands, per-month performance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitoring.config import MonitoringConfig
from monitoring.monitor import (
    NOT_JUDGED,
    _default_reference,
    against_reference,
    band_of,
    champion_auc_error,
    labelled_auc,
    least,
    month_performance,
)
from monitoring.windows import MonthWindow, parse_window
from retain.core.errors import ConfigError


def test_a_window_reads_both_ways():
    w = parse_window("2024-01..2024-03")
    assert (str(w.start), str(w.end)) == ("2024-01", "2024-03")
    assert parse_window("2023-01..2023-12 (12 months)").describe() == "2023-01..2023-12"


@pytest.mark.parametrize("text", ["2024-01", "2024-1..2024-03", "2024-13..2024-14", "jan..feb"])
def test_bad_window_syntax_is_a_config_error(text):
    with pytest.raises(ConfigError, match="YYYY-MM..YYYY-MM"):
        parse_window(text, "--current")


def test_a_window_ending_before_it_starts_is_refused():
    with pytest.raises(ConfigError, match="ends before it starts"):
        parse_window("2024-05..2024-01")


def test_window_months_picks_the_month_ends_inside():
    ends = list(pd.date_range("2024-01-31", periods=6, freq="ME", tz="UTC"))
    assert [m.month for m in parse_window("2024-02..2024-04").months(ends)] == [2, 3, 4]


def test_bands_are_the_services():
    """Lower bounds, ascending; below the first is low (as ServingConfig.band)."""
    p = np.array([0.01, 0.05, 0.1, 0.15, 0.9])
    out = band_of(p, {"medium": 0.05, "high": 0.15})
    assert out.tolist() == ["low", "medium", "medium", "high", "high"]


def test_month_performance_estimates_every_month_and_realises_the_labelled_ones():
    rng = np.random.default_rng(3)
    months = pd.to_datetime(["2024-01-31 23:59:59", "2024-02-29 23:59:59"], utc=True)
    n = 20_000
    p = rng.beta(0.6, 10, 2 * n)
    label = (rng.random(2 * n) < p).astype(float)
    label[n:] = np.nan  # February is not labelled yet
    frame = pd.DataFrame({"event_timestamp": np.repeat(months, n), "label": label})
    out = month_performance(frame, p, threshold=0.15, window="current")
    assert out["month"].tolist() == ["2024-01", "2024-02"]
    assert out["labelled"].tolist() == [True, False]
    jan, feb = out.iloc[0], out.iloc[1]
    assert jan["estimated_auc"] == pytest.approx(jan["realised_auc"], abs=0.02)
    assert np.isnan(feb["realised_auc"]) and not np.isnan(feb["estimated_auc"])


def test_window_rows_agree_with_the_training_labels_and_leave_the_rest_unlabelled(settings):
    """On labelled months the rows and labels are ``label_table``'s; the latest months (horizon
    beyond the data) keep their customers with the label missing."""
    from features.frames import label_table
    from monitoring.windows import available_months, window_rows
    from tests.integration.conftest import write_raw_tables

    write_raw_tables(settings.raw_dir, customers=200, months=8, seed=5, parts=2)
    months = available_months(settings)
    rows = window_rows(settings, months)
    labels = label_table(settings)
    labelled = rows[rows["label"].notna()].sort_values(["customer_id", "event_timestamp"])
    assert labelled.reset_index(drop=True).equals(labels.astype({"label": "float64"}))
    latest = rows[rows["event_timestamp"] == months[-1]]
    assert len(latest) and latest["label"].isna().all()


ENDS = list(pd.date_range("2023-01-31 23:59:59", periods=24, freq="ME", tz="UTC"))
INFO = {"train_window": "2023-01..2023-12 (12 months)", "test_window": "2024-08..2024-09"}


def test_a_training_window_inside_the_warm_up_is_not_judged_until_three_months_follow_it():
    """A champion trained on the first 12 months of a bank whose warm-up is 12 months: the
    months 13 and 15 have 0 and 2 comparable months before them, so drift is not judged (the
    training window stays the figures' reference, with the reason); from month 16 the first
    comparable months after the warm-up are, no later than the champion's test window."""
    config = MonitoringConfig(warmup_months=12)
    trained = parse_window(INFO["train_window"])
    for current, reference, judged in (
        ("2024-01..2024-01", "2023-01..2023-12", False),
        ("2024-03..2024-03", "2023-01..2023-12", False),
        ("2024-04..2024-04", "2024-01..2024-03", True),
        ("2024-12..2024-12", "2024-01..2024-09", True),
    ):
        window, note = _default_reference(trained, parse_window(current), ENDS, INFO, config)
        assert (window.describe(), not note) == (reference, judged)
    _, note = _default_reference(trained, parse_window("2024-03..2024-03"), ENDS, INFO, config)
    assert note.startswith("drift not judged: the training window 2023-01..2023-12 lies in")
    assert "2 comparable month(s) precede the current window 2024-03..2024-03" in note
    assert "reference_min_months = 3" in note and "--reference" in note
    assert NOT_JUDGED == "n/a"


def test_a_champion_trained_after_the_warm_up_keeps_its_training_window():
    trained = MonthWindow(pd.Period("2023-07", "M"), pd.Period("2024-02", "M"))
    window, note = _default_reference(
        trained, parse_window("2024-12..2024-12"), ENDS, {}, MonitoringConfig(warmup_months=6)
    )
    assert (window.describe(), note) == ("2023-07..2024-02", "")


def test_only_comparisons_with_the_reference_are_left_out_when_it_is_not_comparable():
    def line(kind: str, subject: str) -> dict[str, str]:
        return {"kind": kind, "subject": subject, "status": "alert", "detail": ""}

    assert against_reference(line("feature drift", "tx_branch"))
    assert against_reference(line("prediction drift", "churn_score"))
    assert against_reference(line("segment drift", "region = north"))
    assert against_reference(line("attribution drift", "mean |SHAP| ranking"))
    assert against_reference(line("performance", "ROC AUC"))
    assert not against_reference(line("performance", "realised ROC AUC 2024-05..2024-07"))
    assert not against_reference(line("prediction drift", "action mix (decision log)"))
    assert not against_reference(line("data quality", "monthly.satisfaction"))
    assert not against_reference(line("fairness", "high-risk flag rate, age band <30"))


def test_the_reference_s_realised_auc_counts_only_its_labelled_rows():
    y = np.array([0, 1, 0, 1, np.nan, np.nan])
    p = np.array([0.1, 0.9, 0.2, 0.8, 0.99, 0.01])
    auc, error = labelled_auc(y, p)
    assert auc == 1.0 and error >= 0
    assert np.isnan(labelled_auc(np.array([np.nan, 0.0]), np.array([0.5, 0.5]))[0])  # one class
    assert np.isnan(labelled_auc(np.array([np.nan, np.nan]), np.array([0.5, 0.5]))[0])


def test_the_champion_s_test_auc_carries_its_own_sampling_error():
    """3,107 test rows at a 2.9% base rate (91 leavers): about 0.03, as large as a month's; a
    run without the figures is judged as if exact."""
    error = champion_auc_error({"roc_auc": 0.732, "rows": 3107.0, "base_rate": 0.0293})
    assert 0.025 < error < 0.035
    assert champion_auc_error({"roc_auc": 0.7}) == 0.0


def test_the_noise_caps_the_status_of_a_drop():
    assert least("alert", "warn") == "warn" and least("ok", "alert") == "ok"
