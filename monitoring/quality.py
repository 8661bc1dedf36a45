"""Data quality of the raw tables as they arrive: schema against the contract
(``retain.core.tables``), values against their ranges and allowed levels (pandera), missing
shares of the current window against the reference's, and the customers per month (a partial
load shows as a sudden drop).

Every column may hold nulls in the value checks (a bank's own data may lack a column
altogether): the keys and timestamps may not, and a rise of a column's missing share is judged
against ``missing_warn`` / ``missing_alert`` instead. The checks are pure functions over frames;
``read_quality`` reads the tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from monitoring.alerts import alert
from monitoring.config import MonitoringConfig
from retain.core.settings import Settings
from retain.core.tables import (
    CHANNELS,
    LIFE_EVENTS,
    OUTCOMES,
    PRODUCTS,
    RAW_TABLES,
    RETENTION_ACTIONS,
)

CHECK_COLUMNS = ["table", "column", "check", "rows", "failed", "failed_share", "example", "status"]
MISSING_COLUMNS = ["table", "column", "missing_reference", "missing_current", "change", "status"]
VOLUME_COLUMNS = ["month", "customers", "change", "status"]

# The ranges a value may take, from the contract's field notes: money and counts are never
# negative, shares lie in [0, 1], a satisfaction answer in [0, 10]; rates are % a year, and a
# negative policy rate has happened (the bounds only catch a unit or a sign gone wrong).
_NON_NEGATIVE = (
    "bal_savings",
    "bal_time_deposit",
    "bal_wealth",
    "bal_loans",
    "inflow",
    "outflow",
    "salary_amount",
    "card_spend",
    "tx_branch",
    "tx_mobile",
    "tx_atm",
    "tx_phone",
    "app_logins",
    "complaints_new",
    "complaints_open",
    "tickets_new",
    "tickets_open",
    "fees_charged",
)
RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "customers": {
        "birth_year": (1900, 2100),
        "city_tier": (1, 10),
        "income_band": (1, 5),
        "risk_tolerance": (1, 5),
        "digital_adoption": (0, 1),
    },
    "monthly": {
        "age": (0, 120),
        "satisfaction": (0, 10),
        "bank_rate": (-5, 50),
        "market_rate": (-5, 50),
        **{c: (0, np.inf) for c in _NON_NEGATIVE},
    },
    "campaigns": {"assignment_prob": (0, 1)},
}
"""Per raw table, the closed range of each numeric column."""

LEVELS: dict[str, dict[str, Sequence[str]]] = {
    "customers": {"preferred_channel": CHANNELS},
    "monthly": {"life_event": LIFE_EVENTS},
    "churn": {"kind": ("closed", "dormant")},
    "campaigns": {
        "action_id": (*RETENTION_ACTIONS, *(f"xsell_{p}" for p in PRODUCTS)),
        "kind": ("retention", "cross_sell"),
        "channel": CHANNELS,
        "outcome": OUTCOMES,
    },
}
"""Per raw table, the levels a string column may take."""

KEYS: dict[str, tuple[str, ...]] = {
    "customers": ("customer_id",),
    "monthly": ("customer_id", "month_end"),
    "churn": ("customer_id", "churned_at"),
    "campaigns": ("contact_id",),
}
"""Per raw table, the columns that may not be null and identify a row together."""


@dataclass
class QualityResult:
    """What the data quality checks found.

    Attributes:
        checks: ``CHECK_COLUMNS``, one row per failed check (schema, key, range, level), worst
            first.
        missing: ``MISSING_COLUMNS``, every column of the monthly and customers tables.
        volume: ``VOLUME_COLUMNS``, customers per month of the current window and the month
            before it.
        rows: rows checked per table.
        alerts: one line per crossed threshold.
    """

    checks: pd.DataFrame
    missing: pd.DataFrame
    volume: pd.DataFrame
    rows: dict[str, int] = field(default_factory=dict)
    alerts: list[dict[str, str]] = field(default_factory=list)


def schema_problems(table: str, schema: pa.Schema) -> list[tuple[str, str]]:
    """(column, what is wrong) of a Parquet schema against the contract's for ``table``: a
    missing column, or one of another type."""
    want = RAW_TABLES[table]
    out = []
    for f in want:
        if f.name not in schema.names:
            out.append((f.name, f"missing (the contract's {f.type})"))
        elif not schema.field(f.name).type.equals(f.type):
            out.append((f.name, f"type {schema.field(f.name).type}, the contract's {f.type}"))
    return out


def _month_end_stamp(s: pd.Series) -> pd.Series:
    """True where a timestamp is the last second of its month (the contract's snapshot)."""
    return s.dt.is_month_end & (s.dt.hour == 23) & (s.dt.minute == 59) & (s.dt.second == 59)


def value_schema(table: str, columns: Sequence[str]) -> Any:
    """The pandera schema of a raw table's values, for the ``columns`` it holds."""
    import pandera.pandas as pandera

    ranges, levels, keys = RANGES.get(table, {}), LEVELS.get(table, {}), KEYS[table]
    spec = {}
    for name in columns:
        checks = []
        if name in ranges:
            low, high = ranges[name]
            checks.append(
                pandera.Check.ge(low) if high == np.inf else pandera.Check.in_range(low, high)
            )
        if name in levels:
            checks.append(pandera.Check.isin(list(levels[name])))
        if table == "monthly" and name == "month_end":
            checks.append(pandera.Check(_month_end_stamp, name="month_end_stamp"))
        spec[name] = pandera.Column(None, checks, nullable=name not in keys)
    present = [k for k in keys if k in columns]
    return pandera.DataFrameSchema(spec, unique=present if len(present) == len(keys) else None)


def value_checks(table: str, frame: pd.DataFrame, config: MonitoringConfig) -> pd.DataFrame:
    """The failed value checks of ``frame`` (rows of raw ``table``): ``CHECK_COLUMNS``."""
    from pandera.errors import SchemaErrors

    try:
        value_schema(table, list(frame.columns)).validate(frame, lazy=True)
        return pd.DataFrame(columns=CHECK_COLUMNS)
    except SchemaErrors as e:
        cases = e.failure_cases
    unique = cases["check"].astype(str).str.contains("unique")
    # A repeated key is one finding, not one per key column.
    cases = cases.assign(column=cases["column"].where(~unique, ", ".join(KEYS[table])))
    rows = []
    for (column, check), group in cases.groupby(["column", "check"], sort=False, dropna=False):
        failed = int(group["index"].nunique()) if group["index"].notna().any() else len(frame)
        share = failed / len(frame) if len(frame) else 0.0
        rows.append(
            {
                "table": table,
                "column": str(column),
                "check": "unique key" if "unique" in str(check) else str(check),
                "rows": len(frame),
                "failed": failed,
                "failed_share": share,
                "example": str(group["failure_case"].iloc[0]),
                "status": "alert" if share > config.invalid_alert_share else "warn",
            }
        )
    return pd.DataFrame(rows, columns=CHECK_COLUMNS)


def missing_shares(
    table: str, reference: pd.DataFrame, current: pd.DataFrame, config: MonitoringConfig
) -> pd.DataFrame:
    """Each common column's missing share in both windows: ``MISSING_COLUMNS``."""
    columns = [c for c in reference.columns if c in current.columns]

    def share(frame: pd.DataFrame) -> pd.Series:
        return frame[columns].isna().mean() if len(frame) else pd.Series(0.0, index=columns)

    r, c = share(reference), share(current)
    change = c - r
    return pd.DataFrame(
        {
            "table": table,
            "column": columns,
            "missing_reference": r.to_numpy(),
            "missing_current": c.to_numpy(),
            "change": change.to_numpy(),
            "status": [config.level("missing", v) for v in change.to_numpy()],
        },
        columns=MISSING_COLUMNS,
    )


def volume(counts: pd.Series, config: MonitoringConfig) -> pd.DataFrame:
    """Customers per month (``counts``: month label -> customers, in order) and the change from
    the month before; a drop of ``volume_drop_alert`` or more alerts. The first month is the
    baseline, not judged."""
    change = counts / counts.shift(1) - 1
    status = ["alert" if v <= -config.volume_drop_alert else "ok" for v in change.fillna(0.0)]
    return pd.DataFrame(
        {
            "month": counts.index.astype(str),
            "customers": counts.to_numpy(),
            "change": change.to_numpy(),
            "status": status,
        },
        columns=VOLUME_COLUMNS,
    )


def quality_alerts(result: QualityResult) -> list[dict[str, str]]:
    """One line per failed check, risen missing share and dropped month."""
    out = [
        alert(
            "data quality",
            f"{r['table']}.{r['column']}",
            r["status"],
            f"schema: {r['example']}"
            if r["check"] == "schema"
            else f"{r['check']}: {r['failed']:,} of {r['rows']:,} rows fail (e.g. {r['example']})",
        )
        for r in result.checks.to_dict("records")
    ]
    out += [
        alert(
            "data quality",
            f"{r['table']}.{r['column']}",
            r["status"],
            f"missing {r['missing_reference']:.1%} -> {r['missing_current']:.1%}",
        )
        for r in result.missing.to_dict("records")
        if r["status"] != "ok"
    ]
    out += [
        alert(
            "data quality",
            f"monthly rows {r['month']}",
            r["status"],
            f"{r['customers']:,} customers, {r['change']:+.0%} on the month before",
        )
        for r in result.volume.to_dict("records")
        if r["status"] != "ok"
    ]
    return out


def _read(settings: Settings, table: str, filters: Any = None) -> tuple[pd.DataFrame, list[Any]]:
    """The columns of a raw table that are in the contract, and its schema problems per part
    (a part read with what it has); an absent table is an empty frame."""
    import pyarrow.parquet as pq

    from features.build import read_schema

    folder = settings.raw_dir / table
    parts = sorted(folder.glob("*.parquet")) if folder.exists() else []
    problems: dict[tuple[str, str], None] = {}
    frames = []
    for part in parts:
        schema = read_schema(part)
        problems.update(dict.fromkeys(schema_problems(table, schema)))
        names = [n for n in RAW_TABLES[table].names if n in schema.names]
        frames.append(pq.read_table(part, columns=names, filters=filters).to_pandas())
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return frame, list(problems)


def _schema_rows(table: str, rows: int, problems: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "table": table,
                "column": column,
                "check": "schema",
                "rows": rows,
                "failed": rows,
                "failed_share": 1.0,
                "example": what,
                "status": "alert",
            }
            for column, what in problems
        ],
        columns=CHECK_COLUMNS,
    )


def read_quality(
    settings: Settings,
    reference: Sequence[pd.Timestamp],
    current: Sequence[pd.Timestamp],
    config: MonitoringConfig,
    before: pd.Timestamp | None = None,
) -> QualityResult:
    """Check the raw tables: the monthly rows of both windows (missing shares compared), the
    customers with a row in either window (missing shares compared), the churn table, and the
    campaigns sent in the current window; and the customers per month from ``before`` (the
    month before the current window) on.

    Args:
        settings: where the raw tables are.
        reference, current: the windows' month ends.
        config: thresholds.
        before: the month end before the current window, if any.

    Raises:
        DataError: a Parquet part is not readable.
    """
    cur_ends = pd.to_datetime(list(current), utc=True)
    ref_ends = pd.to_datetime(list(reference), utc=True)
    months = sorted({*ref_ends, *cur_ends, *([before] if before is not None else [])})
    monthly, problems = _read(settings, "monthly", [("month_end", "in", months)])
    ends = pd.to_datetime(monthly.get("month_end", pd.Series(dtype=object)), utc=True)
    in_ref, in_cur = ends.isin(ref_ends).to_numpy(), ends.isin(cur_ends).to_numpy()
    ref_rows, cur_rows = monthly[in_ref], monthly[in_cur]
    checks = [
        _schema_rows("monthly", len(cur_rows), problems),
        value_checks("monthly", cur_rows, config),
    ]
    missing = [missing_shares("monthly", ref_rows, cur_rows, config)]
    counted = in_cur | (ends == before).to_numpy() if before is not None else in_cur
    counts = ends[counted].dt.strftime("%Y-%m").value_counts().sort_index()
    rows = {"monthly": len(cur_rows)}
    ids = {
        "reference": set(ref_rows.get("customer_id", [])),
        "current": set(cur_rows.get("customer_id", [])),
    }
    start = min(cur_ends) - pd.offsets.MonthEnd(1)
    for table in ("customers", "churn", "campaigns"):
        frame, problems = _read(settings, table)
        if frame.empty and not problems:
            continue  # an absent table (a bank without campaigns) is not a quality finding
        if table == "customers" and "customer_id" in frame:
            known = frame[frame["customer_id"].isin(ids["reference"])]
            frame = frame[frame["customer_id"].isin(ids["current"])]
            missing.append(missing_shares(table, known, frame, config))
        elif table == "campaigns" and "sent_at" in frame:
            sent = pd.to_datetime(frame["sent_at"], utc=True)
            frame = frame[(sent > start) & (sent <= max(cur_ends))]
        rows[table] = len(frame)
        checks += [_schema_rows(table, len(frame), problems), value_checks(table, frame, config)]
    found = [c for c in checks if len(c)]
    table = pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=CHECK_COLUMNS)
    order = table["status"].map({"alert": 0, "warn": 1})
    table = (
        table.assign(_order=order)
        .sort_values(["_order", "failed_share"], ascending=[True, False], kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)
    )
    result = QualityResult(
        checks=table,
        missing=pd.concat(missing, ignore_index=True),
        volume=volume(counts, config),
        rows=rows,
    )
    result.alerts = quality_alerts(result)
    return result


def max_missing_rise(missing: pd.DataFrame) -> float:
    """The largest rise of a missing share (0 when none rose)."""
    return float(np.nanmax(missing["change"].to_numpy(dtype=np.float64), initial=0.0))
