"""Windows of as-of months (``YYYY-MM..YYYY-MM``) and the customers with the bank in them, with
their churn label where its horizon lies within the data."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from retain.core.churn import ChurnDefinition
from retain.core.columns import AS_OF, KEY, LABEL
from retain.core.errors import ConfigError, DataError
from retain.core.settings import Settings

_MONTH = r"(\d{4})-(\d{2})"
_WINDOW = re.compile(rf"^\s*{_MONTH}\s*\.\.\s*{_MONTH}\s*$")


@dataclass(frozen=True)
class MonthWindow:
    """A window of as-of months, first and last included (``YYYY-MM..YYYY-MM``)."""

    start: pd.Period
    end: pd.Period

    def describe(self) -> str:
        return f"{self.start}..{self.end}"

    def months(self, available: Sequence[pd.Timestamp]) -> list[pd.Timestamp]:
        """The ``available`` month ends that fall in the window."""
        return [m for m in available if self.start <= month_period(m) <= self.end]


def month_period(ts: pd.Timestamp) -> pd.Period:
    return pd.Timestamp(ts).tz_convert(None).to_period("M")


def parse_window(text: str, what: str = "window") -> MonthWindow:
    """``YYYY-MM..YYYY-MM`` (a training window's ``describe()``, ``... (12 months)``, also reads).

    Raises:
        ConfigError: not of that form, a month out of range, or the end before the start.
    """
    body = text.split("(")[0]
    match = _WINDOW.match(body)
    if not match or not all(1 <= int(match.group(i)) <= 12 for i in (2, 4)):
        raise ConfigError(f"bad {what} {text!r}: use START..END as YYYY-MM..YYYY-MM")
    start = pd.Period(f"{match.group(1)}-{match.group(2)}", "M")
    end = pd.Period(f"{match.group(3)}-{match.group(4)}", "M")
    if end < start:
        raise ConfigError(f"bad {what} {text!r}: it ends before it starts")
    return MonthWindow(start, end)


def window_rows(
    settings: Settings, months: Sequence[pd.Timestamp], definition: ChurnDefinition | None = None
) -> pd.DataFrame:
    """The customers with the bank at each of ``months`` (a snapshot then, not churned at or
    before it), with their churn label where its horizon lies within the data (else NaN).

    Returns:
        ``customer_id``, ``event_timestamp`` (UTC), ``label`` (float: 0, 1 or NaN).

    Raises:
        DataError: a raw table is missing or corrupt.
    """
    from features.build import read_raw_table

    if any((settings.raw_dir / "labels").glob("*.parquet")):
        # A bank's single snapshot comes with its known outcomes (``retain ingest`` with
        # ``snapshot:``): its rows are those.
        from features.frames import label_table

        labels = label_table(settings)
        labels = labels[labels[AS_OF].isin(pd.to_datetime(list(months), utc=True))]
        return labels.astype({LABEL: "float64"}).reset_index(drop=True)
    definition = definition or ChurnDefinition()
    monthly = read_raw_table(settings.raw_dir, "monthly", ["customer_id", "month_end"])
    churn = read_raw_table(settings.raw_dir, "churn", ["customer_id", "churned_at"])
    monthly["month_end"] = pd.to_datetime(monthly["month_end"], utc=True)
    data_end = monthly["month_end"].max()
    rows = monthly[monthly["month_end"].isin(pd.to_datetime(list(months), utc=True))]
    churned_at = churn.groupby("customer_id")["churned_at"].min()
    churned_at = pd.to_datetime(rows["customer_id"].map(churned_at), utc=True)
    still_in = churned_at.isna() | (churned_at > rows["month_end"])
    rows, churned_at = rows[still_in], churned_at[still_in]
    label = definition.label(rows["month_end"], churned_at).astype("float64")
    label = label.where(definition.is_labelled(rows["month_end"], data_end))
    return pd.DataFrame(
        {
            KEY: rows["customer_id"].astype("int64").to_numpy(),
            AS_OF: rows["month_end"].to_numpy(),
            LABEL: label.to_numpy(),
        }
    )


def available_months(settings: Settings) -> list[pd.Timestamp]:
    """Every month end with a snapshot in the raw monthly table, sorted.

    Raises:
        DataError: the table is missing, corrupt or empty.
    """
    from features.build import read_raw_table

    monthly = read_raw_table(settings.raw_dir, "monthly", ["month_end"])
    if monthly.empty:
        raise DataError(f"the raw monthly table at {settings.raw_dir / 'monthly'} has no rows")
    return sorted(pd.to_datetime(monthly["month_end"].unique(), utc=True))
