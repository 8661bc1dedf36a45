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

The functions below read these tables for given customers at a month end.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

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


def _month_end(month_end: str | pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(month_end)
    ts = ts.tz_convert("UTC") if ts.tzinfo else ts.tz_localize("UTC")
    period = ts.tz_localize(None).to_period("M")
    return (period + 1).to_timestamp().tz_localize("UTC") - pd.Timedelta(seconds=1)


def _read(settings: Settings, name: str, filter_: pc.Expression | None, columns: list[str]):
    path = settings.data_dir / "truth" / name
    if not path.is_dir():
        raise NotReadyError(f"no simulated ground truth at {path}: run `retain simulate` first")
    try:
        return ds.dataset(path, format="parquet").to_table(columns=columns, filter=filter_)
    except (OSError, pa.ArrowInvalid) as e:
        raise DataError(f"cannot read the ground truth at {path}: {e}") from e


def _monthly(
    settings: Settings,
    customer_ids: Iterable[int],
    month_end: str | pd.Timestamp,
    columns: list[str],
) -> pd.DataFrame:
    ids = np.asarray(list(customer_ids), dtype=np.int64)
    end = _month_end(month_end)
    filter_ = (pc.field("month_end") == pa.scalar(end, TS)) & pc.field("customer_id").isin(ids)
    frame = _read(settings, "monthly", filter_, ["customer_id", *columns]).to_pandas()
    return frame.set_index("customer_id").reindex(pd.Index(ids, name="customer_id"))


def true_churn_probability(
    settings: Settings, customer_ids: Iterable[int], month_end: str | pd.Timestamp
) -> pd.DataFrame:
    """``churn_hazard``, ``p_churn`` and ``p_churn_no_contact`` as of the end of a month.

    Args:
        settings: where the simulated bank lives.
        customer_ids: customers to look up.
        month_end: the month (``"2024-03"``, or any time in it): as of its last second.

    Returns:
        One row per customer id, in the order given; NaN for customers not with the bank then.

    Raises:
        NotReadyError: nothing was simulated yet.
    """
    return _monthly(
        settings, customer_ids, month_end, ["churn_hazard", "p_churn", "p_churn_no_contact"]
    )


def true_adoption(
    settings: Settings, customer_ids: Iterable[int], month_end: str | pd.Timestamp
) -> pd.DataFrame:
    """P(opening each product unprompted during the next month), one column per product."""
    frame = _monthly(settings, customer_ids, month_end, [f"p_open_{p}" for p in PRODUCTS])
    return frame.rename(columns=lambda c: c.removeprefix("p_open_"))


def true_offer_effects(
    settings: Settings, customer_ids: Iterable[int], month_end: str | pd.Timestamp
) -> pd.DataFrame:
    """True effect of making each offer in the month after ``month_end``.

    Columns: each retention action (change in the churn-within-horizon probability, negative is
    good), ``contact`` (change in that probability from any contact: the churn side of a
    cross-sell offer), and ``xsell_<product>`` (change in the probability of opening the product
    that month).
    """
    actions = [*RETENTION_ACTIONS, "contact", *(f"xsell_{p}" for p in PRODUCTS)]
    frame = _monthly(settings, customer_ids, month_end, [f"effect_{a}" for a in actions])
    return frame.rename(columns=lambda c: c.removeprefix("effect_"))


def latent_traits(settings: Settings, customer_ids: Iterable[int] | None = None) -> pd.DataFrame:
    """Each customer's response type and latent traits, indexed by ``customer_id``."""
    filter_ = None
    if customer_ids is not None:
        filter_ = pc.field("customer_id").isin(np.asarray(list(customer_ids), dtype=np.int64))
    table = _read(settings, "customers", filter_, TRUTH_CUSTOMERS.names)
    return table.to_pandas().set_index("customer_id")
