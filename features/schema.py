"""The columns of every feature source and view, in one place and without importing Feast.

``VIEW_FEATURES`` gives each feature view its Feast ``schema`` (``features.definitions``) and each
source folder its Parquet schema (``features.build``), so they cannot drift apart. Types are
``int64``, ``float32``, ``float64``, ``bool`` or ``string``.

``SEGMENT_FEATURES`` are the columns of one more view, ``customer_segments``: the value tier,
lifecycle stage, behavioural segment and monthly margin that ``features.segments`` computes from
the views above, written at feature-build time. They are no model's input, so they are in no churn
service; ``segments_v1`` serves them.
"""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa

from retain.core.columns import AS_OF, KEY
from retain.core.tables import PRODUCTS

MONTHLY_TTL = timedelta(days=40)
"""A month-end snapshot stays valid a little over a month: a customer with no recent snapshot
(who left, or whose data stopped) gets nulls rather than stale values."""

PROFILE_TTL = timedelta(0)
"""The profile, stamped at joining, never expires (Feast reads a zero TTL as "no limit")."""

REQUEST_TIME = "request_epoch_s"
"""Request-time input of the on-demand view: the scoring time in seconds since the epoch (UTC).
Training frames pass the as-of time here."""

F = tuple[str, str, str]

_BALANCE_NAMES = {
    "current": "current account",
    "savings": "savings",
    "time_deposit": "time deposits",
    "wealth": "wealth products",
    "loans": "outstanding loans and mortgage",
}

VIEW_FEATURES: dict[str, list[F]] = {
    "customer_profile": [
        ("birth_year", "int64", "Year of birth"),
        ("region", "string", "Home region"),
        ("branch_id", "int64", "Home branch"),
        ("city_tier", "int64", "City size tier, 1 = largest cities"),
        ("income_band", "int64", "Income band 1 (lowest) .. 5 (highest)"),
        ("occupation", "string", "Occupation"),
        ("risk_tolerance", "int64", "Risk tolerance R1..R5 as 1..5"),
        ("marketing_consent", "bool", "Consent to marketing contact"),
        ("preferred_channel", "string", "Preferred contact channel"),
        ("digital_adoption", "float32", "Digital adoption score at joining, 0..1"),
        ("join_epoch_s", "int64", "Join date, seconds since the epoch (UTC)"),
    ],
    "balances_flows": [
        *[
            (f"bal_{b}", "float32", f"Balance of {d} at month end")
            for b, d in _BALANCE_NAMES.items()
        ],
        ("bal_total", "float32", "Current + savings + time deposits + wealth at month end"),
        ("bal_total_chg_3m", "float32", "Relative change of bal_total over 3 months"),
        ("bal_total_chg_6m", "float32", "Relative change of bal_total over 6 months"),
        *[
            (f"bal_{b}_chg_{k}m", "float32", f"Relative change of the {d} balance over {k} months")
            for b, d in _BALANCE_NAMES.items()
            for k in (3, 6)
        ],
        ("inflow", "float32", "Money in during the month"),
        ("outflow", "float32", "Money out during the month"),
        ("net_flow", "float32", "inflow - outflow"),
        ("salary_amount", "float32", "Salary credited this month, 0 when none"),
        ("salary_kept_share_3m", "float32", "Net flow / salary over the last 3 months"),
        ("months_since_salary", "float32", "Months since a salary was last credited"),
        ("months_since_salary_stopped", "float32", "Months since the salary last stopped"),
        ("card_spend", "float32", "Card spending during the month"),
        ("fees_charged", "float32", "Fees charged during the month"),
        ("fee_shock", "float32", "Fees this month minus the mean of the 3 months before"),
        ("bank_rate", "float32", "The bank's savings rate, % a year"),
        ("market_rate", "float32", "Best competitor savings rate, % a year"),
        ("rate_gap", "float32", "market_rate - bank_rate"),
    ],
    "engagement_channels": [
        ("tx_branch", "int64", "Branch transactions in the month"),
        ("tx_mobile", "int64", "Mobile transactions in the month"),
        ("tx_atm", "int64", "ATM transactions in the month"),
        ("tx_phone", "int64", "Phone transactions in the month"),
        ("tx_total", "int64", "Transactions on all channels in the month"),
        ("tx_total_chg_3m", "float32", "Relative change of tx_total over 3 months"),
        ("digital_share", "float32", "Mobile share of the month's transactions"),
        ("app_logins", "int64", "App logins in the month"),
        ("app_logins_3m", "int64", "App logins in the last 3 months"),
        ("days_since_login", "float32", "Days from the last login to month end"),
        ("last_login_epoch_s", "int64", "Last login, seconds since the epoch (UTC)"),
    ],
    "service_complaints": [
        ("complaints_new", "int64", "Complaints raised in the month"),
        ("complaints_open", "int64", "Complaints unresolved at month end"),
        ("complaints_3m", "int64", "Complaints raised in the last 3 months"),
        ("tickets_new", "int64", "Service tickets raised in the month"),
        ("tickets_open", "int64", "Service tickets open at month end"),
        ("tickets_3m", "int64", "Service tickets raised in the last 3 months"),
        ("satisfaction_last", "float32", "Last satisfaction answer, 0..10"),
        ("months_since_survey", "float32", "Months since the last satisfaction answer"),
    ],
    "product_holdings": [
        *[(f"has_{p}", "bool", f"Holds {p.replace('_', ' ')}") for p in PRODUCTS],
        ("n_products", "int64", "Number of products held"),
        ("n_products_chg_3m", "float32", "Change in the number of products over 3 months"),
        ("tenure_months", "int64", "Months with the bank at month end"),
        ("age", "int64", "Age at month end"),
        ("life_event", "string", "Life event recorded this month, if any"),
    ],
    "contact_history": [
        *[
            (name.format(k=k), "int64", text.format(k=k))
            for k in (3, 6)
            for name, text in (
                ("contacts_{k}m", "Offers sent in the last {k} months"),
                ("retention_offers_{k}m", "Retention offers sent in the last {k} months"),
                ("offers_declined_{k}m", "Offers declined in the last {k} months"),
                ("offers_accepted_{k}m", "Offers accepted in the last {k} months"),
            )
        ],
        ("months_since_contact", "float32", "Months since the last offer was sent"),
    ],
}
"""Features of each batch feature view, in order: (name, Feast type, description)."""

VIEW_DESCRIPTIONS: dict[str, str] = {
    "customer_profile": "Profile as known when the customer joined (no gender).",
    "balances_flows": "Month-end balances and trends, flows, salary signals, fees and rates.",
    "engagement_channels": "Transactions by channel, digital share and app activity.",
    "service_complaints": "Complaints, service tickets and satisfaction.",
    "product_holdings": "Products held and their change, tenure, age and life events.",
    "contact_history": "Offers sent to the customer and the responses, over 3 and 6 months.",
    "customer_segments": "Value tier, lifecycle stage, behavioural segment and monthly margin "
    "at month end, computed at feature-build time by features.segments from value.toml.",
}

SOURCES: tuple[str, ...] = tuple(VIEW_FEATURES)
"""One source folder per batch feature view of the models, under ``Settings.sources_dir``."""

SEGMENTS = "customer_segments"
"""The feature view (and source folder) of the segments, built from the sources above."""

SEGMENTS_SERVICE = "segments_v1"
"""The FeatureService of ``customer_segments``: what the batch scorer reads point in time."""

SEGMENT_FEATURES: list[F] = [
    (
        "value_tier",
        "string",
        "Value tier by total balance: mass, affluent or private (value.toml [value_tiers]); "
        "unknown without a balance",
    ),
    (
        "lifecycle_stage",
        "string",
        "new, growing, mature, declining or dormant (value.toml [lifecycle])",
    ),
    (
        "behaviour_segment",
        "string",
        "How the customer banks: low_activity, digital, branch or mixed (value.toml [behaviour])",
    ),
    (
        "monthly_margin",
        "float64",
        "The bank's margin on the customer per month (value.toml margins)",
    ),
    (
        "segments_version",
        "string",
        "Short hash of the value.toml definitions the row was built with",
    ),
]
"""Features of the ``customer_segments`` view, in order."""

BUILT_SOURCES: tuple[str, ...] = (*SOURCES, SEGMENTS)
"""Every source folder ``retain features build`` writes (the bank's extras aside)."""

CHURN_V1_EXCLUDED: frozenset[str] = frozenset({"join_epoch_s", "last_login_epoch_s"})
"""Raw timestamps: inputs of the on-demand view, not model features themselves."""

_ARROW = {
    "int64": pa.int64(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "string": pa.string(),
}


def source_features(source: str) -> list[F]:
    """The features of a built source's view (``VIEW_FEATURES`` or ``SEGMENT_FEATURES``)."""
    return SEGMENT_FEATURES if source == SEGMENTS else VIEW_FEATURES[source]


def source_schema(source: str) -> pa.Schema:
    """The Parquet schema of a source folder: key, timestamp, then the view's features."""
    fields = [(KEY, pa.int64()), (AS_OF, pa.timestamp("us", tz="UTC"))]
    fields += [(n, _ARROW[t]) for n, t, _ in source_features(source)]
    return pa.schema(fields)
