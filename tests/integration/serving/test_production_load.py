"""``retain serve`` on the production profile under load: features in a private Redis, the
decision log, audit log and keys in PostgreSQL. Sixteen clients per endpoint for a minute get
no error and the decision log grows by exactly the answered ``/recommend`` calls; Redis killed
and restarted under load gives only quick 503s in the one error shape, then answers again
within seconds, and no decision is lost.

The served bank is a copy of the session's bank (``own_bank``) in a project of its own: its
feature views registered in PostgreSQL and materialized into a ``redis-server`` started for
this module (append-only file, so a restart comes back with the same data), its champions
registered under the project's names in the copy's own MLflow store (``mlflow_url`` points the
service at it, as it would at a tracking server). Everything the project wrote to the shared
PostgreSQL is removed afterwards.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from features.materialize import materialize
from features.store import apply, teardown
from retain.core.settings import Settings
from serving.decision_log import DecisionLog, decisions
from serving.process import RunningService, free_port, running_service
from tests.integration.features.test_materialize import _redis_server
from tests.integration.serving.load import Answer, Load, summary, table
from training.config import MODEL_NAMES
from training.registry import CHAMPION
from training.tracking import client, namespaced, tracking

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]

LOAD_S = float(os.environ.get("RETAIN_TEST_LOAD_S", "60"))
"""How long the sixteen clients per endpoint send (the issue's 60 s; shorter for a quick run)."""
CLIENTS = 16
RECOVERY_S = 5.0
"""Every endpoint answers again within this long of Redis answering."""


@dataclass
class PrivateRedis:
    """A ``redis-server`` of this module's own, on its own port and folder."""

    folder: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> float:
        """Start it on the same folder (the append-only file brings the data back); returns
        ``time.monotonic()`` when it first answered a PING."""
        self.process = _redis_server(self.folder, self.port)
        return time.monotonic()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


@dataclass(frozen=True)
class Production:
    settings: Settings
    redis: PrivateRedis
    service: RunningService
    ids: list[int]
    """Customers with current features."""
    delivered: list[tuple[str, str]]
    """(decision id, action id) of actions decided before any load, for ``/feedback``."""

    def decision_ids(self) -> set[str]:
        """Every decision id the project's log holds."""
        log = DecisionLog.open(self.settings)
        try:
            query = sa.select(decisions.c.decision_id).where(
                decisions.c.project_id == self.settings.project
            )
            with log.engine.connect() as conn:
                return set(conn.execute(query).scalars())
        finally:
            log.close()


def _register_champions(target: Settings) -> None:
    """Each champion of the served bank (the default project's plain names, in the same store)
    registered again under ``target``'s project names, on the same model files."""
    from mlflow.exceptions import MlflowException

    c = client(target)
    for name in MODEL_NAMES.values():
        try:
            mv = c.get_model_version_by_alias(name, CHAMPION)
        except MlflowException:  # no champion of this model on the served bank
            continue
        own = namespaced(target, name)
        c.create_registered_model(own)
        with tracking(target):  # MLflow looks the logged model up through its global URI
            copy = c.create_model_version(
                own, mv.source, run_id=mv.run_id, model_id=mv.source.removeprefix("models:/")
            )
        c.set_registered_model_alias(own, CHAMPION, copy.version)


@pytest.fixture(scope="module")
def production(own_bank, ids, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Production]:
    from serving.batch import score_base

    bank = own_bank()
    score_base(bank, log_run=False)  # the at-risk list /at_risk serves
    folder = tmp_path_factory.mktemp("redis")
    redis = PrivateRedis(folder, free_port())
    redis.start()
    tag = uuid.uuid4().hex[:10]
    settings = replace(
        bank,
        profile="production",
        redis_url=redis.url,
        project=f"t_load_{tag}",
        mlflow_url=f"sqlite:///{bank.mlflow_dir / 'mlflow.db'}",
    )
    try:
        _register_champions(settings)
        apply(settings)
        materialize(settings)
        (settings.home / "retain.toml").write_text(
            f'profile = "production"\nredis_url = "{settings.redis_url}"\n'
            f'postgres_url = "{settings.postgres_url}"\nproject = "{settings.project}"\n'
            f'mlflow_url = "{settings.mlflow_url}"\n'
        )
        with running_service(settings.home) as service:
            delivered = _delivered(service.url, ids["current"][:60])
            yield Production(settings, redis, service, ids["current"], delivered)
    finally:
        if redis.process is None or redis.process.poll() is not None:
            redis.start()  # teardown removes the project's keys from it
        try:
            teardown(settings)
        finally:
            redis.kill()


def _delivered(url: str, customers: list[int]) -> list[tuple[str, str]]:
    """Decide for ``customers`` once (before the load: afterwards contact limits leave most of
    them nothing to be offered); the actions delivered."""
    made: list[tuple[str, str]] = []
    with httpx.Client(base_url=url, timeout=60) as http:
        for customer in customers:
            r = http.post("/recommend", json={"customer_id": customer, "channel": "mobile"})
            assert r.status_code == 200, r.text
            body = r.json()
            made += [(body["decision_id"], a["action_id"]) for a in body["actions"]]
    made = [(d, a) for d, a in made if a != "no_action"]
    assert made, "no decision with an action to give feedback on"
    return made


def _calls(p: Production) -> dict[str, object]:
    """One request per endpoint, each a customer of the bank drawn at random; feedback quotes
    decisions made before the load (a repeat is answered as a duplicate)."""
    customers, made = p.ids, p.delivered
    return {
        "churn_score": lambda h, rng: h.post(
            "/churn_score", json={"customer_ids": [rng.choice(customers)]}
        ),
        "recommend": lambda h, rng: h.post(
            "/recommend",
            json={"customer_id": rng.choice(customers), "channel": rng.choice(CHANNELS)},
        ),
        "feedback": lambda h, rng: h.post(
            "/feedback",
            json=dict(zip(("decision_id", "action_id"), rng.choice(made), strict=True))
            | {"outcome": "ignored"},
        ),
        "customers": lambda h, rng: h.get(f"/customers/{rng.choice(customers)}"),
        "at_risk": lambda h, rng: h.get(
            "/at_risk/", params={"limit": 10, "offset": rng.randrange(0, 200)}
        ),
    }


CHANNELS = ("branch", "mobile", "phone", "sms_email")


def _decided(answers: list[Answer]) -> list[str]:
    return [a.body["decision_id"] for a in answers if a.status == 200]


def test_sixteen_clients_per_endpoint_for_a_minute_get_no_error(production: Production) -> None:
    """Sixteen clients on each of the five endpoints, all at the same time (80 clients), for a
    minute: every request answered 200, and the decision log grew by exactly the answered
    ``/recommend`` calls (the same decision ids: none lost, none written twice).

    The endpoints run at the same time rather than one after another: the service then holds
    every kind of request at once (scoring, decisions written to PostgreSQL, feedback, the
    customer view, the at-risk list with reasons) on its two workers, which is the harder
    test, and the module adds one minute to the suite instead of five. Latencies are the
    client's (80 threads and the service share the machine's cores): they show the load held,
    not the service's speed (see the serving benchmark for that)."""
    p = production
    calls = _calls(p)
    before = p.decision_ids()
    started = time.monotonic()
    with Load(p.service.url, calls, clients=CLIENTS) as load:  # type: ignore[arg-type]
        time.sleep(LOAD_S)
    seconds = time.monotonic() - started
    stats = {name: summary(load.of(name), seconds) for name in calls}
    print(f"\n{CLIENTS} clients per endpoint for {seconds:.1f}s:\n{table(stats)}")

    failed = [a for a in load.answers if a.status != 200]
    assert not failed, f"{len(failed)} failed, e.g. {failed[:3]}"
    assert all(s["answered"] >= CLIENTS for s in stats.values()), stats
    answered = _decided(load.of("recommend"))
    grew = p.decision_ids() - before
    assert len(answered) == len(set(answered)) == len(grew)
    assert set(answered) == grew


def test_redis_killed_under_load_gives_quick_503s_and_recovers(production: Production) -> None:
    """Four clients per endpoint while Redis is killed (SIGKILL) and started again 3 s later:
    before, every answer is 200; while it is down, the endpoints that read features (scores,
    decisions, the customer view, the at-risk list's reasons) answer only 503 in the one error
    shape, without Redis's address, and ``/feedback`` keeps answering 200; no request goes
    unanswered; within 5 s of Redis answering again every endpoint answers 200; the decision
    log holds exactly the answered decisions."""
    p = production
    calls = _calls(p)
    before = p.decision_ids()
    with Load(p.service.url, calls, clients=4, seed=1) as load:  # type: ignore[arg-type]
        time.sleep(3)
        killed = time.monotonic()
        p.redis.kill()
        time.sleep(3)
        answering = p.redis.start()
        time.sleep(RECOVERY_S + 2)
    ended = max(a.sent for a in load.answers)

    unanswered = [a for a in load.answers if a.status == 0]
    assert not unanswered, unanswered[:3]
    assert {a.status for a in load.answers if a.sent + a.seconds < killed} == {200}
    # Answered while Redis was down (a request sent just before the kill may meet it down).
    down = [a for a in load.answers if killed <= a.sent + a.seconds and a.sent < answering]
    unavailable = [a for a in down if a.status == 503]
    assert {a.status for a in down} <= {200, 503}
    for endpoint in ("churn_score", "recommend", "customers", "at_risk"):
        assert any(a.endpoint == endpoint for a in unavailable), f"{endpoint}: no 503 while down"
    assert {a.status for a in down if a.endpoint == "feedback"} == {200}  # it reads no features
    for a in unavailable:
        assert set(a.body) == {"error", "field"} and a.body["field"] is None, a.body
        assert str(p.redis.port) not in a.body["error"] and "redis://" not in a.body["error"]

    recovered = {}
    for endpoint in calls:
        late = [a for a in load.of(endpoint, since=answering) if a.status != 200]
        recovered[endpoint] = max((a.sent + a.seconds - answering for a in late), default=0.0)
    assert max(recovered.values()) < RECOVERY_S, recovered
    assert {a.status for a in load.answers if a.sent >= answering + RECOVERY_S} == {200}
    assert ended > answering + RECOVERY_S

    quick = summary(unavailable, 1.0)
    print(
        f"\nRedis down {answering - killed:.1f}s: {len(unavailable)} answered 503 "
        f"(p50 {quick['p50_ms']:.1f} ms, p99 {quick['p99_ms']:.1f} ms), "
        f"{sum(a.status == 200 for a in down)} answered 200 (feedback, and requests that "
        "read Redis before it died); "
        f"answering again {recovered} s after Redis"
    )
    assert quick["p99_ms"] < 2000
    answered = _decided(load.of("recommend"))
    grew = p.decision_ids() - before
    assert len(answered) == len(set(answered)) == len(grew)
    assert set(answered) == grew
    log = (p.settings.home / "serve.log").read_text()
    assert "answered 503" in log
