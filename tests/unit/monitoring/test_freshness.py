"""Freshness of the online store's values per feature view, on tiny timestamp series."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from monitoring.freshness import FRESHNESS_COLUMNS, freshness_table, view_freshness

LATEST = pd.Timestamp("2024-12-31", tz="UTC")
TTL = timedelta(days=40)


def _times(*days: str | None) -> pd.Series:
    return pd.to_datetime(pd.Series(list(days), dtype=object), utc=True)


def test_values_at_the_latest_month_end_are_fresh():
    """Every sampled value stamped at the latest month end, materialized to it: ok."""
    r = view_freshness(
        "balances_flows", TTL, _times("2024-12-31", "2024-12-31"), LATEST, LATEST, 35
    )
    assert r["status"] == "ok"
    assert (r["found"], r["sampled"], r["max_age_days"], r["expired_share"]) == (2, 2, 0.0, 0.0)
    assert r["materialized_lag_days"] == 0.0
    assert r["ttl_days"] == 40.0


def test_a_value_past_the_ttl_alerts_as_feast_still_serves_it():
    """A value 61 days old under a 40-day TTL: alert, naming the share past the TTL."""
    r = view_freshness(
        "balances_flows", TTL, _times("2024-12-31", "2024-10-31"), LATEST, LATEST, 35
    )
    assert r["status"] == "alert"
    assert r["expired_share"] == 0.5
    assert r["max_age_days"] == 61.0
    assert "past the 40-day TTL" in r["detail"] and "PRESENT" in r["detail"]


@pytest.mark.parametrize(
    ("times", "materialized_to", "words"),
    [
        (("2024-11-24",), LATEST, "oldest value 37 days"),
        (("2024-12-31",), pd.Timestamp("2024-11-15", tz="UTC"), "46 days behind"),
        ((None, None), LATEST, "no online value for 2 of 2 customers"),
        (("2024-12-31", None), LATEST, "no online value for 1 of 2 customers"),
    ],
)
def test_old_values_a_late_materialization_or_nothing_warn(times, materialized_to, words):
    """Older than the warn threshold but within the TTL, a materialization behind, or a
    customer without a value."""
    r = view_freshness("balances_flows", TTL, _times(*times), LATEST, materialized_to, 35)
    assert r["status"] == "warn"
    assert words in r["detail"]


def test_a_view_without_ttl_is_judged_by_its_materialization_only():
    """The profile is stamped at joining: years-old values are fine when it is materialized."""
    old = _times("2019-03-01", "2021-06-30")
    ok = view_freshness("customer_profile", None, old, LATEST, LATEST, 35)
    assert ok["status"] == "ok" and ok["max_age_days"] > 1000
    assert ok["detail"] == "no TTL: values never expire"
    late = view_freshness("customer_profile", None, old, LATEST, None, 35)
    assert late["materialized_to"] == "" and late["status"] == "ok"
    behind = pd.Timestamp("2024-06-30", tz="UTC")
    assert view_freshness("customer_profile", None, old, LATEST, behind, 35)["status"] == "warn"


def test_the_table_keeps_its_columns_when_empty():
    assert list(freshness_table([]).columns) == FRESHNESS_COLUMNS
