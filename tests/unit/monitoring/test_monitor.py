"""The monitoring job's pure helpers: window syntax, risk bands, per-month performance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitoring.monitor import band_of, month_performance
from monitoring.windows import parse_window
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
