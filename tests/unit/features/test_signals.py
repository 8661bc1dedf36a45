"""Derived signals computed from hand-made monthly rows (no Feast, no files)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from features import signals
from features.schema import SOURCES, VIEW_FEATURES, source_schema
from features.store import redis_connection_string
from retain.core.errors import ConfigError
from retain.core.settings import sqlalchemy_postgres_url
from retain.core.tables import MONTHLY, PRODUCTS


def month_end(i: int) -> pd.Timestamp:
    """Month end i months after January 2024, at 23:59:59 UTC."""
    return (pd.Period("2024-01", freq="M") + i).end_time.tz_localize("UTC").floor("s")


def customer_rows() -> pd.DataFrame:
    """One customer's profile row, as the raw customers table holds it."""
    return pd.DataFrame(
        {
            "customer_id": [1],
            "birth_year": [1980],
            "region": ["north"],
            "branch_id": [3],
            "city_tier": [1],
            "income_band": [2],
            "occupation": ["employee"],
            "join_date": [pd.Timestamp("2020-05-01", tz="UTC")],
            "risk_tolerance": [3],
            "marketing_consent": [True],
            "preferred_channel": ["mobile"],
            "digital_adoption": [0.5],
        }
    )


def monthly_rows(n: int, customer_id: int = 1, start: int = 0, **columns: list) -> pd.DataFrame:
    """n consecutive monthly rows of one customer with neutral values, overridden by ``columns``."""
    base: dict[str, object] = {name: 0 for name in MONTHLY.names}
    base |= {
        "customer_id": customer_id,
        "salary_credited": False,
        "last_login_at": pd.NaT,
        "satisfaction": np.nan,
        "life_event": None,
        **{f"has_{p}": False for p in PRODUCTS},
    }
    frame = pd.DataFrame([base] * n)
    frame["month_end"] = [month_end(start + i) for i in range(n)]
    for name, values in columns.items():
        frame[name] = values
    return frame


def nan_equal(got: pd.Series, expected: list[float | None]) -> bool:
    want = [np.nan if v is None else v for v in expected]
    return np.allclose(got.to_numpy(dtype="float64"), want, equal_nan=True, rtol=1e-6)


@pytest.mark.parametrize(
    ("savings", "k", "expected"),
    [
        ([100, 100, 100, 50], 3, [None, None, None, -0.5]),
        ([100, 100, 100, 300, 100, 100, 0], 6, [None] * 6 + [-1.0]),
        ([0, 0, 0, 10], 3, [None, None, None, 10.0]),  # denominator floored at 1
    ],
)
def test_balance_trend_is_relative_change_over_k_months(savings, k, expected):
    """It gives (now - k months ago) / max(|k months ago|, 1), null without k months of history."""
    out = signals.balances_flows(monthly_rows(len(savings), bal_savings=savings))
    assert nan_equal(out[f"bal_savings_chg_{k}m"], expected)


def test_total_balance_excludes_loans():
    """It sums current, savings, time deposits and wealth, not loans."""
    rows = monthly_rows(
        1,
        bal_current=[1.0],
        bal_savings=[2.0],
        bal_time_deposit=[3.0],
        bal_wealth=[4.0],
        bal_loans=[100.0],
    )
    assert signals.balances_flows(rows)["bal_total"].iloc[0] == 10.0


@pytest.mark.parametrize(
    ("credited", "since", "since_stopped"),
    [
        ([True, True, False, False], [0, 0, 1, 2], [None, None, 0, 1]),
        ([False, False, True], [None, None, 0], [None, None, None]),
        ([True, False, True, False], [0, 1, 0, 1], [None, 0, 1, 0]),
    ],
)
def test_months_since_salary_and_since_it_stopped(credited, since, since_stopped):
    """It counts months since the last salary and since the last month a salary stopped."""
    rows = monthly_rows(
        len(credited),
        salary_credited=credited,
        salary_amount=[1000.0 if c else 0.0 for c in credited],
    )
    out = signals.balances_flows(rows)
    assert nan_equal(out["months_since_salary"], since)
    assert nan_equal(out["months_since_salary_stopped"], since_stopped)


def test_share_of_salary_kept_over_three_months():
    """It divides the 3-month net flow by the 3-month salary; null without salary."""
    rows = monthly_rows(
        4,
        inflow=[1000.0, 1000.0, 1000.0, 1000.0],
        outflow=[500.0, 1000.0, 1500.0, 1000.0],
        salary_amount=[0.0, 1000.0, 1000.0, 0.0],
        salary_credited=[False, True, True, False],
    )
    out = signals.balances_flows(rows)
    assert nan_equal(out["salary_kept_share_3m"], [None, 500 / 1000, 0 / 2000, -500 / 2000])


def test_fee_shock_compares_with_the_mean_of_the_three_months_before():
    """It is this month's fees minus the mean of up to three previous months."""
    rows = monthly_rows(5, fees_charged=[10.0, 10.0, 20.0, 30.0, 50.0])
    out = signals.balances_flows(rows)
    assert nan_equal(out["fee_shock"], [None, 0.0, 10.0, 30.0 - 40 / 3, 50.0 - 20.0])


def test_rate_gap_is_market_minus_bank():
    rows = monthly_rows(1, bank_rate=[1.5], market_rate=[4.0])
    assert signals.balances_flows(rows)["rate_gap"].iloc[0] == pytest.approx(2.5)


def test_look_backs_never_cross_customers():
    """The first months of the second customer do not see the first customer's history."""
    rows = pd.concat(
        [monthly_rows(4, 1, bal_savings=[1, 2, 3, 4]), monthly_rows(2, 2, bal_savings=[7, 8])],
        ignore_index=True,
    )
    out = signals.balances_flows(rows)
    assert out.loc[out.customer_id == 2, "bal_savings_chg_3m"].isna().all()
    assert nan_equal(out.loc[out.customer_id == 1, "bal_savings_chg_3m"], [None, None, None, 3.0])


def test_a_gap_in_the_months_gives_null_not_a_wrong_value():
    """When the row 3 places back is not 3 calendar months back, the trend is null."""
    rows = monthly_rows(4, bal_savings=[100.0, 100.0, 100.0, 50.0])
    rows.loc[3, "month_end"] = month_end(5)
    assert math.isnan(signals.balances_flows(rows)["bal_savings_chg_3m"].iloc[3])


@pytest.mark.parametrize(
    ("login", "expected"),
    [(month_end(0) - pd.Timedelta(days=3), 3.0), (pd.NaT, None)],
)
def test_days_since_login_at_month_end(login, expected):
    rows = monthly_rows(1, last_login_at=[login])
    assert nan_equal(signals.engagement_channels(rows)["days_since_login"], [expected])


def test_digital_share_and_channel_totals():
    rows = monthly_rows(2, tx_mobile=[6, 0], tx_branch=[2, 0], tx_atm=[2, 0], tx_phone=[0, 0])
    out = signals.engagement_channels(rows)
    assert list(out["tx_total"]) == [10, 0]
    assert nan_equal(out["digital_share"], [0.6, None])


def test_complaints_over_the_last_three_months():
    rows = monthly_rows(5, complaints_new=[1, 0, 2, 0, 0])
    assert list(signals.service_complaints(rows)["complaints_3m"]) == [1, 1, 3, 2, 2]


def test_last_satisfaction_answer_carries_forward():
    rows = monthly_rows(4, satisfaction=[np.nan, 7.0, np.nan, np.nan])
    out = signals.service_complaints(rows)
    assert nan_equal(out["satisfaction_last"], [None, 7.0, 7.0, 7.0])
    assert nan_equal(out["months_since_survey"], [None, 0, 1, 2])


def test_products_their_change_and_tenure():
    """It counts products, their change over 3 months, and whole months since joining."""
    rows = monthly_rows(
        4,
        has_savings=[True, True, True, False],
        has_mortgage=[False, False, True, True],
        has_credit_card=[True, True, True, True],
    )
    join = pd.Series([pd.Timestamp("2023-11-15", tz="UTC")] * 4)
    out = signals.product_holdings(rows, join)
    assert list(out["n_products"]) == [2, 2, 3, 2]
    assert nan_equal(out["n_products_chg_3m"], [None, None, None, 0.0])
    assert list(out["tenure_months"]) == [2, 3, 4, 5]


def test_contact_history_counts_offers_and_responses_in_windows():
    """A contact counts from the end of its month; declines and acceptances are counted apart."""
    rows = monthly_rows(7)
    campaigns = pd.DataFrame(
        {
            "customer_id": [1, 1, 1],
            "sent_at": [
                month_end(0) - pd.Timedelta(days=5),
                month_end(2) - pd.Timedelta(days=5),
                month_end(2) - pd.Timedelta(days=1),
            ],
            "kind": ["retention", "cross_sell", "retention"],
            "outcome": ["declined", "accepted", "ignored"],
        }
    )
    out = signals.contact_history(rows, campaigns)
    assert list(out["contacts_3m"]) == [1, 1, 3, 2, 2, 0, 0]
    assert list(out["contacts_6m"]) == [1, 1, 3, 3, 3, 3, 2]
    assert list(out["offers_declined_3m"]) == [1, 1, 1, 0, 0, 0, 0]
    assert list(out["offers_accepted_6m"]) == [0, 0, 1, 1, 1, 1, 1]
    assert list(out["retention_offers_3m"]) == [1, 1, 2, 1, 1, 0, 0]
    assert nan_equal(out["months_since_contact"], [0, 1, 0, 1, 2, 3, 4])


def test_a_holdout_row_is_no_contact():
    """A customer held out of a campaign at random was not contacted: the row counts nowhere."""
    rows = monthly_rows(3)
    campaigns = pd.DataFrame(
        {
            "customer_id": [1, 1],
            "sent_at": [month_end(0) - pd.Timedelta(days=5), month_end(1) - pd.Timedelta(days=5)],
            "kind": ["retention", "retention"],
            "holdout": [False, True],
            "outcome": ["declined", None],
        }
    )
    out = signals.contact_history(rows, campaigns)
    assert list(out["contacts_3m"]) == [1, 1, 1]
    assert nan_equal(out["months_since_contact"], [0, 1, 2])


def test_profile_leaves_gender_out_and_is_stamped_at_joining():
    customers = pd.DataFrame(
        {
            "customer_id": [5],
            "gender": ["f"],
            "birth_year": [1980],
            "region": ["north"],
            "branch_id": [3],
            "city_tier": [1],
            "income_band": [2],
            "occupation": ["employee"],
            "join_date": [pd.Timestamp("2020-05-01", tz="UTC")],
            "risk_tolerance": [3],
            "marketing_consent": [True],
            "preferred_channel": ["mobile"],
            "digital_adoption": [0.5],
        }
    )
    out = signals.customer_profile(customers)
    assert "gender" not in out.columns
    assert out["event_timestamp"].iloc[0] == pd.Timestamp("2020-05-01", tz="UTC")
    assert all("gender" not in [n for n, _, _ in fs] for fs in VIEW_FEATURES.values())


@pytest.mark.parametrize("source", SOURCES)
def test_every_source_frame_matches_its_parquet_schema(source):
    """The derived frames carry exactly the columns the source schema declares, in order."""
    rows = monthly_rows(3)
    customers = customer_rows()
    campaigns = pd.DataFrame(columns=["customer_id", "sent_at", "kind", "outcome"])
    from features.build import derive_part

    frame = derive_part(rows, customers, campaigns)[source]
    assert list(frame.columns) == source_schema(source).names


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://127.0.0.1:6379/0", "127.0.0.1:6379,db=0"),
        ("redis://cache:6380", "cache:6380"),
        ("rediss://u:p%40ss@cache:6379/2", "cache:6379,db=2,username=u,password=p@ss,ssl=true"),
    ],
)
def test_redis_url_becomes_feast_connection_string(url, expected):
    assert redis_connection_string(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgresql://postgres@127.0.0.1:5432/test",
            "postgresql+psycopg://postgres@127.0.0.1:5432/test",
        ),
        ("postgresql+psycopg2://u@h/db", "postgresql+psycopg://u@h/db"),
    ],
)
def test_postgres_url_uses_psycopg3(url, expected):
    assert sqlalchemy_postgres_url(url) == expected


@pytest.mark.parametrize("url", ["http://x", "mysql://u@h/db"])
def test_bad_urls_are_config_errors(url):
    with pytest.raises(ConfigError):
        redis_connection_string(url) if "http" in url else sqlalchemy_postgres_url(url)


def pa_table(frame: pd.DataFrame, source: str) -> pa.Table:
    """The frame as the build writes it, with its source's Parquet schema."""
    return pa.Table.from_pandas(frame, schema=source_schema(source), preserve_index=False)


def _unmapped(n: int, *fields: str) -> dict[str, list]:
    """``fields`` as a bank that did not map them leaves them: null in every row."""
    return {f: [None] * n for f in fields}


def test_fields_the_bank_did_not_map_stay_null_in_the_features():
    """An unmapped field gives null signals, never a made-up 0 or False."""
    holdings = [f"has_{p}" for p in PRODUCTS]
    counts = ("app_logins", "complaints_new", "complaints_open", "tickets_new", "tickets_open")
    rows = monthly_rows(
        4,
        **_unmapped(4, *holdings, *counts, *(f"tx_{c}" for c in signals.TX_CHANNELS)),
        **_unmapped(4, "salary_credited", "salary_amount", "fees_charged"),
        **_unmapped(4, *(f"bal_{b}" for b in signals.BALANCES)),
    )
    join = pd.Series([pd.Timestamp("2023-11-15", tz="UTC")] * 4)
    frames = [
        signals.balances_flows(rows),
        signals.engagement_channels(rows),
        signals.service_complaints(rows),
        signals.product_holdings(rows, join),
    ]
    out = pd.concat([f.drop(columns=["customer_id", "event_timestamp"]) for f in frames], axis=1)
    derived = [
        *holdings,
        "n_products",
        "n_products_chg_3m",
        "app_logins",
        "app_logins_3m",
        "tx_total",
        "digital_share",
        "complaints_new",
        "complaints_open",
        "complaints_3m",
        "tickets_3m",
        "salary_amount",
        "salary_kept_share_3m",
        "months_since_salary",
        "months_since_salary_stopped",
        "fee_shock",
        "bal_total",
    ]
    assert out[derived].isna().all().all()
    assert list(out["tenure_months"]) == [2, 3, 4, 5]  # from mapped fields: unaffected


def test_unknown_marketing_consent_stays_unknown():
    customers = pd.DataFrame(
        {
            "customer_id": [1, 2, 3],
            "join_date": [pd.Timestamp("2020-05-01", tz="UTC")] * 3,
            **_unmapped(3, "birth_year", "region", "branch_id", "city_tier", "income_band"),
            **_unmapped(3, "occupation", "risk_tolerance", "preferred_channel"),
            "marketing_consent": pd.array([True, False, None], dtype="boolean"),
            "digital_adoption": [None] * 3,
        }
    )
    out = signals.customer_profile(customers)
    assert list(out["marketing_consent"].iloc[:2]) == [True, False]
    assert pd.isna(out["marketing_consent"].iloc[2])
    assert out["birth_year"].isna().all() and out["digital_adoption"].isna().all()
    assert pa_table(out, "customer_profile").column("marketing_consent").null_count == 1


def test_signals_over_several_fields_use_the_known_ones():
    """n_products and tx_total count what the bank mapped, null when nothing is known; the total
    balance needs every balance."""
    rows = monthly_rows(
        3,
        **_unmapped(3, *(f"has_{p}" for p in PRODUCTS if p not in ("savings", "credit_card"))),
        has_savings=[True, None, None],
        has_credit_card=[True, False, None],
        bal_current=[10.0, None, None],
        bal_savings=[5.0, 5.0, None],
        **_unmapped(3, "bal_time_deposit", "bal_wealth", "tx_branch", "tx_atm"),
        tx_mobile=[3, None, None],
        tx_phone=[1, 2, None],
    )
    join = pd.Series([pd.Timestamp("2023-11-15", tz="UTC")] * 3)
    holdings = signals.product_holdings(rows, join)
    assert holdings["n_products"].tolist()[:2] == [2, 0] and pd.isna(holdings["n_products"][2])
    assert signals.balances_flows(rows)["bal_total"].isna().all()
    engagement = signals.engagement_channels(rows)
    assert engagement["tx_total"].tolist()[:2] == [4, 2] and pd.isna(engagement["tx_total"][2])
    assert nan_equal(engagement["digital_share"], [0.75, None, None])
    assert pa_table(holdings, "product_holdings").column("n_products").null_count == 1


def test_sums_over_months_skip_unknown_months():
    """A 3-month sum adds the known months; null when none of the three is known."""
    logins = [4, None, 2, None, None, None]
    rows = monthly_rows(6, app_logins=logins, fees_charged=[10, None, 20, 30, 40, 50])
    engagement = signals.engagement_channels(rows)
    assert engagement["app_logins_3m"].tolist()[:5] == [4, 4, 6, 2, 2]
    assert pd.isna(engagement["app_logins_3m"][5]) and pd.isna(engagement["app_logins"][1])
    # fee shock: this month minus the mean of the known fees of up to three months before
    fee_shock = signals.balances_flows(rows)["fee_shock"]
    assert nan_equal(fee_shock, [None, None, 10.0, 15.0, 40 - 25.0, 50 - 30.0])


def test_an_unknown_salary_month_is_not_a_stop():
    """A month whose salary flag is unknown is neither a salary nor the month the salary stopped."""
    rows = monthly_rows(
        4, salary_credited=[True, None, False, True], salary_amount=[900.0, None, 0.0, 900.0]
    )
    out = signals.balances_flows(rows)
    assert nan_equal(out["months_since_salary"], [0, 1, 2, 0])
    assert nan_equal(out["months_since_salary_stopped"], [None, None, None, None])
    assert nan_equal(out["salary_amount"], [900.0, None, 0.0, 900.0])
