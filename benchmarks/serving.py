"""Serving benchmark: the churn service against the in-process floor, side by side in one run.

- floor: in this process, the service's own online read + one predict + one TreeSHAP call
  (``Scorer.floor``); for reference also Feast's ``get_online_features`` + predict + TreeSHAP;
- in-process score: the floor plus reasons (``Scorer.score``), no HTTP;
- the audit row every answered ``/churn_score`` writes and commits before it answers
  (``DecisionLog.audit``, on a SQLite log of its own beside the bank's);
- the service (``bentoml serve`` in a subprocess): single-customer ``/churn_score`` with reasons at
  concurrency 1 and 8 with keep-alive clients (p50, p99, throughput; the client is the standard
  library's ``http.client``, so the figures are the service's and not a client library's: httpx
  alone adds about a millisecond per call on this machine), a batch of 1,000 customers
  in one call (time per customer), and its start-up time (launch to ``/readyz`` 200);
- next best action: ``/recommend`` for one customer (every catalogue action scored, reasons for
  the top 3, the decision logged) at concurrency 1 and 8, against ``Recommender.recommend`` in
  this process, four runs at concurrency 8, each with the share of the cores the load
  generator itself used. Each call decides at its own time, 40 days after the previous one, so
  contact limits never empty a decision.

Figures are printed, never asserted. ``run(home, customers)`` returns ``(label, figure)`` rows;
``python -m benchmarks.serving [--home PATH] [--customers N]`` prints them.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

RETAIN = str(Path(sys.executable).with_name("retain"))

SINGLE_CALLS = 400
"""Single-customer calls per measurement (after warm-up)."""
CONCURRENCY = 8
RECOMMEND_RUNS = 4
"""Runs of ``/recommend`` at concurrency 8, each with its p99 against the in-process p99."""
BATCH = 1000
AUDIT_CALLS = 2000


def _latencies(call: Callable[[int], object], ids: Sequence[int], n: int) -> np.ndarray:
    for i in range(20):  # warm-up
        call(ids[i % len(ids)])
    out = np.empty(n)
    for i in range(n):
        started = time.perf_counter()
        call(ids[i % len(ids)])
        out[i] = time.perf_counter() - started
    return out


def _audit_latencies(home: Path) -> np.ndarray:
    """Seconds to write and commit one ``/churn_score`` audit row, on a scratch SQLite log (WAL,
    as the bank's) so that the bank's audit log holds only real calls."""
    from serving.decision_log import AuditEntry, DecisionLog

    for old in home.glob("bench-audit.db*"):
        old.unlink()
    log = DecisionLog(f"sqlite:///{home / 'bench-audit.db'}")
    entry = AuditEntry("churn_score", None, [1], {"retain-churn": "1"}, [datetime.now(UTC)])
    try:
        return _latencies(lambda _: log.audit(entry), [0], AUDIT_CALLS)
    finally:
        log.close()


def _summary(label: str, seconds: np.ndarray, wall: float | None = None) -> tuple[str, str]:
    wall = float(seconds.sum()) if wall is None else wall
    return (
        label,
        f"p50 {np.percentile(seconds, 50) * 1e3:6.2f} ms  "
        f"p99 {np.percentile(seconds, 99) * 1e3:6.2f} ms  {len(seconds) / wall:7.0f}/s",
    )


class KeepAlive:
    """A minimal keep-alive JSON client over one connection (not thread-safe: one per thread)."""

    def __init__(self, url: str) -> None:
        host, _, port = url.removeprefix("http://").partition(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)

    def post(self, path: str, body: object) -> bytes:
        self.conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        reply = self.conn.getresponse()
        data = reply.read()
        if reply.status != 200:
            raise RuntimeError(f"POST {path}: {reply.status} {data[:300]!r}")
        return data

    def close(self) -> None:
        self.conn.close()


def _decision_times() -> Callable[[], str]:
    """A new decision time per call (thread-safe), 40 days apart: outside every contact window."""
    lock = threading.Lock()
    n = [0]

    def next_at() -> str:
        with lock:
            n[0] += 1
            return (datetime(2030, 1, 1, tzinfo=UTC) + timedelta(days=40 * n[0])).isoformat()

    return next_at


def _concurrent(
    url: str, path: str, body: Callable[[int], dict[str, object]], ids: Sequence[int]
) -> tuple[np.ndarray, float]:
    """Latencies of single-customer calls from CONCURRENCY keep-alive clients, and the wall time."""
    times: list[float] = []
    lock = threading.Lock()
    per_thread = SINGLE_CALLS // CONCURRENCY * 2

    def worker(offset: int) -> None:
        client = KeepAlive(url)
        mine = []
        for i in range(per_thread):
            cid = ids[(offset * per_thread + i) % len(ids)]
            s = time.perf_counter()
            client.post(path, body(cid))
            mine.append(time.perf_counter() - s)
        client.close()
        with lock:
            times.extend(mine)

    warm = [KeepAlive(url) for _ in range(CONCURRENCY)]  # every worker process warm first
    for i, client in enumerate(warm * 5):
        client.post(path, body(ids[i % len(ids)]))
    for client in warm:
        client.close()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(CONCURRENCY)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return np.array(times), time.perf_counter() - started


def _ensure_home(home: Path, customers: int) -> None:
    """Run ``retain demo`` into ``home`` unless it already has churn and propensity champions."""
    from retain.core.settings import Settings
    from training.registry import CHAMPION, version_by_alias

    settings = Settings(home=home.absolute())
    if settings.mlflow_dir.exists() and all(
        version_by_alias(settings, f"retain-{m}", CHAMPION)
        for m in ("churn", "propensity")  # uplift is promoted only when it passes its gate
    ):
        return
    print(f"preparing {home} with `retain demo --customers {customers}` ...", file=sys.stderr)
    subprocess.run(
        [RETAIN, "demo", "--customers", str(customers)],
        env={**os.environ, "RETAIN_HOME": str(settings.home)},
        check=True,
        stdout=subprocess.DEVNULL,
    )


def _current_ids(home: Path) -> list[int]:
    import pyarrow.parquet as pq

    t = pq.read_table(
        home / "data" / "sources" / "balances_flows", columns=["customer_id", "event_timestamp"]
    ).to_pandas()
    last = t.groupby("customer_id")["event_timestamp"].max()
    ids = last[last == last.max()].index.to_numpy()
    np.random.default_rng(0).shuffle(ids)
    return [int(i) for i in ids]


def run(settings_home: Path, customers: int = 2000) -> list[tuple[str, str]]:
    """Measure the service against the in-process floor on the bank at ``settings_home``.

    Args:
        settings_home: a retain home folder; prepared with ``retain demo --customers
            customers`` when it has no champion model yet.
        customers: size of the simulated bank if one must be made.

    Returns:
        ``(label, figure)`` rows, in the order to print.
    """

    from retain.core.settings import Settings
    from serving.config import ServingConfig
    from serving.nba import load_recommender
    from serving.process import running_service
    from serving.schemas import RecommendRequest
    from serving.scoring import load_scorer

    home = settings_home.absolute()
    _ensure_home(home, customers)
    ids = _current_ids(home)
    batch = ids[:BATCH]
    rows: list[tuple[str, str]] = [("customers with a current snapshot", f"{len(ids):,}")]

    # Decisions are replayed 40 days apart from 2030 on (_decision_times): accept them.
    config = home / "serving.toml"
    if not config.exists():
        config.write_text("decision_future_days = 3000000\n")
    # In-process floor, before the server runs so that they do not share the CPUs.
    settings = Settings(home=home)
    scorer = load_scorer(settings, ServingConfig.load(settings))
    floor = _latencies(lambda c: scorer.floor([c]), ids, SINGLE_CALLS)
    rows.append(_summary("floor, 1 customer (read + predict + SHAP)", floor))
    rows.append(
        _summary("in-process score with reasons", _latencies(lambda c: scorer.score([c]), ids, 200))
    )
    rows.append(_summary("audit row written and committed (SQLite)", _audit_latencies(home)))
    store = scorer.online.store
    fs = store.get_feature_service("churn_v1")
    from serving.scoring import encode_rows

    def feast_path(c: int) -> None:
        d = store.get_online_features(
            features=fs, entity_rows=[{"customer_id": c, "request_epoch_s": int(time.time())}]
        ).to_dict()
        scorer.predict(encode_rows(d, scorer.spec, [0]))

    rows.append(
        _summary(
            "reference: Feast get_online_features + predict + SHAP",
            _latencies(feast_path, ids, 100),
        )
    )
    started = time.perf_counter()
    for _ in range(3):
        scorer.floor(batch)
    floor_batch = (time.perf_counter() - started) / 3
    rows.append(
        ("floor, batch of 1,000", f"{floor_batch * 1e3:,.0f} ms = {floor_batch:.3f} ms/customer")
    )
    recommender = load_recommender(settings, scorer)
    next_at = _decision_times()

    def recommend_body(c: int) -> dict[str, object]:
        return {"customer_id": c, "channel": "mobile", "k": 3, "context": {"at": next_at()}}

    recommend_floor = _latencies(
        lambda c: recommender.recommend(RecommendRequest.model_validate(recommend_body(c))),
        ids,
        SINGLE_CALLS,
    )
    rows.append(_summary("in-process recommend, 1 customer (all actions, log)", recommend_floor))
    recommender.log.close()

    with running_service(home, log=home / "bench-serve.log") as service:
        url = service.url
        rows.append(("service start-up (launch to /readyz 200)", f"{service.ready_after_s:.1f} s"))

        client = KeepAlive(url)
        try:

            def one(c: int) -> None:
                client.post("/churn_score", {"customer_ids": [c]})

            single = _latencies(one, ids, SINGLE_CALLS)
            rows.append(_summary("service /churn_score, 1 customer, concurrency 1", single))
            p99_ratio = np.percentile(single, 99) / np.percentile(floor, 99)
            rows.append(("  p99 / floor p99", f"{p99_ratio:.1f}x"))

            times, wall = _concurrent(url, "/churn_score", lambda c: {"customer_ids": [c]}, ids)
            rows.append(_summary(f"service /churn_score, concurrency {CONCURRENCY}", times, wall))

            client.post("/churn_score", {"customer_ids": batch})
            started = time.perf_counter()
            for _ in range(3):
                client.post("/churn_score", {"customer_ids": batch})
            service_batch = (time.perf_counter() - started) / 3
            rows.append(
                (
                    "service /churn_score, batch of 1,000",
                    f"{service_batch * 1e3:,.0f} ms = {service_batch:.3f} ms/customer "
                    f"({service_batch / floor_batch:.2f}x floor)",
                )
            )

            def recommend(c: int) -> None:
                client.post("/recommend", recommend_body(c))

            single = _latencies(recommend, ids, SINGLE_CALLS)
            rows.append(_summary("service /recommend, 1 customer, concurrency 1", single))
            ratio = np.percentile(single, 99) / np.percentile(recommend_floor, 99)
            rows.append(("  p99 / in-process recommend p99", f"{ratio:.1f}x"))
            for run in range(1, RECOMMEND_RUNS + 1):
                cpu = os.times()
                times, wall = _concurrent(url, "/recommend", recommend_body, ids)
                used = os.times()
                client_cpu = (used.user - cpu.user + used.system - cpu.system) / wall
                rows.append(
                    _summary(
                        f"service /recommend, concurrency {CONCURRENCY}, run {run}", times, wall
                    )
                )
                ratio = np.percentile(times, 99) / np.percentile(recommend_floor, 99)
                rows.append(
                    (
                        "  p99 / in-process recommend p99",
                        f"{ratio:.1f}x (the load generator used {client_cpu:.2f} of "
                        f"{os.cpu_count()} cores)",
                    )
                )
        finally:
            client.close()
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--home", type=Path, default=Path(".retain-bench-serving"))
    parser.add_argument("--customers", type=int, default=2000)
    args = parser.parse_args(argv)
    rows = run(args.home, args.customers)
    width = max(len(label) for label, _ in rows)
    print("serving (single-customer calls include reasons)")
    for label, figure in rows:
        print(f"  {label:<{width}}  {figure}")


if __name__ == "__main__":
    main()
