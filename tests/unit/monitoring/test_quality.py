"""Data quality of the raw tables: the schema against the contract, values in range, missing
shares and customers per month."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from monitoring.config import MonitoringConfig
from monitoring.quality import missing_shares, read_quality, schema_problems, value_checks, volume
from retain.core.settings import Settings
from retain.core.tables import CHURN, MONTHLY

END = pd.Timestamp("2024-01-31 23:59:59", tz="UTC")


def test_schema_problems_name_a_missing_column_and_a_wrong_type():
    schema = pa.schema(
        [("customer_id", pa.string()), ("churned_at", CHURN.field("churned_at").type)]
    )
    assert schema_problems("churn", schema) == [
        ("customer_id", "type string, the contract's int64"),
        ("kind", "missing (the contract's string)"),
    ]
    assert schema_problems("churn", CHURN) == []


def test_value_checks_count_the_failing_rows_of_each_check():
    """A negative balance, an unknown life event, a snapshot not stamped at month end and a
    repeated key each fail their check; nulls in a value column do not."""
    frame = pd.DataFrame(
        {
            "customer_id": [1, 2, 2, 3],
            "month_end": [END, END, END, END - pd.Timedelta(days=3)],
            "bal_savings": [10.0, -5.0, 3.0, np.nan],
            "satisfaction": [7.0, 11.0, np.nan, 2.0],
            "life_event": ["new_job", "lottery", None, None],
        }
    )
    out = value_checks("monthly", frame, MonitoringConfig())
    failed = {(r["column"], r["check"]): r["failed"] for r in out.to_dict("records")}
    assert failed == {
        ("bal_savings", "greater_than_or_equal_to(0)"): 1,
        ("satisfaction", "in_range(0, 10)"): 1,
        ("life_event", "isin(['new_job', 'marriage', 'child', 'home_purchase', 'retirement'])"): 1,
        ("month_end", "month_end_stamp"): 1,
        ("customer_id, month_end", "unique key"): 2,
    }
    assert set(out["status"]) == {"alert"}  # 1 row of 4 is far above invalid_alert_share


def test_a_clean_frame_passes_and_a_rare_failure_only_warns():
    n = 5000
    frame = pd.DataFrame({"customer_id": np.arange(n), "month_end": END, "age": 40})
    assert value_checks("monthly", frame, MonitoringConfig()).empty
    frame.loc[0, "age"] = 140
    out = value_checks("monthly", frame, MonitoringConfig())
    assert out[["column", "failed", "status"]].values.tolist() == [["age", 1, "warn"]]


def test_a_rising_missing_share_warns_then_alerts():
    ref = pd.DataFrame({"a": [1.0] * 100, "b": [1.0] * 100, "c": [np.nan] * 100})
    cur = ref.copy()
    cur.loc[:2, "a"] = np.nan  # 3%
    cur.loc[:9, "b"] = np.nan  # 10%
    out = missing_shares("monthly", ref, cur, MonitoringConfig()).set_index("column")
    assert out["status"].to_dict() == {"a": "warn", "b": "alert", "c": "ok"}
    assert out.loc["b", "change"] == 0.1


def test_a_month_with_a_fifth_fewer_customers_alerts():
    counts = pd.Series([1000, 990, 700, 1000], index=["2024-01", "2024-02", "2024-03", "2024-04"])
    out = volume(counts, MonitoringConfig())
    assert out["status"].tolist() == ["ok", "ok", "alert", "ok"]


def test_read_quality_passes_a_clean_bank_and_finds_a_broken_load(settings: Settings):
    """The random bank of the tests passes; a late part whose balances are negative, whose
    satisfaction column is gone, and that repeats customers, is found in the current window."""
    from monitoring.windows import available_months
    from tests.integration.conftest import write_raw_tables

    write_raw_tables(settings.raw_dir, customers=200, months=8, seed=5, parts=2)
    months = available_months(settings)
    config = MonitoringConfig()
    clean = read_quality(settings, months[:4], months[-2:], config, months[-3])
    assert clean.checks.empty and not clean.alerts
    assert clean.rows["monthly"] > 0 and clean.rows["customers"] > 0
    assert clean.volume["month"].tolist() == [f"{m:%Y-%m}" for m in months[-3:]]

    part = pq.read_table(settings.raw_dir / "monthly" / "part-00000.parquet").to_pandas()
    late = part[part["month_end"] == months[-1]].copy()
    late["bal_savings"] = -1.0
    names = [n for n in MONTHLY.names if n != "satisfaction"]
    table = pa.Table.from_pandas(late[names], schema=pa.schema([MONTHLY.field(n) for n in names]))
    pq.write_table(table, settings.raw_dir / "monthly" / "part-00009.parquet")
    broken = read_quality(settings, months[:4], months[-2:], config, months[-3])
    found = {(r["column"], r["check"], r["status"]) for r in broken.checks.to_dict("records")}
    assert ("satisfaction", "schema", "alert") in found
    assert ("bal_savings", "greater_than_or_equal_to(0)", "alert") in found
    assert ("customer_id, month_end", "unique key", "alert") in found
    lines = {(a["kind"], a["subject"]) for a in broken.alerts}
    assert ("data quality", "monthly.satisfaction") in lines
