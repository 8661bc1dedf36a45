"""Fixtures of the integration tests: a small bank's raw tables written by hand.

``write_raw_tables`` follows ``retain.core.tables`` exactly (folders of ``part-NNNNN.parquet``, each
part holding all months of a disjoint set of customers, monthly rows sorted by customer and month).
It is a stand-in for the simulator, good for tests and benchmarks; its numbers need only be
plausible.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retain.core.settings import Settings
from retain.core.tables import CAMPAIGNS, CHANNELS, CHURN, CUSTOMERS, MONTHLY, PRODUCTS

RETAIN = str(Path(sys.executable).with_name("retain"))

FIRST_MONTH = pd.Timestamp("2024-01-31 23:59:59", tz="UTC")


def month_ends(first: pd.Timestamp, n: int) -> pd.DatetimeIndex:
    """n month ends stamped at 23:59:59 UTC, from ``first``'s month on."""
    ends = pd.date_range(first.normalize(), periods=n, freq="ME", tz="UTC")
    return ends + pd.Timedelta(hours=23, minutes=59, seconds=59)


def _write(table: pd.DataFrame, schema: pa.Schema, folder: Path, part: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    t = pa.Table.from_pandas(table[schema.names], schema=schema, preserve_index=False)
    pq.write_table(t, folder / f"part-{part:05d}.parquet")


def write_raw_tables(
    raw_dir: Path, customers: int, months: int = 12, seed: int = 1, parts: int = 2
) -> None:
    """Write a random bank of ``customers`` customers over ``months`` months under ``raw_dir``."""
    rng = np.random.default_rng(seed)
    ends = month_ends(FIRST_MONTH, months)
    ids = np.arange(1, customers + 1, dtype="int64") * 7 + 1000
    for part, part_ids in enumerate(np.array_split(ids, parts)):
        n = len(part_ids)
        # First month with the bank inside the window (most joined before it) and last month.
        first = np.where(rng.random(n) < 0.8, 0, rng.integers(0, months, n))
        churns = rng.random(n) < 0.3
        last = np.where(churns, rng.integers(first, months), months - 1)
        churns &= last < months - 1
        join = ends[first] - pd.to_timedelta(rng.integers(1, 3000, n) * (first == 0), unit="D")
        join = join - pd.to_timedelta(rng.integers(0, 20, n), unit="D")
        cust = pd.DataFrame(
            {
                "customer_id": part_ids,
                "gender": rng.choice(["f", "m"], n),
                "birth_year": rng.integers(1945, 2005, n),
                "region": rng.choice(["north", "south", "east", "west"], n),
                "branch_id": rng.integers(1, 50, n),
                "city_tier": rng.integers(1, 4, n),
                "income_band": rng.integers(1, 6, n),
                "occupation": rng.choice(["employee", "self_employed", "retired", "student"], n),
                "join_date": join,
                "risk_tolerance": rng.integers(1, 6, n),
                "marketing_consent": rng.random(n) < 0.7,
                "preferred_channel": rng.choice(list(CHANNELS), n),
                "digital_adoption": rng.random(n),
            }
        )
        _write(cust, CUSTOMERS, raw_dir / "customers", part)
        counts = last - first + 1
        row_cust = np.repeat(np.arange(n), counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        row_month = first[row_cust] + offsets
        r = len(row_cust)
        salary = rng.random(r) < 0.7
        login = rng.random(r) < 0.6
        monthly = pd.DataFrame(
            {
                "customer_id": part_ids[row_cust],
                "month_end": ends[row_month],
                "age": 2024 - cust["birth_year"].to_numpy()[row_cust],
                "bal_current": rng.gamma(2.0, 2000.0, r),
                "bal_savings": rng.gamma(1.5, 8000.0, r),
                "bal_time_deposit": rng.gamma(1.0, 5000.0, r) * (rng.random(r) < 0.3),
                "bal_wealth": rng.gamma(1.0, 20000.0, r) * (rng.random(r) < 0.2),
                "bal_loans": rng.gamma(1.0, 50000.0, r) * (rng.random(r) < 0.3),
                "inflow": rng.gamma(2.0, 1500.0, r),
                "outflow": rng.gamma(2.0, 1400.0, r),
                "salary_credited": salary,
                "salary_amount": np.where(salary, rng.gamma(4.0, 800.0, r), 0.0),
                "card_spend": rng.gamma(1.5, 400.0, r),
                "tx_branch": rng.poisson(1.0, r),
                "tx_mobile": rng.poisson(8.0, r),
                "tx_atm": rng.poisson(2.0, r),
                "tx_phone": rng.poisson(0.3, r),
                "app_logins": rng.poisson(6.0, r) * login,
                "last_login_at": pd.Series(
                    ends[row_month] - pd.to_timedelta(rng.integers(0, 40 * 86400, r), unit="s")
                ).where(login),
                "complaints_new": rng.poisson(0.1, r),
                "complaints_open": rng.poisson(0.05, r),
                "tickets_new": rng.poisson(0.3, r),
                "tickets_open": rng.poisson(0.1, r),
                "satisfaction": pd.Series(rng.uniform(0, 10, r)).where(rng.random(r) < 0.2),
                "fees_charged": rng.gamma(2.0, 5.0, r),
                "bank_rate": np.full(r, 1.5) + 0.05 * row_month,
                "market_rate": np.full(r, 2.5) + 0.1 * row_month,
                "life_event": pd.Series(rng.choice(["new_job", "marriage", "child"], r)).where(
                    rng.random(r) < 0.02
                ),
                **{f"has_{p}": rng.random(r) < 0.4 for p in PRODUCTS},
            }
        )
        _write(monthly, MONTHLY, raw_dir / "monthly", part)
        churned = np.flatnonzero(churns)
        churn = pd.DataFrame(
            {
                "customer_id": part_ids[churned],
                "churned_at": ends[last[churned]]
                + pd.to_timedelta(rng.integers(1, 28 * 86400, len(churned)), unit="s"),
                "kind": rng.choice(["closed", "dormant"], len(churned)),
            }
        )
        _write(churn, CHURN, raw_dir / "churn", part)
        contacted = rng.choice(r, size=r // 5, replace=False)
        camp = pd.DataFrame(
            {
                "contact_id": np.arange(len(contacted)) + part * 10_000_000,
                "customer_id": monthly["customer_id"].to_numpy()[contacted],
                "sent_at": ends[row_month[contacted]]
                - pd.to_timedelta(rng.integers(86400, 25 * 86400, len(contacted)), unit="s"),
                "action_id": rng.choice(
                    ["fee_waiver", "rate_boost", "xsell_savings"], len(contacted)
                ),
                "channel": rng.choice(list(CHANNELS), len(contacted)),
                "randomized": rng.random(len(contacted)) < 0.5,
                "holdout": np.zeros(len(contacted), dtype=bool),
                "assignment_prob": rng.uniform(0.1, 0.9, len(contacted)),
                "outcome": rng.choice(["accepted", "declined", "ignored"], len(contacted)),
            }
        )
        camp["kind"] = np.where(
            camp["action_id"].str.startswith("xsell_"), "cross_sell", "retention"
        )
        _write(camp.sort_values("customer_id"), CAMPAIGNS, raw_dir / "campaigns", part)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under ``tests/integration`` runs the real stack (Feast, MLflow, a server, Redis
    or PostgreSQL): it is marked ``integration``; ``-m "not integration"`` runs the rest."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def raw_settings(settings: Settings) -> Settings:
    """Settings whose home holds the raw tables of 300 customers over 12 months."""
    write_raw_tables(settings.raw_dir, customers=300, months=12, seed=3, parts=3)
    return settings


@contextmanager
def tracking_server(env: Mapping[str, str], artifacts: Path) -> Iterator[str]:
    """``retain tracking-server`` (one worker) with ``env``, its artifacts in ``artifacts``; yields
    its URL once ``/health`` answers, and stops it after."""
    from serving.process import free_port

    port = free_port()
    args = [RETAIN, "tracking-server", "--port", str(port), "--artifacts", str(artifacts)]
    env = {k: v for k, v in env.items() if k != "RETAIN_MLFLOW_URL"}
    proc = subprocess.Popen(
        [*args, "--workers", "1"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                problem = proc.stderr.read().decode()[-2000:] if proc.stderr else ""
                raise AssertionError(f"tracking server did not start: {problem}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def copy_home(source: Path, dest: Path, *ignore: str) -> None:
    """Copy a home folder whose decision log may be open in this process (the session's
    in-process service keeps it open).

    The log goes through SQLite's backup API, never as a plain file: a plain read opens and closes
    a descriptor of it in this process, which drops every POSIX lock SQLite holds on it here.
    Another process closing the log then finds no other user and deletes its write-ahead log
    under the service, whose next connection fails with "disk I/O error".
    """
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns(*ignore, "log.db*"))
    log = source / "decisions" / "log.db"
    if log.exists():
        with sqlite3.connect(log) as src, sqlite3.connect(dest / "decisions" / "log.db") as dst:
            src.backup(dst)
        src.close()
        dst.close()


# --- a served bank, shared by the service tests (test_serving, test_recommend) -----------------


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A simulated bank of 1,500 customers: features materialized, a champion of every model."""
    settings = Settings(home=tmp_path_factory.mktemp("served") / "home")
    done = subprocess.run(
        [RETAIN, "demo", "--customers", "1500"],
        env={**os.environ, "RETAIN_HOME": str(settings.home)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return settings


@pytest.fixture(scope="session")
def materialized_at(home: Settings) -> pd.Timestamp:
    from features.store import latest_month_end

    return pd.Timestamp(latest_month_end(home))


@pytest.fixture(scope="session")
def ids(home: Settings, materialized_at: pd.Timestamp) -> dict[str, list[int]]:
    """Customers with a snapshot at the materialized time, and customers who left before it."""
    monthly = pq.read_table(
        home.sources_dir / "balances_flows", columns=["customer_id", "event_timestamp"]
    ).to_pandas()
    last = monthly.groupby("customer_id")["event_timestamp"].max()
    end = materialized_at
    current = sorted(last[last == end].index.tolist())
    left = sorted(last[last < end - pd.Timedelta(days=60)].index.tolist())
    assert current and left
    return {"current": current, "left": left}


@pytest.fixture(scope="session")
def client(home: Settings) -> Iterator[object]:
    from starlette.testclient import TestClient

    from serving.service import ChurnService

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RETAIN_HOME", str(home.home))
        with TestClient(ChurnService.to_asgi(), raise_server_exceptions=False) as c:
            yield c
