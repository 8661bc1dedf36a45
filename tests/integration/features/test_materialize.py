"""retain's materialization writes what Feast's own ``materialize`` writes, into SQLite and Redis,
incrementally with Feast's bookkeeping, and survives Redis going away halfway."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import redis

from features.build import build_sources
from features.frames import feature_names
from features.materialize import materialize
from features.store import apply, open_store, teardown
from retain.core.errors import ConfigError
from retain.core.settings import Settings
from tests.integration.conftest import FIRST_MONTH, month_ends, write_raw_tables

pytestmark = pytest.mark.integration

MONTHS = 12
ENDS = month_ends(FIRST_MONTH, MONTHS)
LAST, BEFORE = ENDS[-1].to_pydatetime(), ENDS[-2].to_pydatetime()


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Feature sources of 200 customers over 12 months (some leave, some nulls)."""
    settings = Settings(home=tmp_path_factory.mktemp("materialize") / "bank")
    write_raw_tables(settings.raw_dir, customers=200, months=MONTHS, seed=5, parts=2)
    build_sources(settings)
    return settings


@pytest.fixture
def homes(bank: Settings, tmp_path: Path) -> Iterator[list[Settings]]:
    """Applied stores over the bank's sources; Redis projects are removed afterwards."""
    made: list[Settings] = []
    yield made
    for settings in made:
        if settings.profile == "production":
            teardown(settings)


def _home(bank: Settings, homes: list[Settings], name: str, **kw: str) -> Settings:
    """An applied store reading the bank's sources (a Redis one in a project of its own)."""
    tag = uuid.uuid4().hex[:10]
    settings = Settings(home=bank.home.parent / f"{name}-{tag}", project=f"t_{tag}", **kw)  # type: ignore[arg-type]
    settings.home.mkdir(parents=True)
    settings.data_dir.symlink_to(bank.data_dir)
    homes.append(settings)
    apply(settings)
    return settings


def _online(settings: Settings, at: datetime) -> pd.DataFrame:
    """get_online_features of churn_v1 (every feature) for every customer of the bank."""
    store = open_store(settings)
    customers = pd.read_parquet(settings.raw_dir / "customers", columns=["customer_id"])
    ids = sorted(customers["customer_id"].tolist())
    rows = [{"customer_id": int(i), "request_epoch_s": int(at.timestamp())} for i in ids]
    frame = store.get_online_features(
        features=store.get_feature_service("churn_v1"), entity_rows=rows
    ).to_df()
    assert set(feature_names(settings, "churn_v1")) <= set(frame.columns)
    return frame


def _sqlite_rows(settings: Settings) -> dict[str, list[tuple]]:
    with sqlite3.connect(settings.feast_dir / "online.db") as db:
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        prefix = f"{settings.project}_"
        return {t.removeprefix(prefix): sorted(db.execute(f'SELECT * FROM "{t}"')) for t in tables}


def _redis_hashes(settings: Settings, client: redis.Redis) -> dict[bytes, Any]:
    suffix = settings.project.encode()
    return {
        key[: -len(suffix)]: client.hgetall(key)
        for key in client.scan_iter(match=b"*" + suffix, count=1000)
    }


def _utc(t: datetime) -> pd.Timestamp:
    stamp = pd.Timestamp(t)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _intervals(settings: Settings, view: str) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """The view's materialization intervals as Feast's registry holds them."""
    registry = open_store(settings).registry
    found = registry.get_feature_view(view, settings.project, allow_cache=False)
    return [(_utc(a), _utc(b)) for a, b in found.materialization_intervals]


def test_sqlite_holds_feasts_own_rows_after_a_full_load_and_a_new_month(bank, homes, monkeypatch):
    """Month 11, then month 12 incrementally: the same SQLite rows and online features as Feast's
    own materialize over the same windows (written in chunks of 37 customers); the registry records
    both intervals, so the month read only rows from month 11's end on, and a third run writes
    nothing."""
    monkeypatch.setattr("features.materialize.WRITE_CHUNK_ROWS", 37)
    fast = _home(bank, homes, "fast")
    feast = _home(bank, homes, "feast")
    first = materialize(fast, end=BEFORE)
    materialize(feast, end=BEFORE, engine="feast")
    second = materialize(fast)
    materialize(feast, engine="feast")

    assert _sqlite_rows(fast) == _sqlite_rows(feast)
    pd.testing.assert_frame_equal(_online(fast, LAST), _online(feast, LAST))
    monthly = {v.name: v for v in second.views if v.name != "customer_profile"}
    assert all(v.start == BEFORE for v in monthly.values())
    assert all(0 < v.rows <= first.customers for v in second.views)
    assert _intervals(fast, "balances_flows")[-2:] == [
        (_utc(BEFORE) - pd.Timedelta(days=40), _utc(BEFORE)),
        (_utc(BEFORE), _utc(LAST)),
    ]
    third = materialize(fast)
    assert all(v.start is None and v.rows == 0 for v in third.views)
    assert _sqlite_rows(fast) == _sqlite_rows(feast)


def test_redis_holds_feasts_own_hashes(bank, homes, monkeypatch):
    """Redis keys, hash fields and values are byte for byte Feast's (written in chunks of 37
    customers, 5 commands a round trip), and so are the online features; a second run skips
    customers whose stored row is as new (Feast's check)."""
    monkeypatch.setattr("features.materialize.WRITE_CHUNK_ROWS", 37)
    monkeypatch.setattr("features.materialize.REDIS_COMMANDS_PER_ROUND_TRIP", 5)
    fast = _home(bank, homes, "fast", profile="production")
    feast = _home(bank, homes, "feast", profile="production")
    materialize(fast, end=BEFORE)
    materialize(feast, end=BEFORE, engine="feast")
    materialize(fast)
    materialize(feast, engine="feast")
    client = redis.Redis.from_url(fast.redis_url)
    hashes = _redis_hashes(fast, client)
    assert hashes and hashes == _redis_hashes(feast, client)
    pd.testing.assert_frame_equal(_online(fast, LAST), _online(feast, LAST))
    again = materialize(fast, full=True)
    assert all(v.rows == 0 for v in again.views)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _redis_server(folder: Path, port: int) -> subprocess.Popen[bytes]:
    """A private Redis that keeps every write (append-only file), so a kill loses nothing."""
    server = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--dir",
            str(folder),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
        ],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            return server
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    server.kill()
    raise RuntimeError("redis-server did not start")


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_redis_gone_halfway_keeps_previous_values_and_the_next_run_completes(bank, homes, tmp_path):
    """Redis is killed after two views of a new month: the error says which views are done and
    to run again; the other views still serve the month before; the next run completes them, to
    exactly Feast's own values."""
    port = _free_port()
    folder = tmp_path / "redis"
    folder.mkdir()
    server = _redis_server(folder, port)
    try:
        url = f"redis://127.0.0.1:{port}/0"
        fast = _home(bank, homes, "fast", profile="production", redis_url=url)
        feast = _home(bank, homes, "feast")
        materialize(fast, end=BEFORE)
        materialize(feast, end=BEFORE, engine="feast")
        month_before = _online(fast, LAST)

        def kill_after_two(done: int, total: int) -> None:
            if done == 2:
                server.send_signal(signal.SIGKILL)
                server.wait()

        with pytest.raises(ConfigError) as failed:
            materialize(fast, kill_after_two)
        message = str(failed.value)
        assert "cannot reach the Redis online store" in message
        assert "customer_profile, balances_flows materialized up to" in message
        assert "run `retain features materialize` again" in message
        assert "\n" not in message

        server = _redis_server(folder, port)
        served = _online(fast, LAST)
        later = [c for c in month_before.columns if c.startswith(("tx_", "complaints_"))]
        pd.testing.assert_frame_equal(served[later], month_before[later])
        assert _intervals(fast, "balances_flows")[-1][1] == _utc(LAST)
        assert _intervals(fast, "engagement_channels")[-1][1] == _utc(BEFORE)

        resumed = materialize(fast)
        assert [v.name for v in resumed.views if v.start is None] == [
            "customer_profile",
            "balances_flows",
        ]
        materialize(feast, engine="feast")
        pd.testing.assert_frame_equal(_online(fast, LAST), _online(feast, LAST))
    finally:
        for settings in [s for s in homes if s.redis_url.endswith(f":{port}/0")]:
            homes.remove(settings)  # its registry rows go now, while its Redis is up
            with contextlib.suppress(Exception):
                teardown(settings)
        server.kill()
        server.wait()


def test_a_banks_own_columns_are_written_as_feast_writes_them(
    run_cli, settings: Settings, tmp_path: Path, homes
):
    """The ``bank_extras`` view (a string, a 64-bit integer and a double of the bank's own) gets
    the same SQLite rows as with Feast's own materialize."""
    from tests.integration.features.test_extras import _ingest_build_apply, _with_extras

    folder = tmp_path / "csv"
    folder.mkdir()
    _ingest_build_apply(run_cli, _with_extras(folder), folder)
    feast = _home(settings, homes, "feast")
    summary = materialize(settings)
    materialize(feast, engine="feast")
    assert "bank_extras" in [v.name for v in summary.views]
    rows = _sqlite_rows(settings)
    assert rows["bank_extras"] and rows == _sqlite_rows(feast)
