"""Point-in-time split of a training frame into train, validation and test windows by as-of time.

Every row is a customer at an as-of month end. The test window is the latest labelled months; the
validation window ends early enough that its labels were all known when the test window starts, and
the train window likewise before the validation window starts. So a gap of at least the horizon lies
between windows, no customer-month is in two windows, and no label reaches a window that was not
known at that window's first as-of time.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from retain.core.columns import AS_OF, LABEL
from retain.core.errors import DataError


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
    train: Window
    valid: Window
    test: Window

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


def labelled_months(frame: pd.DataFrame) -> list[pd.Timestamp]:
    """The distinct as-of times that have at least one label, sorted."""
    if AS_OF not in frame or LABEL not in frame:
        raise DataError(f"the training frame needs columns {AS_OF!r} and {LABEL!r}")
    months = frame.loc[frame[LABEL].notna(), AS_OF].drop_duplicates().sort_values()
    return list(months)


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
        DataError: no labelled months, or too few to fit three windows and their gaps.
    """
    months = labelled_months(frame)
    if not months:
        raise DataError(
            "the training frame has no labelled as-of months: simulate or ingest more history "
            f"(a label needs {horizon_days} days of data after its as-of date)"
        )
    horizon = pd.Timedelta(days=horizon_days)
    test = months[-test_months:]
    before_test = [m for m in months if m + horizon <= test[0]]
    valid = before_test[-valid_months:]
    train = [m for m in months if valid and m + horizon <= valid[0]]
    if not valid or not train:
        raise DataError(
            f"only {len(months)} labelled as-of months: need room for train, {valid_months} "
            f"validation and {test_months} test months with {horizon_days}-day gaps; "
            "simulate more months or lower --valid-months/--test-months"
        )
    return Split(Window(tuple(train)), Window(tuple(valid)), Window(tuple(test)))
