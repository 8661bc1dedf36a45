"""The raw bank tables retain reads: the contract between a data source and the feature repo.

The simulator writes these tables; a bank's own data is mapped onto them by ingestion. Each table is
a folder of Parquet files (``part-*.parquet``) under ``Settings.raw_dir``. Every timestamp is
timezone-aware UTC; monthly snapshots are stamped at the last instant of the month's last day
(23:59:59 UTC), so a snapshot is known from the end of its month on.
"""

from __future__ import annotations

import pyarrow as pa

PRODUCTS: tuple[str, ...] = (
    "current_account",
    "savings",
    "time_deposit",
    "credit_card",
    "personal_loan",
    "mortgage",
    "car_loan",
    "wealth_funds",
    "insurance",
    "pension",
    "fx_remittance",
    "green_deposit",
)
"""The retail product catalogue; holdings columns are ``has_<product>``."""

CHANNELS: tuple[str, ...] = ("branch", "mobile", "phone", "sms_email")
"""Contact channels, also the values of a customer's ``preferred_channel``."""

LIFE_EVENTS: tuple[str, ...] = ("new_job", "marriage", "child", "home_purchase", "retirement")

RETENTION_ACTIONS: tuple[str, ...] = ("fee_waiver", "rate_boost", "rm_call", "loyalty_bonus")
"""Retention offers in the campaign history; cross-sell offers are ``xsell_<product>``."""

OUTCOMES: tuple[str, ...] = ("accepted", "declined", "ignored")

TS = pa.timestamp("us", tz="UTC")

CUSTOMERS = pa.schema(
    [
        ("customer_id", pa.int64()),
        ("gender", pa.string()),  # fairness checks only, never a model feature
        ("birth_year", pa.int16()),
        ("region", pa.string()),
        ("branch_id", pa.int32()),
        ("city_tier", pa.int8()),  # 1 = largest cities
        ("income_band", pa.int8()),  # 1 (lowest) .. 5 (highest)
        ("occupation", pa.string()),
        ("join_date", TS),
        ("risk_tolerance", pa.int8()),  # R1 .. R5 as 1 .. 5
        ("marketing_consent", pa.bool_()),
        ("preferred_channel", pa.string()),  # one of CHANNELS
        ("digital_adoption", pa.float32()),  # 0 .. 1
    ]
)
"""One row per customer: the profile as known when the customer joined."""

MONTHLY = pa.schema(
    [
        ("customer_id", pa.int64()),
        ("month_end", TS),
        ("age", pa.int16()),
        ("bal_current", pa.float32()),
        ("bal_savings", pa.float32()),
        ("bal_time_deposit", pa.float32()),
        ("bal_wealth", pa.float32()),
        ("bal_loans", pa.float32()),  # outstanding on all loans and mortgage
        ("inflow", pa.float32()),
        ("outflow", pa.float32()),
        ("salary_credited", pa.bool_()),
        ("salary_amount", pa.float32()),  # 0 when not credited
        ("card_spend", pa.float32()),
        ("tx_branch", pa.int16()),
        ("tx_mobile", pa.int16()),
        ("tx_atm", pa.int16()),
        ("tx_phone", pa.int16()),
        ("app_logins", pa.int16()),
        ("last_login_at", TS),  # null when the customer never logged in
        ("complaints_new", pa.int8()),
        ("complaints_open", pa.int8()),  # unresolved at month end
        ("tickets_new", pa.int8()),
        ("tickets_open", pa.int8()),
        ("satisfaction", pa.float32()),  # 0 .. 10, null when no survey was answered
        ("fees_charged", pa.float32()),
        ("bank_rate", pa.float32()),  # the bank's savings rate, % a year
        ("market_rate", pa.float32()),  # the best competitor rate, % a year
        ("life_event", pa.string()),  # one of LIFE_EVENTS, or null
        *[(f"has_{p}", pa.bool_()) for p in PRODUCTS],
    ]
)
"""One row per customer and month while the customer is with the bank (none after leaving)."""

CHURN = pa.schema(
    [
        ("customer_id", pa.int64()),
        ("churned_at", TS),  # when the relationship closed or went dormant
        ("kind", pa.string()),  # "closed" or "dormant"
    ]
)
"""One row per customer who left; customers who stayed have none."""

CAMPAIGNS = pa.schema(
    [
        ("contact_id", pa.int64()),
        ("customer_id", pa.int64()),
        ("sent_at", TS),
        ("action_id", pa.string()),  # one of RETENTION_ACTIONS or xsell_<product>
        ("kind", pa.string()),  # "retention" or "cross_sell"
        ("channel", pa.string()),  # one of CHANNELS
        ("randomized", pa.bool_()),  # assigned at random with a known probability
        # held out of the contact at random (a control cell): not contacted, no outcome;
        # action_id is the offer the customer's audience got
        ("holdout", pa.bool_()),
        # P(what the row records | customer) under the part of the policy that chose it: for a
        # contact, P(this action): the experiment's design probability for a randomised contact
        # (what off-policy estimates need), else the targeting rules'; for a holdout, P(held out)
        ("assignment_prob", pa.float32()),
        ("outcome", pa.string()),  # one of OUTCOMES; null on a holdout row
    ]
)
"""One row per past contact with an offer, and its response; and one per customer held out of a
campaign's audience at random (``holdout``), the control that measures what the campaign changed."""

RAW_TABLES: dict[str, pa.Schema] = {
    "customers": CUSTOMERS,
    "monthly": MONTHLY,
    "churn": CHURN,
    "campaigns": CAMPAIGNS,
}

FIELD_NOTES: dict[str, str] = {
    "customers.customer_id": "the bank's customer id",
    "customers.gender": "fairness checks only, never a model feature",
    "customers.city_tier": "1 = largest cities",
    "customers.income_band": "1 (lowest) .. 5 (highest)",
    "customers.risk_tolerance": "R1 .. R5 as 1 .. 5",
    "customers.digital_adoption": "0 .. 1",
    "monthly.month_end": "the month, stamped at its last second (23:59:59 UTC of its last day)",
    "monthly.bal_loans": "outstanding on all loans and mortgage",
    "monthly.salary_amount": "0 when not credited",
    "monthly.last_login_at": "null when the customer never logged in",
    "monthly.complaints_open": "unresolved at month end",
    "monthly.tickets_open": "open at month end",
    "monthly.satisfaction": "0 .. 10, null when no survey was answered",
    "monthly.bank_rate": "the bank's savings rate, % a year",
    "monthly.market_rate": "the best competitor rate, % a year",
    "monthly.life_event": "null when none",
    "churn.churned_at": "when the relationship closed or went dormant",
    "campaigns.action_id": "one of RETENTION_ACTIONS or xsell_<product>",
    "campaigns.randomized": "assigned at random with a known probability",
    "campaigns.holdout": "held out of the contact at random (a control cell): not contacted, no "
    "outcome; action_id is the offer the customer's audience got",
    "campaigns.assignment_prob": "P(what the row records | customer) under the part of the policy "
    "that chose it: a contact, P(this action) (a randomised contact: the experiment's design "
    "probability); a holdout, P(held out)",
    "campaigns.outcome": "empty on a holdout row",
}
"""What a field means, where its name and type do not say it all (the README's table of fields)."""
