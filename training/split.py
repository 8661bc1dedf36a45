"""Splits of a training frame: by as-of time when the history allows it, else by customer.

Every row is a customer at an as-of month end.

- ``time``: the test window is the latest labelled months; the validation window ends early
  enough that its labels were all known when the test window starts, and the train window likewise
  before the validation window starts. So a gap of at least the horizon lies between windows, no
  customer-month is in two windows, and no label reaches a window that was not known at that
  window's first as-of time.
- ``snapshot``: a bank that brings one snapshot (or too few labelled months for three windows and
  their gaps) has no later time to test on. Its customers are split at random, stratified by
  label, into train, validation and test, so every customer's rows are in one part only. Such
  figures are in-time: they say nothing about how the model holds up as the bank changes.

``choose_split`` decides between them from the labelled as-of months alone, before any feature
frame is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from retain.core.columns import AS_OF, KEY, LABEL
from retain.core.errors import ConfigError, DataError

SPLIT_MODES: tuple[str, ...] = ("auto", "time", "snapshot")
"""``auto`` takes ``time`` when the labelled months leave room for it, else ``snapshot``."""

IN_TIME_CAVEAT = (
    "no out-of-time validation was possible: train, validation and test are customers of the "
    "same as-of time(s), so the figures are in-time and optimistic about drift"
)


@dataclass(frozen=True)
class Window:
    """The as-of months of one window (sorted, UTC month ends)."""

    months: tuple[pd.Timestamp, ...]

    @property
    def start(self) -> pd.Timestamp:
        return self.months[0]

    @property
    def end(self) -> pd.Timestamp:
        return self.months[-1]

    def describe(self) -> str:
        return f"{self.start:%Y-%m}..{self.end:%Y-%m} ({len(self.months)} months)"


@dataclass(frozen=True)
class Split:
    """Train, validation and test windows by as-of time (out-of-time validation)."""

    train: Window
    valid: Window
    test: Window

    mode = "time"

    def masks(self, frame: pd.DataFrame) -> dict[str, pd.Series]:
        """Boolean row masks of ``frame`` for each window (rows without a label are in none)."""
        labelled = frame[LABEL].notna()
        return {
            name: frame[AS_OF].isin(window.months) & labelled
            for name, window in (("train", self.train), ("valid", self.valid), ("test", self.test))
        }

    def windows(self) -> dict[str, str]:
        return {
            "train_window": self.train.describe(),
            "valid_window": self.valid.describe(),
            "test_window": self.test.describe(),
        }


@dataclass(frozen=True, eq=False)
class CustomerSplit:
    """Train, validation and test sets of customers at the same as-of time(s), stratified by
    label (in-time validation: see ``IN_TIME_CAVEAT``).

    Attributes:
        months: the labelled as-of times the customers are taken at.
        train, valid, test: customer ids of each part (disjoint).
        seed: the seed the customers were shuffled with.
    """

    months: tuple[pd.Timestamp, ...]
    train: NDArray[np.generic]
    valid: NDArray[np.generic]
    test: NDArray[np.generic]
    seed: int

    mode = "snapshot"

    def masks(self, frame: pd.DataFrame) -> dict[str, pd.Series]:
        """Boolean row masks of ``frame`` for each part (rows without a label are in none)."""
        labelled = frame[LABEL].notna() & frame[AS_OF].isin(self.months)
        return {
            name: frame[KEY].isin(ids) & labelled
            for name, ids in (("train", self.train), ("valid", self.valid), ("test", self.test))
        }

    def as_of(self) -> str:
        """The as-of time(s): ``snapshot 2024-06-30``, or the months when there are several."""
        if len(self.months) == 1:
            return f"snapshot {self.months[0]:%Y-%m-%d}"
        return Window(self.months).describe()

    def windows(self) -> dict[str, str]:
        total = len(self.train) + len(self.valid) + len(self.test)
        return {
            f"{name}_window": (
                f"{self.as_of()}, {len(ids) / max(total, 1):.0%} of customers "
                f"({len(ids):,}; stratified, seed {self.seed})"
            )
            for name, ids in (("train", self.train), ("valid", self.valid), ("test", self.test))
        }


TrainSplit = Split | CustomerSplit


def labelled_months(frame: pd.DataFrame) -> list[pd.Timestamp]:
    """The distinct as-of times that have at least one label, sorted."""
    if AS_OF not in frame or LABEL not in frame:
        raise DataError(f"the training frame needs columns {AS_OF!r} and {LABEL!r}")
    months = frame.loc[frame[LABEL].notna(), AS_OF].drop_duplicates().sort_values()
    return list(months)


def _no_labels(horizon_days: int) -> DataError:
    return DataError(
        "no labelled as-of months: ingest a history with known outcomes (or a snapshot with a "
        "label), or simulate more months "
        f"(a label needs {horizon_days} days of data after its as-of date)"
    )


def _check_window_sizes(valid_months: int, test_months: int) -> None:
    if valid_months < 1 or test_months < 1:
        raise ConfigError(
            "--valid-months and --test-months must be at least 1 for a time split; with too "
            "short a history retain splits customers instead (--split snapshot) and needs neither"
        )


def _time_windows(
    months: Sequence[pd.Timestamp], horizon_days: int, valid_months: int, test_months: int
) -> tuple[list[pd.Timestamp], list[pd.Timestamp], list[pd.Timestamp]]:
    """(train, valid, test) months; train or valid empty when there is no room."""
    horizon = pd.Timedelta(days=horizon_days)
    test = list(months[-test_months:])
    before_test = [m for m in months if m + horizon <= test[0]]
    valid = before_test[-valid_months:]
    train = [m for m in months if valid and m + horizon <= valid[0]]
    return train, valid, test


def _too_few(
    months: Sequence[pd.Timestamp], horizon_days: int, valid: int, test: int, snapshot: bool
) -> str:
    """The refusal of a time split; ``snapshot``: name the split of customers as a way out."""
    fixes = "ingest a longer history (or simulate more months), lower --valid-months/--test-months"
    if snapshot:
        fixes += (
            ", or train with --split snapshot (a stratified split of customers, in-time "
            "validation only)"
        )
    return (
        f"only {len(months)} labelled as-of months: need room for train, {valid} validation and "
        f"{test} test months with {horizon_days}-day gaps; {fixes}"
    )


def time_windows(
    months: Sequence[pd.Timestamp], horizon_days: int, valid_months: int, test_months: int
) -> Split:
    """Split labelled as-of ``months`` (sorted) into train, validation and test windows.

    Raises:
        ConfigError: ``valid_months`` or ``test_months`` below 1.
        DataError: no months, or too few to fit three windows and their gaps.
    """
    _check_window_sizes(valid_months, test_months)
    if not months:
        raise _no_labels(horizon_days)
    train, valid, test = _time_windows(months, horizon_days, valid_months, test_months)
    if not valid or not train:
        raise DataError(_too_few(months, horizon_days, valid_months, test_months, False))
    return Split(Window(tuple(train)), Window(tuple(valid)), Window(tuple(test)))


def time_split(
    frame: pd.DataFrame, horizon_days: int, valid_months: int, test_months: int
) -> Split:
    """Split ``frame``'s labelled as-of months into train, validation and test windows.

    Args:
        frame: rows with ``event_timestamp`` (as-of time, UTC) and ``label`` (NaN = unknown).
        horizon_days: the label horizon; a window's labels must all be known (as-of + horizon)
            by the next window's first as-of time.
        valid_months: as-of months in the validation window.
        test_months: latest labelled as-of months in the test window.

    Raises:
        ConfigError: ``valid_months`` or ``test_months`` below 1.
        DataError: no labelled months, or too few to fit three windows and their gaps.
    """
    return time_windows(labelled_months(frame), horizon_days, valid_months, test_months)


def choose_split(
    months: Sequence[pd.Timestamp],
    horizon_days: int,
    valid_months: int,
    test_months: int,
    requested: str = "auto",
) -> str:
    """``time`` or ``snapshot``, from the labelled as-of months alone.

    Args:
        months: the labelled as-of times (any order).
        horizon_days, valid_months, test_months: the time split's settings.
        requested: ``auto`` (time when it fits, else snapshot), ``time`` or ``snapshot``.

    Raises:
        ConfigError: an unknown mode, or window sizes below 1 where a time split is considered.
        DataError: no labelled months, or ``time`` asked for and too few months for it.
    """
    if requested not in SPLIT_MODES:
        raise ConfigError(f"unknown split {requested!r}: use one of {', '.join(SPLIT_MODES)}")
    if not months:
        raise _no_labels(horizon_days)
    if requested == "snapshot":
        return "snapshot"
    _check_window_sizes(valid_months, test_months)
    ordered = sorted(months)
    train, valid, _ = _time_windows(ordered, horizon_days, valid_months, test_months)
    if train and valid:
        return "time"
    if requested == "time":
        raise DataError(_too_few(ordered, horizon_days, valid_months, test_months, True))
    return "snapshot"


def stratified_parts(
    labels: NDArray[np.generic], shares: Sequence[float], seed: int
) -> NDArray[np.int64]:
    """The part (0, 1, ...) of each item, so that every label value is spread over the parts in
    the given shares (to within one item per value).

    Args:
        labels: one stratum label per item (customer), in a fixed order.
        shares: the parts' shares, summing to 1.
        seed: the items of each stratum are shuffled with ``numpy.random.default_rng(seed)``.
    """
    shares_a = np.asarray(shares, dtype=np.float64)
    if len(shares_a) == 0 or (shares_a < 0).any() or not np.isclose(shares_a.sum(), 1.0):
        raise ValueError(f"shares must be non-negative and sum to 1, got {list(shares)}")
    rng = np.random.default_rng(seed)
    out = np.empty(len(labels), dtype=np.int64)
    for value in np.unique(labels):
        items = rng.permutation(np.flatnonzero(labels == value))
        # Largest remainder: the counts add up to the stratum and each is within 1 of its share.
        exact = shares_a * len(items)
        counts = np.floor(exact).astype(np.int64)
        rest = len(items) - int(counts.sum())
        counts[np.argsort(-(exact - counts), kind="stable")[:rest]] += 1
        out[items] = np.repeat(np.arange(len(shares_a)), counts)
    return out


def customer_labels(frame: pd.DataFrame) -> pd.Series:
    """Each customer with a labelled row: 1 if any of its labelled rows is positive, else 0;
    indexed by customer id, sorted (so the order does not depend on the frame's)."""
    labelled = frame.loc[frame[LABEL].notna(), [KEY, LABEL]]
    return labelled.groupby(KEY, sort=True)[LABEL].max().astype("int64")


def stratified_split(
    frame: pd.DataFrame, valid_share: float, test_share: float, seed: int
) -> CustomerSplit:
    """Split ``frame``'s labelled customers into train, validation and test, stratified by label.

    Args:
        frame: rows with ``customer_id``, ``event_timestamp`` and ``label`` (NaN = unknown).
        valid_share, test_share: shares of the customers in validation and test (the rest train).
        seed: the same frame and seed give the same split, whatever the order of its rows.

    Raises:
        ConfigError: shares outside [0, 1) or summing to 1 or more.
        DataError: no labelled rows.
    """
    if not (0 <= valid_share < 1 and 0 <= test_share < 1 and valid_share + test_share < 1):
        raise ConfigError(
            f"validation and test shares must be in [0, 1) and leave some for training, "
            f"got {valid_share} and {test_share}"
        )
    per_customer = customer_labels(frame)
    if per_customer.empty:
        raise DataError("the training frame has no labelled rows")
    shares = (1.0 - valid_share - test_share, valid_share, test_share)
    part = stratified_parts(per_customer.to_numpy(), shares, seed)
    ids = per_customer.index.to_numpy()
    return CustomerSplit(
        months=tuple(labelled_months(frame)),
        train=ids[part == 0],
        valid=ids[part == 1],
        test=ids[part == 2],
        seed=seed,
    )


def customer_folds(frame: pd.DataFrame, folds: int, seed: int) -> list[pd.Series]:
    """Stratified k-fold by customer: for each fold, the boolean mask of ``frame``'s labelled
    rows held out (each labelled customer is held out in exactly one fold, with all its rows).

    The customers themselves are split by scikit-learn's ``StratifiedKFold`` on their labels
    (``customer_labels``): each fold's count of churning customers is within one of its share.
    ``StratifiedGroupKFold`` over rows would give the same grouping, but only approximately
    stratified (a greedy search) and about 500 times slower (12 s for 100,000 customers).

    Raises:
        ConfigError: fewer than 2 folds.
        DataError: fewer customers who churn (or who stay) than folds.
    """
    from sklearn.model_selection import StratifiedKFold

    if folds < 2:
        raise ConfigError(f"cross-validation needs at least 2 folds, got {folds}")
    per_customer = customer_labels(frame)
    positives = int(per_customer.sum())
    negatives = len(per_customer) - positives
    if min(positives, negatives) < folds:
        raise DataError(
            f"{folds} folds need at least {folds} customers who churn and {folds} who stay; "
            f"the data has {positives:,} and {negatives:,}: lower the number of folds"
        )
    # Customers in id order (``customer_labels`` sorts), so the folds do not depend on row order.
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    fold = pd.Series(np.empty(len(per_customer), dtype=np.int64), index=per_customer.index)
    for k, (_, held) in enumerate(splitter.split(np.zeros(len(fold)), per_customer.to_numpy())):
        fold.iloc[held] = k
    labelled = frame[LABEL].notna()
    row_fold = frame[KEY].map(fold)
    return [(row_fold == k) & labelled for k in range(folds)]
