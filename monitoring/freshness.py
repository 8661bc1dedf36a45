"""Freshness of the online store: how old the values it holds are, per feature view.

Feast does not enforce a feature view's TTL on online reads (its issue #6821): a value past its
TTL still comes back as PRESENT, so the service would score a customer on expired features
without a word. This check measures it. Ages are taken at the latest month end in the offline
sources (where the bank's data stands), not at the wall clock, so a replayed or simulated history
reads the same as a live one.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

_DAY = pd.Timedelta(days=1)

FRESHNESS_COLUMNS = [
    "view",
    "ttl_days",
    "sampled",
    "found",
    "newest",
    "oldest",
    "max_age_days",
    "expired_share",
    "materialized_to",
    "materialized_lag_days",
    "status",
    "detail",
]


def _days(delta: pd.Timedelta | None) -> float:
    return math.nan if delta is None or pd.isna(delta) else float(delta / _DAY)


def view_freshness(
    view: str,
    ttl: timedelta | None,
    event_times: pd.Series,
    latest: pd.Timestamp,
    materialized_to: pd.Timestamp | None,
    warn_days: float,
) -> dict[str, Any]:
    """How old one view's online values are at ``latest``, and whether that crosses a threshold.

    Args:
        view: the feature view's name.
        ttl: its TTL; None when its rows never expire (the profile).
        event_times: the event timestamp the online store holds for each sampled customer (UTC;
            NaT where it holds no row).
        latest: the latest month end in the offline sources.
        materialized_to: the end of the view's latest materialization in the registry, or None.
        warn_days: warn when a value, or the materialization, is this many days older than
            ``latest``.

    Returns:
        ``view``, ``ttl_days`` (NaN: never expires), ``sampled``, ``found`` (customers with a
        row), ``newest``, ``oldest`` (ISO dates or ""), ``max_age_days`` (of the oldest value
        found), ``expired_share`` (of the values found, those past the TTL, which Feast still
        serves as PRESENT), ``materialized_to``, ``materialized_lag_days``, ``status`` and
        ``detail``. Alert: a value past the TTL. Warn: a value or the materialization older than
        ``warn_days``, or a sampled customer (all are with the bank at ``latest``) without a
        value. Ages of a view without a TTL are reported, not judged: its rows are stamped once
        (at joining), so their age says nothing about freshness.
    """
    times = pd.to_datetime(event_times, utc=True)
    found = times.dropna()
    ages = (latest - found) / _DAY
    ttl_days = math.nan if ttl is None else ttl / timedelta(days=1)
    expired = float((ages > ttl_days).mean()) if len(found) and ttl is not None else 0.0
    max_age = float(ages.max()) if len(found) else math.nan
    lag = _days(latest - materialized_to) if materialized_to is not None else math.nan
    problems: list[str] = []
    status = "ok"
    if ttl is not None and expired > 0:
        status = "alert"
        problems.append(
            f"{expired:.0%} of the values are past the {ttl_days:g}-day TTL (oldest "
            f"{max_age:.0f} days at {latest:%Y-%m-%d}); Feast still serves them as PRESENT"
        )
    if len(found) < len(times):
        # The sample is of customers with the bank at ``latest``: each should have a row.
        status = "warn" if status == "ok" else status
        problems.append(f"no online value for {len(times) - len(found)} of {len(times)} customers")
    if len(found) and ttl is not None and max_age > warn_days:
        status = "warn" if status == "ok" else status
        if expired == 0:
            problems.append(f"oldest value {max_age:.0f} days before {latest:%Y-%m-%d}")
    if lag > warn_days:
        status = "warn" if status == "ok" else status
        problems.append(f"materialized to {materialized_to:%Y-%m-%d}, {lag:.0f} days behind")
    if not problems:
        problems.append(
            "no TTL: values never expire"
            if ttl is None
            else f"oldest value {max_age:.0f} days, TTL {ttl_days:g} days"
        )

    def day(t: Any) -> str:
        return "" if t is None or pd.isna(t) else f"{pd.Timestamp(t):%Y-%m-%d}"

    return {
        "view": view,
        "ttl_days": ttl_days,
        "sampled": len(times),
        "found": len(found),
        "newest": day(found.max() if len(found) else None),
        "oldest": day(found.min() if len(found) else None),
        "max_age_days": max_age,
        "expired_share": expired,
        "materialized_to": day(materialized_to),
        "materialized_lag_days": lag,
        "status": status,
        "detail": "; ".join(problems),
    }


def freshness_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The per-view records of ``view_freshness`` as a frame (its columns even when empty)."""
    return pd.DataFrame(rows, columns=FRESHNESS_COLUMNS).astype(
        {"found": np.int64, "sampled": np.int64}
    )
