"""Ground truth: what really drives each simulated customer, for scoring models and policies.

Written by ``retain simulate`` under ``settings.data_dir / "truth"``:

``monthly/`` one row per row of the raw ``monthly`` table (a customer at a month end ``t``):

- ``stage``: the latent relationship stage at ``t`` (0 engaged, 1 drifting, 2 leaving).
- ``churn_hazard``: P(the customer leaves during the next calendar month | everything at ``t``),
  without any new contact. Exact: it is the number the simulator draws against.
- ``p_churn``: P(churn label = 1 at as-of ``t``), the label of ``retain.core.churn.ChurnDefinition``
  (leaves in ``(t, t + horizon]``), given the path the customer's behaviour and the bank's
  contacts actually took; only the leave/stay draws are integrated out. Its mean over any set of
  rows chosen with information known at ``t`` equals the label's expected mean, with much less
  noise than the labels; per customer it knows the future path, so no model can match it row by
  row.
- ``p_churn_no_contact``: the same probability had the bank contacted nobody after ``t``.
- ``p_open_<product>``: P(the customer opens the product unprompted during the next calendar
  month | everything at ``t``); 0 when held or not allowed. Per month, not per horizon.
- ``effect_<retention action>``: change in ``p_churn_no_contact`` if the action is offered in the
  next month (acceptance drawn from the response model; a sleeping dog's contact effect included).
- ``effect_contact``: change in ``p_churn_no_contact`` from any contact at all (non-zero for
  sleeping dogs only); it is the churn effect of a cross-sell offer.
- ``effect_xsell_<product>``: change in the probability of opening the product during the next
  month if offered then: ``P(accept) * (1 - p_open)``.

``customers/`` one row per customer: the latent traits and the response type.

``SimulatedTruth`` answers the ``GroundTruth`` protocol (``retain.core.truth``) from these tables:
a row at time ``t`` reads the month end at or before ``t``; ``ground_truth(settings)`` builds it
for the entrance, which passes it down to training and evaluation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from numpy.typing import NDArray

from retain.core.columns import AS_OF, KEY
from retain.core.errors import DataError, NotReadyError
from retain.core.settings import Settings
from retain.core.tables import PRODUCTS, RETENTION_ACTIONS, TS
from simulator.hazard import hazard

TRUTH_MONTHLY = pa.schema(
    [
        ("customer_id", pa.int64()),
        ("month_end", TS),
        ("stage", pa.int8()),
        ("churn_hazard", pa.float32()),
        ("p_churn", pa.float32()),
        ("p_churn_no_contact", pa.float32()),
        *[(f"p_open_{p}", pa.float32()) for p in PRODUCTS],
        *[(f"effect_{a}", pa.float32()) for a in RETENTION_ACTIONS],
        ("effect_contact", pa.float32()),
        *[(f"effect_xsell_{p}", pa.float32()) for p in PRODUCTS],
    ]
)
TRUTH_CUSTOMERS = pa.schema(
    [
        ("customer_id", pa.int64()),
        ("response_type", pa.string()),
        ("frailty", pa.float32()),
        ("rate_sensitivity", pa.float32()),
        ("fee_sensitivity", pa.float32()),
        ("complaint_propensity", pa.float32()),
        ("offer_affinity", pa.float32()),
        ("salaried", pa.bool_()),
        ("income", pa.float32()),
    ]
)
LOOKAHEAD = 4
"""Months after a month end that a 90-day horizon can reach into."""


def horizon_probability(
    intensity: np.ndarray, factor: np.ndarray, fractions: np.ndarray
) -> np.ndarray:
    """P(leaving within the horizon) from the monthly intensities of the months it covers.

    Args:
        intensity: [rows, LOOKAHEAD] churn intensity of each following month, before offers.
        factor: [rows, LOOKAHEAD] factor on each month's intensity (offers, contacts).
        fractions: [rows, LOOKAHEAD] share of each month inside the horizon (a leave time is
            spread evenly over its month).
    """
    stay = 1 - hazard(intensity * factor) * fractions
    return 1 - stay.prod(1)


def month_end_at_or_before(times: pd.Series) -> pd.Series:
    """The month end (last second, UTC) at or before each time: the moment of the truth that
    describes a row at that time.

    A monthly snapshot's as-of time is its own month end; a time inside a month (a send time, a
    no-contact row's time) maps to the end of the month before, whose truth describes an offer in
    the month that follows.
    """
    t = pd.to_datetime(times, utc=True).dt.tz_localize(None)
    period = t.dt.to_period("M")
    second = pd.Timedelta(seconds=1)
    end = (period + 1).dt.start_time - second
    before = period.dt.start_time - second
    return pd.Series(np.where(t >= end, end, before), index=times.index).dt.tz_localize("UTC")


def _read(folder: Path, name: str, filter_: pc.Expression | None, columns: list[str]) -> pa.Table:
    path = folder / name
    if not path.is_dir():
        raise NotReadyError(f"no simulated ground truth at {path}: run `retain simulate` first")
    try:
        return ds.dataset(path, format="parquet").to_table(columns=columns, filter=filter_)
    except (OSError, pa.ArrowInvalid) as e:
        raise DataError(f"cannot read the ground truth at {path}: {e}") from e


class SimulatedTruth:
    """The simulated bank's ``GroundTruth`` (``retain.core.truth``), read from the truth tables.

    Args:
        folder: the truth folder ``retain simulate`` wrote (``settings.data_dir / "truth"``).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def churn_probability(self, rows: pd.DataFrame) -> NDArray[np.float64]:
        """``p_churn`` at each row's month end."""
        return self._lookup(rows, ["p_churn"])[:, 0]

    def adoption(self, rows: pd.DataFrame, products: Sequence[str]) -> NDArray[np.float64]:
        """``p_open_<product>`` at each row's month end, [rows, products]."""
        return self._lookup(rows, [f"p_open_{p}" for p in products])

    def offer_effects(self, rows: pd.DataFrame, actions: Sequence[str]) -> NDArray[np.float64]:
        """``effect_<action>`` at each row's month end, [rows, actions]."""
        return self._lookup(rows, [f"effect_{a}" for a in actions])

    def _lookup(self, rows: pd.DataFrame, columns: list[str]) -> NDArray[np.float64]:
        """``columns`` of the monthly truth for each row (``customer_id``, ``event_timestamp``)
        at the month end at or before its time; NaN where the customer was not with the bank.

        Raises:
            ValueError: a column the truth does not have (an unknown product or action).
            NotReadyError: the truth tables are gone.
            DataError: they cannot be read.
        """
        unknown = [c for c in columns if c not in TRUTH_MONTHLY.names]
        if unknown:
            raise ValueError(f"the simulated truth has no {', '.join(unknown)}")
        out = np.full((len(rows), len(columns)), np.nan)
        if len(rows) == 0:
            return out
        ids = rows[KEY].to_numpy(dtype=np.int64)
        months = month_end_at_or_before(rows[AS_OF]).reset_index(drop=True)
        for month, positions in months.groupby(months, sort=True).indices.items():
            at_month = pc.field("month_end") == pa.scalar(month, TS)
            filter_ = at_month & pc.field("customer_id").isin(ids[positions])
            table = _read(self.folder, "monthly", filter_, ["customer_id", *columns]).to_pandas()
            found = table.set_index("customer_id").reindex(pd.Index(ids[positions]))
            out[positions] = found[columns].to_numpy(dtype=np.float64)
        return out


def ground_truth(settings: Settings) -> SimulatedTruth | None:
    """The simulated bank's truth under the settings' home, or None when nothing simulated is
    there (a bank's own data)."""
    folder = settings.data_dir / "truth"
    return SimulatedTruth(folder) if (folder / "monthly").is_dir() else None


def latent_traits(settings: Settings, customer_ids: Iterable[int] | None = None) -> pd.DataFrame:
    """Each customer's response type and latent traits, indexed by ``customer_id``."""
    filter_ = None
    if customer_ids is not None:
        filter_ = pc.field("customer_id").isin(np.asarray(list(customer_ids), dtype=np.int64))
    table = _read(settings.data_dir / "truth", "customers", filter_, TRUTH_CUSTOMERS.names)
    return table.to_pandas().set_index("customer_id")
