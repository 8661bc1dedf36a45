"""Product propensity labels from holdings transitions, point-in-time correct.

A row is a customer at an as-of month end ``t`` (the churn labels' rows: with the bank at ``t``,
and ``t``'s whole horizon inside the data). For each product not held at ``t``,
``label_<product>`` is 1 when a monthly snapshot stamped in ``(t, t + horizon]`` shows it held,
else 0; for a product held at ``t`` it is NaN: not a candidate. A customer who leaves within the
horizon keeps the snapshots it had, so an opening before leaving still counts.

A holding the bank did not give (null: the field is not mapped, or the cell is blank) is not
"not held": a row whose holding of a product is unknown at ``t`` is not labelled for it (NaN),
nor is one whose snapshots in the horizon show no opening but leave the holding unknown in some
month (it may have opened there). A known opening in the horizon is 1 whatever the other months.

``product_labels`` is pure (frames in, frame out); ``propensity_labels`` reads the raw tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from retain.core.churn import ChurnDefinition
from retain.core.columns import AS_OF, KEY
from retain.core.errors import DataError
from retain.core.progress import Progress, silent
from retain.core.settings import Settings
from retain.core.tables import PRODUCTS

LABEL_PREFIX = "label_"


def label_column(product: str) -> str:
    return f"{LABEL_PREFIX}{product}"


def _month_index(ts: pd.Series) -> np.ndarray:
    """Months since year 0 of UTC timestamps: consecutive month ends differ by 1."""
    t = pd.to_datetime(ts, utc=True)
    return (t.dt.year * 12 + t.dt.month - 1).to_numpy(dtype=np.int64)


def product_labels(
    rows: pd.DataFrame,
    holdings: pd.DataFrame,
    products: Sequence[str] = PRODUCTS,
    horizon_days: int = ChurnDefinition().horizon_days,
) -> pd.DataFrame:
    """Label each product for each (customer, as-of month end) row.

    Args:
        rows: ``customer_id``, ``event_timestamp`` (a month end, UTC); other columns are kept.
        holdings: monthly snapshots: ``customer_id``, ``month_end``, ``has_<product>``.
        products: the products to label.
        horizon_days: an opening counts when a snapshot in ``(t, t + horizon]`` shows it.

    Returns:
        ``rows`` with one float32 ``label_<product>`` column per product (1, 0, or NaN when the
        product is held at ``t``, the row has no snapshot at ``t``, or the holding is unknown:
        see the module's docstring), in the rows' order.

    Raises:
        DataError: ``holdings`` lacks a ``has_<product>`` column.
    """
    flags = [f"has_{p}" for p in products]
    missing = [c for c in flags if c not in holdings]
    if missing:
        raise DataError(f"the monthly holdings lack column(s) {', '.join(missing)}")
    horizon = pd.Timedelta(days=horizon_days)
    snap = pd.DataFrame(
        {
            KEY: holdings[KEY].to_numpy(dtype=np.int64),
            "_m": _month_index(holdings["month_end"]),
            "_at": pd.to_datetime(holdings["month_end"], utc=True).to_numpy(),
        }
    )
    snap[flags] = _holdings(holdings, flags)
    snap = snap.drop_duplicates([KEY, "_m"], keep="last")
    as_of = pd.to_datetime(rows[AS_OF], utc=True)
    keys = pd.DataFrame({KEY: rows[KEY].to_numpy(dtype=np.int64), "_m": _month_index(as_of)})
    now = keys.merge(snap, on=[KEY, "_m"], how="left")
    held_now = _holdings(now, flags)  # UNKNOWN: no snapshot at t, or the holding unknown
    opened = np.zeros((len(rows), len(flags)), dtype=bool)
    unknown_later = np.zeros_like(opened)
    deadline = (as_of + horizon).to_numpy()
    # Month ends k = 1, 2, ... after t, as far as a horizon of this many days can reach.
    for k in range(1, horizon_days // 28 + 2):
        later = keys.assign(_m=keys["_m"] + k).merge(snap, on=[KEY, "_m"], how="left")
        within = (later["_at"].notna() & (later["_at"].to_numpy() <= deadline)).to_numpy()
        held = _holdings(later, flags)
        opened |= (held == 1) & within[:, None]
        unknown_later |= (held == UNKNOWN) & within[:, None]
    label = opened.astype(np.float32)
    label[(held_now != 0) | (~opened & unknown_later)] = np.nan
    out = rows.copy()
    for j, p in enumerate(products):
        out[label_column(p)] = label[:, j]
    return out


UNKNOWN = -1
"""A holding in ``_holdings``'s matrix that the data does not give."""


def _holdings(frame: pd.DataFrame, flags: list[str]) -> np.ndarray:
    """int8 matrix of the flag columns: 1 held, 0 not held, ``UNKNOWN`` (a null flag, an
    ``UNKNOWN`` already, or no row where a left merge found none). Column by column: no float
    copy of the whole table."""
    out = np.empty((len(frame), len(flags)), dtype=np.int8)
    for j, c in enumerate(flags):
        values = frame[c].to_numpy(dtype=np.float32, na_value=np.nan)
        out[:, j] = np.where(np.isnan(values) | (values < 0), UNKNOWN, values > 0)
    return out


def read_holdings(settings: Settings, products: Sequence[str] = PRODUCTS) -> pd.DataFrame:
    """The raw monthly table's ``customer_id``, ``month_end`` and ``has_<product>`` columns.

    Raises:
        DataError: the table is missing, corrupt or lacks a holdings column.
    """
    from features.build import read_raw_table

    columns = ["customer_id", "month_end", *(f"has_{p}" for p in products)]
    return read_raw_table(settings.raw_dir, "monthly", columns)


def propensity_labels(
    settings: Settings,
    products: Sequence[str] = PRODUCTS,
    definition: ChurnDefinition | None = None,
    progress: Progress = silent,
) -> pd.DataFrame:
    """Product labels at every labelled as-of month end of the raw data (the churn rows).

    Returns:
        ``customer_id``, ``event_timestamp`` and ``label_<product>`` columns, sorted by customer
        and time.

    Raises:
        DataError: the raw tables are missing or corrupt.
    """
    from features.frames import label_table

    definition = definition or ChurnDefinition()
    rows = label_table(settings, definition=definition)[[KEY, AS_OF]]
    progress(1, 3)
    holdings = read_holdings(settings, products)
    progress(2, 3)
    out = product_labels(rows, holdings, products, definition.horizon_days)
    progress(3, 3)
    return out


def month_ends_within(as_of: pd.Timestamp, horizon_days: int) -> int:
    """How many month ends lie in ``(as_of, as_of + horizon]`` (as_of a month end): the number of
    monthly opening chances a horizon gives."""
    t = pd.Timestamp(as_of)
    end = t + pd.Timedelta(days=horizon_days)
    count, m = 0, t
    while True:
        m = (m.tz_localize(None).to_period("M") + 1).to_timestamp(how="end").floor("s")
        m = m.tz_localize(t.tz) if t.tz else m
        if m > end:
            return count
        count += 1
