"""The point-in-time split (windows by as-of time, horizon gaps, no customer-month twice), the
choice between it and the snapshot split, and the stratified split of customers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retain.core.errors import ConfigError, DataError
from training.split import (
    choose_split,
    customer_folds,
    stratified_parts,
    stratified_split,
    time_split,
)


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


# --- deciding the split, and the stratified split of customers (snapshot mode) ------------------


def test_the_window_sizes_must_be_at_least_one():
    """A zero-month window would silently take every month: it is refused with a hint."""
    with pytest.raises(ConfigError, match="at least 1"):
        time_split(frame(24), 90, 0, 0)


@pytest.mark.parametrize(
    "n_months,requested,expected",
    [
        (24, "auto", "time"),  # room for three windows and their gaps
        (1, "auto", "snapshot"),  # one snapshot
        (6, "auto", "snapshot"),  # some history, but too little for a time split
        (24, "snapshot", "snapshot"),  # asked for
        (24, "time", "time"),
    ],
)
def test_the_split_is_decided_from_the_labelled_months_alone(n_months, requested, expected):
    """Time when the months leave room for train, validation and test windows, else snapshot."""
    assert choose_split(month_ends(n_months), 90, 3, 2, requested) == expected


def test_the_decision_does_not_depend_on_the_order_of_the_months():
    """Months from a label table come in any order."""
    months = month_ends(24)
    assert choose_split(months[::-1], 90, 3, 2) == choose_split(months, 90, 3, 2) == "time"


def test_asking_for_a_time_split_of_a_snapshot_speaks_to_a_bank():
    """The refusal names what a bank can do, not only the simulator."""
    with pytest.raises(DataError, match="need room") as e:
        choose_split(month_ends(1), 90, 3, 2, "time")
    assert "ingest a longer history" in str(e.value) and "--split snapshot" in str(e.value)


@pytest.mark.parametrize("requested", ["auto", "time", "snapshot"])
def test_no_labelled_months_is_refused_in_every_mode(requested):
    """Without any label there is nothing to split, whatever was asked for."""
    with pytest.raises(DataError, match="no labelled as-of months"):
        choose_split([], 90, 3, 2, requested)


def test_an_unknown_split_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown split"):
        choose_split(month_ends(24), 90, 3, 2, "random")


def snapshot(customers: int = 1000, positive_share: float = 0.2, seed: int = 0) -> pd.DataFrame:
    """One as-of time, one row per customer, a given share of positive labels (string ids)."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(customers)
    labels[: int(customers * positive_share)] = 1.0
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in rng.permutation(customers)],
            "event_timestamp": month_ends(1)[0],
            "label": rng.permutation(labels),
        }
    )


def test_the_stratified_split_keeps_the_label_share_in_every_part():
    """60/20/20 of the customers, each part with the snapshot's churn rate (to one customer)."""
    f = snapshot(1000, 0.2)
    split = stratified_split(f, valid_share=0.2, test_share=0.2, seed=7)
    masks = split.masks(f)
    assert [int(masks[k].sum()) for k in ("train", "valid", "test")] == [600, 200, 200]
    for mask in masks.values():
        positives = f.loc[mask, "label"].sum()
        assert abs(positives - 0.2 * mask.sum()) <= 1


def test_the_stratified_split_puts_each_customer_in_one_part():
    """Disjoint customers, all labelled ones used, unlabelled rows in none; with several as-of
    months a customer's rows stay together."""
    f = pd.concat(
        [
            frame(2, customers=50),
            frame(2, customers=50).assign(customer_id=lambda d: d.customer_id + 50),
        ]
    )
    f.loc[f.index[:3], "label"] = np.nan
    split = stratified_split(f, 0.2, 0.2, seed=1)
    masks = split.masks(f)
    ids = {k: set(f.loc[m, "customer_id"]) for k, m in masks.items()}
    assert not (
        ids["train"] & ids["valid"] or ids["train"] & ids["test"] or ids["valid"] & ids["test"]
    )
    assert ids["train"] | ids["valid"] | ids["test"] == set(f.loc[f.label.notna(), "customer_id"])
    assert not any(f.loc[m, "label"].isna().any() for m in masks.values())
    assert split.mode == "snapshot"


def test_the_stratified_split_is_deterministic_whatever_the_row_order():
    """Same frame and seed, rows shuffled: the same customers in each part; another seed
    differs."""
    f = snapshot(500)
    a = stratified_split(f, 0.2, 0.2, seed=7)
    b = stratified_split(f.sample(frac=1.0, random_state=3), 0.2, 0.2, seed=7)
    c = stratified_split(f, 0.2, 0.2, seed=8)
    for part in ("train", "valid", "test"):
        assert set(getattr(a, part)) == set(getattr(b, part))
    assert set(a.test) != set(c.test)


def test_the_stratified_split_describes_itself_as_in_time():
    """Its windows name the snapshot, the shares and the seed."""
    split = stratified_split(snapshot(100), 0.2, 0.2, seed=7)
    windows = split.windows()
    assert windows["test_window"].startswith("snapshot 2023-01-31, 20% of customers (20;")
    assert "seed 7" in windows["train_window"]


@pytest.mark.parametrize("valid_share,test_share", [(0.5, 0.5), (-0.1, 0.2), (0.2, 1.0)])
def test_shares_that_leave_nothing_to_train_are_refused(valid_share, test_share):
    with pytest.raises(ConfigError, match="shares"):
        stratified_split(snapshot(100), valid_share, test_share, seed=7)


def test_customer_folds_hold_out_every_customer_once_with_the_label_share():
    """k folds of disjoint customers covering all of them, each with the churn rate."""
    f = snapshot(1000, 0.2)
    folds = customer_folds(f, 5, seed=7)
    assert len(folds) == 5
    total = sum(m.astype(int) for m in folds)
    assert (total == 1).all()
    for m in folds:
        assert int(m.sum()) == 200 and abs(f.loc[m, "label"].sum() - 40) <= 1


@pytest.mark.parametrize("labels", [[0, 0, 1], [1, 1, 1, 0, 0, 0, 0], list(range(3)) * 5])
def test_stratified_parts_are_within_one_of_their_share_per_stratum(labels):
    """Largest remainder: every stratum's count in a part is its share, rounded up or down."""
    labels_a = np.asarray(labels)
    shares = (0.6, 0.2, 0.2)
    part = stratified_parts(labels_a, shares, seed=0)
    for value in np.unique(labels_a):
        n = int((labels_a == value).sum())
        for k, share in enumerate(shares):
            assert abs(int(((labels_a == value) & (part == k)).sum()) - share * n) < 1
