"""Derived monthly signals: pure functions over raw rows, one frame per feature source.

Every function takes the monthly rows of a set of customers (``retain.core.tables.MONTHLY``),
sorted by ``customer_id, month_end``, and returns one row per input row stamped ``event_timestamp =
month_end``. A value at a month end uses only that month and earlier months of the same customer,
so every source is point-in-time correct by construction.

The raw contract has one row per customer and month while the customer is with the bank, so the
months of a customer are consecutive. Look-backs ("k months earlier") still check the calendar:
when the row k places back is not exactly k months back, the value is null rather than wrong.

Conventions:
- ``*_chg_Km``: relative change over K months, ``(now - before) / max(|before|, 1)``; null with
  less than K months of history.
- ``*_Km``: a sum over the current and the K-1 previous months (what history there is, and of
  it the known months; null when none is known).
- ``months_since_*``: whole months from the event's month to this month (0 = this month); null
  when it never happened in the customer's history.

Nulls stay nulls: a raw field a bank did not map is null in every row, and so is every signal
derived from it alone, never a made-up 0 or False (LightGBM handles missing values, and reasons and
rules must not read "no logins" or "no consent" into a field nobody provided). A count over several
fields or months (``n_products``, ``tx_total``, the ``*_3m`` sums) is computed over the known ones
and is null only when none of them is known: a bank that maps four of the twelve holdings still
gets a count of the products it told us about (as before, when the others counted as not held),
training and serving share the definition, and where every field is known (the simulated bank)
the value is the plain sum it always was. ``bal_total`` is the exception: it needs all four
balances.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from retain.core.columns import KEY
from retain.core.tables import PRODUCTS

TS = "event_timestamp"

BALANCES = ("current", "savings", "time_deposit", "wealth", "loans")
"""Balance columns ``bal_<name>`` with their own trends; ``bal_total`` excludes loans."""


def month_index(ts: pd.Series) -> pd.Series:
    """Months since year 0 (so that differences are whole calendar months)."""
    return (ts.dt.year * 12 + ts.dt.month - 1).astype("int64")


class _Months:
    """Look-back helpers over monthly rows sorted by customer and month."""

    def __init__(self, monthly: pd.DataFrame) -> None:
        self.customer = monthly[KEY].to_numpy()
        self.month = month_index(monthly["month_end"]).to_numpy()
        # Position of each row within its customer's history: 0 for the first month.
        self.pos = monthly.groupby(KEY, sort=False).cumcount().to_numpy()
        self.index = monthly.index

    def lag(self, values: pd.Series | np.ndarray, k: int) -> pd.Series:
        """The value exactly k months earlier for the same customer, else NaN."""
        v = np.asarray(values, dtype="float64")
        out = np.full(len(v), np.nan)
        if k < len(v):
            ok = (self.pos[k:] >= k) & (self.month[k:] - self.month[:-k] == k)
            out[k:] = np.where(ok, v[:-k], np.nan)
        return pd.Series(out, index=self.index)

    def sum_last(self, values: pd.Series | np.ndarray, k: int) -> pd.Series:
        """Sum over the current and k-1 previous rows of the same customer (NaN counts as 0)."""
        v = np.nan_to_num(np.asarray(values, dtype="float64"))
        cs = pd.Series(v, index=self.index).groupby(self.customer, sort=False).cumsum().to_numpy()
        out = cs.copy()
        if k < len(v):
            back = np.where(self.pos[k:] >= k, cs[:-k], 0.0)
            out[k:] = cs[k:] - back
        return pd.Series(out, index=self.index)

    def known_sum_last(self, values: pd.Series | np.ndarray, k: int) -> pd.Series:
        """``sum_last`` over the known values only: NaN when none of the k rows is known."""
        known = self.sum_last(~np.isnan(np.asarray(values, dtype="float64")), k)
        return self.sum_last(values, k).where(known > 0)

    def months_since(self, happened: pd.Series | np.ndarray) -> pd.Series:
        """Months since the last row where ``happened`` was true (this row included), else NaN."""
        h = np.asarray(happened, dtype=bool)
        last = pd.Series(np.where(h, self.month, np.nan), index=self.index)
        last = last.groupby(self.customer, sort=False).ffill()
        return pd.Series(self.month, index=self.index) - last

    def ffill(self, values: pd.Series) -> pd.Series:
        """The last non-null value up to this row for the same customer."""
        return values.groupby(self.customer, sort=False).ffill()


def rel_change(now: pd.Series, before: pd.Series) -> pd.Series:
    """``(now - before) / max(|before|, 1)``; NaN where ``before`` is NaN."""
    return (now - before) / np.maximum(before.abs(), 1.0)


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    """num / den, NaN where den is 0 or NaN."""
    den = den.astype("float64")
    return num.astype("float64") / den.where(den != 0)


def _known_sum(columns: list[pd.Series]) -> pd.Series:
    """Row sums over the known values, added in order (``a + b + ...``); NaN when none is known."""
    total = sum((c.fillna(0.0) for c in columns), start=pd.Series(0.0, index=columns[0].index))
    known = pd.concat([c.notna() for c in columns], axis=1).any(axis=1)
    return total.where(known)


def _frame(monthly: pd.DataFrame, columns: dict[str, pd.Series]) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            KEY: monthly[KEY].reset_index(drop=True),
            TS: pd.to_datetime(monthly["month_end"], utc=True).reset_index(drop=True),
        }
    )
    for name, values in columns.items():
        out[name] = values.reset_index(drop=True) if isinstance(values, pd.Series) else values
    return out


def _f32(s: pd.Series) -> pd.Series:
    return s.astype("float32")


def balances_flows(monthly: pd.DataFrame) -> pd.DataFrame:
    """Balances and their trends, flows, salary signals, fees and rates."""
    m = _Months(monthly)
    bal = {b: monthly[f"bal_{b}"].astype("float64") for b in BALANCES}
    # The total needs all four balances (null otherwise, as it always was): a "total" of the known
    # ones would only repeat a bank's one mapped balance under another name.
    total = bal["current"] + bal["savings"] + bal["time_deposit"] + bal["wealth"]
    inflow = monthly["inflow"].astype("float64")
    outflow = monthly["outflow"].astype("float64")
    net = inflow - outflow
    salary = monthly["salary_amount"].astype("float64")
    # A month whose salary flag is unknown is neither a salary nor the month it stopped.
    flag = monthly["salary_credited"].astype("boolean")
    credited = flag.fillna(False).astype(bool).to_numpy()
    not_credited = (~flag).fillna(False).astype(bool).to_numpy()
    credited_before = m.lag(flag.astype("float64"), 1).to_numpy() == 1.0
    fees = monthly["fees_charged"].astype("float64")
    # Mean of the known fees of up to three previous months; null when none is known (a
    # customer's first month).
    fees_known = fees.notna().astype("float64")
    prev_n = (m.sum_last(fees_known, 4) - fees_known).to_numpy()
    prev_mean = (m.sum_last(fees, 4) - fees.fillna(0.0)) / np.where(prev_n > 0, prev_n, np.nan)
    cols: dict[str, pd.Series] = {f"bal_{b}": _f32(bal[b]) for b in BALANCES}
    cols["bal_total"] = _f32(total)
    for k in (3, 6):
        cols[f"bal_total_chg_{k}m"] = _f32(rel_change(total, m.lag(total, k)))
    for b in BALANCES:
        for k in (3, 6):
            cols[f"bal_{b}_chg_{k}m"] = _f32(rel_change(bal[b], m.lag(bal[b], k)))
    cols |= {
        "inflow": _f32(inflow),
        "outflow": _f32(outflow),
        "net_flow": _f32(net),
        "salary_amount": _f32(salary),
        "salary_kept_share_3m": _f32(_ratio(m.known_sum_last(net, 3), m.known_sum_last(salary, 3))),
        "months_since_salary": _f32(m.months_since(credited)),
        "months_since_salary_stopped": _f32(m.months_since(credited_before & not_credited)),
        "card_spend": _f32(monthly["card_spend"]),
        "fees_charged": _f32(fees),
        "fee_shock": _f32(fees - prev_mean),
        "bank_rate": _f32(monthly["bank_rate"]),
        "market_rate": _f32(monthly["market_rate"]),
        "rate_gap": _f32(monthly["market_rate"].astype("float64") - monthly["bank_rate"]),
    }
    return _frame(monthly, cols)


TX_CHANNELS = ("branch", "mobile", "atm", "phone")


def engagement_channels(monthly: pd.DataFrame) -> pd.DataFrame:
    """Transactions by channel, digital share, app logins and login recency at month end."""
    m = _Months(monthly)
    tx = {c: monthly[f"tx_{c}"].astype("float64") for c in TX_CHANNELS}
    total = _known_sum(list(tx.values()))
    logins = monthly["app_logins"].astype("float64")
    last_login = pd.to_datetime(monthly["last_login_at"], utc=True)
    month_end = pd.to_datetime(monthly["month_end"], utc=True)
    days = (month_end - last_login).dt.total_seconds() / 86400.0
    epoch = (last_login - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    cols: dict[str, pd.Series] = {f"tx_{c}": tx[c].astype("Int64") for c in TX_CHANNELS}
    cols |= {
        "tx_total": total.astype("Int64"),
        "tx_total_chg_3m": _f32(rel_change(total, m.lag(total, 3))),
        "digital_share": _f32(_ratio(tx["mobile"], total)),
        "app_logins": logins.astype("Int64"),
        "app_logins_3m": m.known_sum_last(logins, 3).astype("Int64"),
        "days_since_login": _f32(days),
        "last_login_epoch_s": epoch.astype("Int64"),
    }
    return _frame(monthly, cols)


def service_complaints(monthly: pd.DataFrame) -> pd.DataFrame:
    """Complaints and tickets (new, open, last 3 months) and the last satisfaction answer."""
    m = _Months(monthly)
    cols: dict[str, pd.Series] = {}
    for what in ("complaints", "tickets"):
        new = monthly[f"{what}_new"].astype("float64")
        cols[f"{what}_new"] = new.astype("Int64")
        cols[f"{what}_open"] = monthly[f"{what}_open"].astype("float64").astype("Int64")
        cols[f"{what}_3m"] = m.known_sum_last(new, 3).astype("Int64")
    sat = monthly["satisfaction"].astype("float64")
    cols["satisfaction_last"] = _f32(m.ffill(sat))
    cols["months_since_survey"] = _f32(m.months_since(sat.notna()))
    return _frame(monthly, cols)


def product_holdings(monthly: pd.DataFrame, join_date: pd.Series) -> pd.DataFrame:
    """Holdings flags, number of products and its 3-month change, tenure, age, life event.

    Args:
        monthly: monthly rows.
        join_date: each row's customer join date (aligned with ``monthly``).
    """
    m = _Months(monthly)
    held = monthly[[f"has_{p}" for p in PRODUCTS]].astype("boolean")
    # The products held among the known holdings; null when no holding is known.
    n = held.sum(axis=1).astype("float64").where(held.notna().any(axis=1))
    tenure = m.month - month_index(pd.to_datetime(join_date, utc=True)).to_numpy()
    cols: dict[str, pd.Series] = {c: held[c] for c in held.columns}
    cols |= {
        "n_products": n.astype("Int64"),
        "n_products_chg_3m": _f32(n - m.lag(n, 3)),
        "tenure_months": pd.Series(tenure, index=monthly.index).astype("int64"),
        "age": monthly["age"].astype("Int64"),
        "life_event": monthly["life_event"].astype("object"),
    }
    return _frame(monthly, cols)


def contact_history(
    monthly: pd.DataFrame, campaigns: pd.DataFrame, known: bool = True
) -> pd.DataFrame:
    """Contacts and responses in the last 3 and 6 months and months since the last contact.

    A contact counts from the end of the month it was sent in, with its recorded outcome; a
    holdout row (held out of a campaign at random, not contacted) is no contact.

    Args:
        monthly: monthly rows (the customer-month grid).
        campaigns: campaign rows of the same customers (``retain.core.tables.CAMPAIGNS``).
        known: whether the bank gave a contact history at all (its campaigns table has rows);
            without one every feature is null, since "no contacts" would be made up.
    """
    m = _Months(monthly)
    grid = pd.DataFrame({KEY: monthly[KEY].to_numpy(), "_m": m.month})
    if "holdout" in campaigns:
        campaigns = campaigns[~campaigns["holdout"].eq(True).to_numpy()]
    c = pd.DataFrame(
        {
            KEY: campaigns[KEY].to_numpy(),
            "_m": month_index(pd.to_datetime(campaigns["sent_at"], utc=True)).to_numpy(),
            "contacts": 1,
            "retention": (campaigns["kind"] == "retention").to_numpy().astype("int64"),
            "declined": (campaigns["outcome"] == "declined").to_numpy().astype("int64"),
            "accepted": (campaigns["outcome"] == "accepted").to_numpy().astype("int64"),
        }
    )
    per_month = c.groupby([KEY, "_m"], sort=False).sum()
    counts = grid.join(per_month, on=[KEY, "_m"]).fillna(0.0)
    counts.index = monthly.index
    cols: dict[str, pd.Series] = {}
    names = {
        "contacts": "contacts_{k}m",
        "retention": "retention_offers_{k}m",
        "declined": "offers_declined_{k}m",
        "accepted": "offers_accepted_{k}m",
    }
    for k in (3, 6):
        for what, name in names.items():
            cols[name.format(k=k)] = m.sum_last(counts[what], k).astype("int64")
    cols["months_since_contact"] = _f32(m.months_since(counts["contacts"].to_numpy() > 0))
    if not known:
        unknown = {"months_since_contact": "float32"}
        cols = {c: pd.Series(None, v.index, unknown.get(c, "Int64")) for c, v in cols.items()}
    return _frame(monthly, cols)


def customer_profile(customers: pd.DataFrame) -> pd.DataFrame:
    """The profile as known at joining, stamped at the join date. ``gender`` is left out."""
    join = pd.to_datetime(customers["join_date"], utc=True)
    out = pd.DataFrame(
        {KEY: customers[KEY].reset_index(drop=True), TS: join.reset_index(drop=True)}
    )
    ints = ("birth_year", "branch_id", "city_tier", "income_band", "risk_tolerance")
    for col in (
        "birth_year",
        "region",
        "branch_id",
        "city_tier",
        "income_band",
        "occupation",
        "risk_tolerance",
        "marketing_consent",
        "preferred_channel",
    ):
        values = customers[col]
        if col in ints:
            values = values.astype("Int64")  # a bank's own data may lack the field: null
        elif col == "marketing_consent":
            values = values.astype("boolean")  # unknown consent stays unknown, never False
        else:
            values = values.astype("object")
        out[col] = values.to_numpy()
    out["digital_adoption"] = customers["digital_adoption"].astype("float32").to_numpy()
    out["join_epoch_s"] = ((join - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy()
    return out
