"""The real Feast stack on a small hand-made bank: point-in-time correctness, online = offline."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features.build import build_sources
from features.frames import feature_names, label_table, training_frame
from features.materialize import materialize
from features.store import apply, open_store, teardown
from retain.core.settings import Settings
from retain.core.tables import MONTHLY
from tests.integration.conftest import FIRST_MONTH, month_ends, write_raw_tables

pytestmark = pytest.mark.integration

MONTHS = 12
FUTURE_MONTH = 6  # index of the month whose values must never reach an earlier as-of row
SENTINEL = 9.0e8


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A built, applied and materialized embedded store over 240 customers.

    In month FUTURE_MONTH every savings balance is SENTINEL and every login happens at the very
    end of that month: values that earlier as-of rows must never see.
    """
    settings = Settings(home=tmp_path_factory.mktemp("features") / "home")
    write_raw_tables(settings.raw_dir, customers=240, months=MONTHS, seed=11, parts=3)
    future = month_ends(FIRST_MONTH, MONTHS)[FUTURE_MONTH]
    for part in sorted((settings.raw_dir / "monthly").glob("*.parquet")):
        monthly = pq.read_table(part).to_pandas()
        hit = monthly["month_end"] == future
        monthly.loc[hit, "bal_savings"] = SENTINEL
        monthly.loc[hit, "last_login_at"] = future
        pq.write_table(pa.Table.from_pandas(monthly, schema=MONTHLY, preserve_index=False), part)
    build_sources(settings)
    apply(settings)
    materialize(settings)
    return settings


@pytest.fixture(scope="module")
def frame(home: Settings) -> pd.DataFrame:
    return training_frame(home)


def test_a_value_stamped_after_the_as_of_time_never_reaches_a_training_row(frame):
    """Rows before FUTURE_MONTH never see its sentinel balance or its logins."""
    future = month_ends(FIRST_MONTH, MONTHS)[FUTURE_MONTH]
    before = frame[frame["event_timestamp"] < future]
    assert len(before) > 0
    assert (before["bal_savings"] < SENTINEL).all()
    assert (before["bal_total"] < SENTINEL).all()
    assert (before["days_since_login_now"].dropna() >= 0).all()


def test_the_as_of_month_itself_is_known_at_its_end(home):
    """A month-end snapshot is known at that month end: the sentinel month sees its own values."""
    future = month_ends(FIRST_MONTH, MONTHS)[FUTURE_MONTH]
    labels = label_table(home)
    if future not in set(labels["event_timestamp"]):
        pytest.skip("the sentinel month is beyond the labelled range")
    rows = training_frame(home, as_of=[future])
    assert (rows["bal_savings"] == SENTINEL).all()


def test_frame_has_labels_then_the_service_features_in_order(home, frame):
    names = feature_names(home, "churn_v1")
    assert list(frame.columns) == ["customer_id", "event_timestamp", "label", *names]
    assert "gender" not in frame.columns
    assert {"tenure_days", "days_since_login_now", "bal_total_chg_3m"} <= set(names)
    labels = label_table(home)
    assert len(frame) == len(labels)
    assert frame["label"].tolist() == labels["label"].tolist()
    assert (
        frame["event_timestamp"].max() + pd.Timedelta(days=90)
        <= month_ends(FIRST_MONTH, MONTHS)[-1]
    )


def test_labels_cover_only_customers_with_the_bank(home):
    """No label row for a customer after it churned; every label row has a monthly snapshot."""
    labels = label_table(home)
    churn = pd.read_parquet(home.raw_dir / "churn")
    merged = labels.merge(churn, on="customer_id", how="left")
    assert not (merged["churned_at"] <= merged["event_timestamp"]).any()
    monthly = pd.read_parquet(home.raw_dir / "monthly", columns=["customer_id", "month_end"])
    keys = set(zip(monthly["customer_id"], monthly["month_end"], strict=True))
    assert all(
        k in keys for k in zip(labels["customer_id"], labels["event_timestamp"], strict=True)
    )


def test_the_parts_engine_gives_the_same_frame_as_feast(home, frame):
    """The default engine equals Feast's get_historical_features on the same labels."""
    reference = training_frame(home, engine="feast")
    pd.testing.assert_frame_equal(frame, reference, check_exact=False, rtol=1e-6)


def _online_equals_offline(settings: Settings, sample: int = 25) -> None:
    store = open_store(settings)
    service = store.get_feature_service("churn_v1")
    names = feature_names(settings, "churn_v1")
    latest = month_ends(FIRST_MONTH, MONTHS)[-1]
    monthly = pd.read_parquet(settings.raw_dir / "monthly", columns=["customer_id", "month_end"])
    ids = sorted(monthly.loc[monthly["month_end"] == latest, "customer_id"].unique())[:sample]
    request = int(latest.timestamp())
    entity = pd.DataFrame(
        {
            "customer_id": ids,
            "event_timestamp": pd.Series([latest] * len(ids)).dt.tz_convert("UTC"),
            "request_epoch_s": request,
        }
    )
    offline = store.get_historical_features(entity_df=entity, features=service).to_df()
    offline = offline.set_index("customer_id").loc[ids]
    online = store.get_online_features(
        features=service,
        entity_rows=[{"customer_id": int(i), "request_epoch_s": request} for i in ids],
    ).to_df()
    online = online.set_index("customer_id").loc[ids]
    for name in names:
        for cid in ids:
            a, b = offline.at[cid, name], online.at[cid, name]
            if _missing(a) or _missing(b):
                assert _missing(a) and _missing(b), (name, cid, a, b)
            elif isinstance(a, str) or isinstance(b, str):
                assert a == b, (name, cid, a, b)
            else:
                assert float(a) == pytest.approx(float(b), rel=1e-5), (name, cid, a, b)


def _missing(value: object) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def test_online_values_equal_offline_values_on_sqlite(home):
    _online_equals_offline(home)


@pytest.fixture
def production(home: Settings, tmp_path: Path) -> Iterator[Settings]:
    """Production profile on the local Redis and PostgreSQL, in a project of its own."""
    settings = Settings(
        home=tmp_path / "prod",
        profile="production",
        project=f"t_{uuid.uuid4().hex[:10]}",
    )
    # Same raw data and sources as the embedded store, read in place.
    settings.data_dir.parent.mkdir(parents=True)
    settings.data_dir.symlink_to(home.data_dir)
    yield settings
    teardown(settings)


def test_online_values_equal_offline_values_on_redis_with_a_sql_registry(production):
    apply(production)
    materialize(production)
    _online_equals_offline(production)
