"""Materialization: retain's writer against Feast's own ``materialize``, into SQLite and Redis.

On one simulated bank, per store: a full load into an empty store, the same run again with nothing
new (incremental: nothing read), and a new month on top of the month before (incremental: only the
new month's rows); then Feast's own ``materialize`` of the same views and windows into another empty
store, on the same bank or, with ``reference_customers``, on a smaller one (its rate per customer
hardly depends on the size; at about 550 customers/s a 100k bank takes minutes). Rates are
customers of the bank per second of the run, as ``retain features materialize`` reports them; CPU
per customer is this process's and (Redis) the server's, which hold on a shared machine where wall
time waits for the cores. The last rows put both stores side by side, retain's against Feast's own,
with the machine's load. The Redis projects are removed afterwards.

Into Redis, the server's own work is larger than retain's: Feast keeps a customer's features in one
hash of about a hundred fields, which Redis stores as a listpack (while it has at most
``hash-max-listpack-entries`` fields, 128 by default) and searches end to end for every new field.
The encoding rows load the bank into two private ``redis-server`` processes that differ only in
that setting (the default, and 0: a hash table from the first field) and show the server's CPU and
memory per customer side by side: what a bank trades if it gives retain a Redis of its own.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.measure import retain
from features.materialize import MaterializeSummary
from retain.core.settings import Settings


def _bank(home: Path, customers: int) -> None:
    env = {"RETAIN_HOME": str(home)}
    retain("simulate", "simulate", "--customers", str(customers), env=env)
    retain("build", "features", "build", env=env)


def _settings(home: Path, data: Path, redis: bool) -> Settings:
    settings = (
        Settings(home=home, profile="production", project=f"bench_{uuid.uuid4().hex[:8]}")
        if redis
        else Settings(home=home)
    )
    settings.home.mkdir(parents=True)
    settings.data_dir.symlink_to(data)
    return settings


def _cpu(settings: Settings) -> tuple[float, float]:
    """CPU seconds used so far by this process and by the Redis server (0 for SQLite)."""
    server = 0.0
    if settings.profile == "production":
        import redis

        info: dict[str, Any] = redis.Redis.from_url(settings.redis_url).info("cpu")  # type: ignore[assignment]
        server = float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
    return time.process_time(), server


def _since(before: tuple[float, float], after: tuple[float, float]) -> tuple[float, float]:
    return after[0] - before[0], after[1] - before[1]


def _per_cpu(summary: MaterializeSummary, cpu: tuple[float, float]) -> str:
    """CPU seconds of the run (this process, then Redis) and customers per CPU second: a figure
    that holds on a shared machine, where wall time waits for the cores."""
    process, server = cpu
    text = f"CPU {process:,.1f} s"
    if server:
        text += f" + Redis {server:,.1f} s"
    return f"{text} ({summary.customers / (process + server):,.0f} customers per CPU second)"


@dataclass(frozen=True)
class _Load:
    """One full load: customers, seconds, CPU seconds here and in Redis."""

    customers: int
    seconds: float
    cpu: tuple[float, float]

    @property
    def rate(self) -> float:
        return self.customers / self.seconds

    def per_customer(self) -> str:
        """CPU microseconds per customer, this process (+ Redis)."""
        here, server = (1e6 * c / self.customers for c in self.cpu)
        return f"{here:,.0f} us" + (f" + Redis {server:,.0f} us" if server else "")


def _side_by_side(loads: dict[str, tuple[_Load, _Load]]) -> list[tuple[str, str]]:
    """Both stores' full loads, retain's and Feast's own, with the ratios."""
    stores = list(loads)
    head = " | ".join(stores)

    def each(text: Any) -> str:
        return " | ".join(text(*loads[s]) for s in stores)

    return [
        (
            f"full load, customers/s ({head})",
            "retain "
            + each(lambda fast, _: f"{fast.rate:,.0f}")
            + "; Feast's own "
            + each(lambda _, feast: f"{feast.rate:,.0f}")
            + "; retain / Feast's own "
            + each(lambda fast, feast: f"{fast.rate / feast.rate:,.1f}x"),
        ),
        (
            f"full load, CPU per customer ({head})",
            "retain "
            + each(lambda fast, _: fast.per_customer())
            + "; Feast's own "
            + each(lambda _, feast: feast.per_customer())
            + "; Feast's own / retain "
            + each(lambda fast, feast: f"{_cpu_ratio(fast, feast):,.1f}x"),
        ),
        (
            "machine load (1, 5, 15 min averages) at the end",
            ", ".join(f"{x:.1f}" for x in os.getloadavg()),
        ),
    ]


@contextmanager
def _private_redis(*options: str) -> Iterator[str]:
    """A ``redis-server`` of this run's own, nothing persisted; yields its URL."""
    import redis

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", *options]
    server = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        for _ in range(200):
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        else:
            raise RuntimeError(f"redis-server on port {port} did not answer within 10 s")
        yield url
    finally:
        server.terminate()
        server.wait()


def _used_memory(url: str) -> int:
    import redis

    info: dict[str, Any] = redis.Redis.from_url(url).info("memory")  # type: ignore[assignment]
    return int(info["used_memory"])


def _encodings(root: Path, bank: Path) -> list[tuple[str, str]]:
    """A full load into a private Redis with listpack hashes (the default) and one with hash
    tables; the server's CPU and memory per customer."""
    if shutil.which("redis-server") is None:
        return [("Redis encodings", "not measured: no redis-server on the PATH")]
    from features.materialize import materialize
    from features.store import apply, teardown

    loads = {}
    for name, entries in (("listpack (default)", "128"), ("hash table", "0")):
        with _private_redis("--hash-max-listpack-entries", entries) as url:
            s = replace(_settings(root / f"redis-{entries}", bank / "data", True), redis_url=url)
            apply(s)
            try:
                memory = _used_memory(url)
                cpu = _cpu(s)
                full = materialize(s)
                used = _since(cpu, _cpu(s))
                grown = _used_memory(url) - memory
            finally:
                teardown(s)  # the registry's rows in PostgreSQL
            loads[name] = (_Load(full.customers, full.seconds, used), grown / full.customers)
    rows = [
        (
            f"Redis, {name} hashes: full load of {load.customers:,} customers",
            f"{load.seconds:,.1f} s, {load.rate:,.0f} customers/s; CPU {load.per_customer()} "
            f"per customer; {memory:,.0f} bytes per customer",
        )
        for name, (load, memory) in loads.items()
    ]
    (small, small_memory), (table, table_memory) = loads.values()
    server = (table.cpu[1] / table.customers) / (small.cpu[1] / small.customers)
    rows.append(
        (
            "Redis, hash tables against listpacks",
            f"{table.rate / small.rate:,.2f}x the customers/s, {server:,.2f}x the server's "
            f"CPU per customer, {table_memory / small_memory:,.2f}x the memory",
        )
    )
    return rows


def _cpu_ratio(fast: _Load, feast: _Load) -> float:
    return (sum(feast.cpu) / feast.customers) / (sum(fast.cpu) / fast.customers)


def _previous_month_end(end: datetime) -> datetime:
    month = pd.Timestamp(end).tz_convert(None).to_period("M") - 1
    return month.end_time.floor("s").tz_localize("UTC").to_pydatetime()


def run(root: Path, customers: int, reference_customers: int = 0) -> list[tuple[str, str]]:
    """Measure on a bank of ``customers`` (Feast's own on ``reference_customers``, 0: the same).

    Returns:
        Figures (label, text).
    """
    from features.materialize import materialize
    from features.store import apply, teardown

    bank = root / "bank"
    _bank(bank, customers)
    reference = bank
    if reference_customers and reference_customers != customers:
        reference = root / "reference"
        _bank(reference, reference_customers)
    rows: list[tuple[str, str]] = [
        (
            "machine load (1, 5, 15 min averages) at the start",
            ", ".join(f"{x:.1f}" for x in os.getloadavg()),
        )
    ]
    loads: dict[str, tuple[_Load, _Load]] = {}
    created: list[Settings] = []
    try:
        for store in ("SQLite", "Redis"):
            redis = store == "Redis"

            def fresh(name: str, data: Path, store: str = store, redis: bool = redis) -> Settings:
                s = _settings(root / f"{store}-{name}", data / "data", redis)
                created.append(s)
                apply(s)
                return s

            fast = fresh("fast", bank)
            cpu = _cpu(fast)
            full = materialize(fast)
            full_cpu = _since(cpu, _cpu(fast))
            again = materialize(fast)
            monthly = fresh("month", bank)
            before = _previous_month_end(full.end)
            materialize(monthly, end=before)
            started = time.perf_counter()
            month = materialize(monthly)
            month_s = time.perf_counter() - started
            reference_home = fresh("feast", reference)
            cpu = _cpu(reference_home)
            feast = materialize(reference_home, engine="feast")
            feast_cpu = _since(cpu, _cpu(reference_home))
            fast_rate = full.customers / full.seconds
            feast_rate = feast.customers / feast.seconds
            written = max(v.rows for v in month.views)
            loads[store] = (
                _Load(full.customers, full.seconds, full_cpu),
                _Load(feast.customers, feast.seconds, feast_cpu),
            )
            rows += [
                (
                    f"{store}: retain, full load of {full.customers:,} customers",
                    f"{full.seconds:,.1f} s, {fast_rate:,.0f} customers/s; "
                    + _per_cpu(full, full_cpu),
                ),
                (
                    f"{store}: Feast's own materialize, {feast.customers:,} customers",
                    f"{feast.seconds:,.1f} s, {feast_rate:,.0f} customers/s; "
                    + _per_cpu(feast, feast_cpu),
                ),
                (f"{store}: retain / Feast's own", f"{fast_rate / feast_rate:,.1f}x"),
                (f"{store}: again, nothing new", f"{again.seconds:,.2f} s"),
                (
                    f"{store}: a new month ({written:,} customers written)",
                    f"{month_s:,.1f} s, {month.customers / month_s:,.0f} customers/s",
                ),
            ]
        rows += _side_by_side(loads)
        rows += _encodings(root, bank)
    finally:
        for s in created:
            if s.profile == "production":
                teardown(s)
    return rows
