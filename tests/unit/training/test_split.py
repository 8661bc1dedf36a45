"""The point-in-time split: windows by as-of time, horizon gaps, no customer-month twice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retain.core.errors import DataError
from training.split import time_split


def month_ends(n: int, start: str = "2023-01-31") -> list[pd.Timestamp]:
    return list(pd.date_range(start, periods=n, freq="ME", tz="UTC") + pd.Timedelta("23:59:59"))


def frame(n_months: int, customers: int = 5, unlabelled_tail: int = 0) -> pd.DataFrame:
    rows = []
    months = month_ends(n_months)
    for i, m in enumerate(months):
        for c in range(customers):
            label = np.nan if i >= n_months - unlabelled_tail else float((c + i) % 2)
            rows.append({"customer_id": c, "event_timestamp": m, "label": label})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("horizon_days", [30, 90, 180])
@pytest.mark.parametrize("valid_months,test_months", [(1, 1), (3, 2), (2, 3)])
def test_windows_are_separated_by_the_horizon(horizon_days, valid_months, test_months):
    """Every train label is known before validation starts, every validation label before test."""
    f = frame(24, unlabelled_tail=3)
    split = time_split(f, horizon_days, valid_months, test_months)
    horizon = pd.Timedelta(days=horizon_days)
    assert max(split.train.months) + horizon <= split.valid.start
    assert max(split.valid.months) + horizon <= split.test.start
    assert len(split.valid.months) == valid_months
    assert len(split.test.months) == test_months


def test_no_customer_month_is_in_two_windows_and_unlabelled_rows_in_none():
    """The windows' row masks are disjoint and skip rows whose label is unknown."""
    f = frame(24, unlabelled_tail=3)
    masks = time_split(f, 90, 3, 2).masks(f)
    keys = {
        name: set(map(tuple, f.loc[mask, ["customer_id", "event_timestamp"]].to_numpy()))
        for name, mask in masks.items()
    }
    assert not keys["train"] & keys["valid"]
    assert not keys["train"] & keys["test"]
    assert not keys["valid"] & keys["test"]
    assert not any(f.loc[mask, "label"].isna().any() for mask in masks.values())


def test_the_test_window_is_the_latest_labelled_months():
    """Test holds the last labelled as-of months, not the unlabelled tail."""
    f = frame(12, unlabelled_tail=3)
    split = time_split(f, 90, 1, 2)
    labelled = sorted(f.loc[f.label.notna(), "event_timestamp"].unique())
    assert list(split.test.months) == [pd.Timestamp(m) for m in labelled[-2:]]


def test_a_90_day_horizon_leaves_two_month_ends_between_windows():
    """Sep 30 + 90 days is Dec 29, so Sep validates for a Dec test; Oct 31 + 90 is past Dec 31."""
    f = frame(12)
    split = time_split(f, 90, 1, 1)
    assert split.test.start.month == 12
    assert split.valid.start.month == 9
    assert split.train.end.month == 6  # Jun 30 + 90 days = Sep 28; Jul 31 + 90 days = Oct 29


def test_no_labelled_months_is_a_data_error():
    """A frame without labels cannot be split, and the message says why."""
    with pytest.raises(DataError, match="no labelled as-of months"):
        time_split(frame(6, unlabelled_tail=6), 90, 1, 1)


def test_too_few_months_is_a_data_error():
    """Too short a history for three windows and their gaps is refused with a hint."""
    with pytest.raises(DataError, match="need room"):
        time_split(frame(6), 90, 1, 1)
