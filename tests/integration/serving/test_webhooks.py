"""MLflow registry webhooks: with the service reading models through a real ``retain
tracking-server``, ``retain webhook`` registers the service's ``/models/refresh``, and a champion
moved on the server is answered by every worker within seconds, long before the next poll."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from retain.core.settings import Settings
from serving.process import RunningService, running_service
from serving.webhooks import SECRET_ENV, signature
from tests.integration.serving.load import Load
from training.registry import CHAMPION
from training.tracking import client

from ..conftest import RETAIN, tracking_server

pytestmark = pytest.mark.slow
POLL_S = 120
"""The service's poll interval: far longer than the test, so only a webhook can swap in time."""
SECRET = "a-test-secret-of-forty-characters-long!!"


@dataclass(frozen=True)
class Setup:
    home: Settings
    """The service's home (``mlflow_url`` set to the server)."""
    server: str
    service: RunningService


@contextmanager
def _tracking_server(home: Path, root: Path) -> Iterator[str]:
    """``retain tracking-server`` on the bank's own store, allowed to deliver webhooks to this
    host over plain HTTP (MLflow refuses private addresses and ``http://`` unless told)."""
    from cryptography.fernet import Fernet

    env = {
        **os.environ,
        "RETAIN_HOME": str(home),
        "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
        "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
        "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    }
    with tracking_server(env, root / "artifacts") as url:
        yield url


@pytest.fixture(scope="module")
def setup(own_bank, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    bank = own_bank(f"model_poll_s = {POLL_S}")
    root = tmp_path_factory.mktemp("webhooks")
    with _tracking_server(bank.home, root) as url, pytest.MonkeyPatch.context() as mp:
        # The service's own home: the bank's files, its models only through the server.
        (bank.home / "retain.toml").write_text(f'mlflow_url = "{url}"\n')
        mp.setenv(SECRET_ENV, SECRET)
        with running_service(bank.home) as service:
            mp.delenv(SECRET_ENV)
            yield Setup(Settings.load({"RETAIN_HOME": str(bank.home)}), url, service)


def test_a_champion_moved_on_the_server_is_answered_at_once(setup: Setup, ids) -> None:
    """``retain webhook`` registers the service (the server's test delivery answered 200); a
    promotion and a rollback on the server are each answered by the new version within
    seconds, by both workers (no answer from the old version after the first from the new
    one, beyond the requests already in flight), with a poll interval of two minutes."""
    registered = subprocess.run(
        [RETAIN, "webhook", "--url", f"{setup.service.url}/models/refresh"],
        env={**os.environ, "RETAIN_HOME": str(setup.home.home), SECRET_ENV: SECRET},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert registered.returncode == 0, registered.stderr + registered.stdout
    assert "test delivery answered 200" in registered.stdout

    c = client(setup.home)
    first = c.get_model_version_by_alias("retain-churn", CHAMPION)
    second = c.create_model_version(
        "retain-churn",
        first.source,
        run_id=first.run_id,
        model_id=first.source.removeprefix("models:/"),
    )
    customer = ids["current"][0]

    def score(http: httpx.Client, _: object) -> httpx.Response:
        return http.post("/churn_score", json={"customer_ids": [customer]})

    took = {}
    with Load(setup.service.url, {"score": score}, clients=4) as load:
        time.sleep(2)
        for version in (second.version, first.version):
            moved = time.monotonic()
            c.set_registered_model_alias("retain-churn", CHAMPION, version)
            took[version] = _until(load, str(version), moved)
        time.sleep(1)
    assert {a.status for a in load.answers} == {200}
    print(f"\nanswered by the new version after {took} s (poll interval {POLL_S} s)")
    assert max(took.values()) < 10  # the swap itself (loading the model) is most of it


def _until(load: Load, version: str, since: float, timeout_s: float = 30) -> float:
    """Seconds from ``since`` until every answer is from ``version`` (the last answer sent
    before the swap reached each worker, plus its own time)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        time.sleep(0.5)
        after = load.of("score", since=since)
        new = [a for a in after if a.body["scores"][0]["model_version"] == version]
        if len(new) >= 20:
            first_new = new[0].sent
            old = [a for a in after if a.body["scores"][0]["model_version"] != version]
            assert all(a.sent <= first_new + 1.0 for a in old), "a worker kept the old version"
            return max([a.sent + a.seconds for a in old], default=first_new) - since
    raise AssertionError(f"version {version} not answered within {timeout_s}s")


def test_a_delivery_without_the_secret_is_refused(setup: Setup) -> None:
    """Unsigned, signed with another secret, or signed ten minutes ago: 401 in the one error
    shape, and nothing is checked; a signed event of another model is answered, and changes
    nothing."""
    url = f"{setup.service.url}/models/refresh"
    body = b'{"entity": "model_version_alias", "action": "created", "data": {"name": "other"}}'
    now = str(int(time.time()))

    def post(secret: str, stamp: str = now) -> httpx.Response:
        headers = {
            "content-type": "application/json",
            "x-mlflow-delivery-id": "d1",
            "x-mlflow-timestamp": stamp,
            "x-mlflow-signature": signature(secret, "d1", stamp, body),
        }
        return httpx.post(url, content=body, headers=headers, timeout=30)

    assert httpx.post(url, content=body, timeout=30).status_code == 401
    wrong = post("another-secret-of-at-least-thirty-two-chars")
    assert wrong.status_code == 401
    assert wrong.json() == {
        "error": "the webhook signature does not match the shared secret",
        "field": None,
    }
    assert post(SECRET, str(int(time.time()) - 600)).status_code == 401
    fine = post(SECRET)
    assert fine.status_code == 200, fine.text
    assert fine.json()["refreshed"] is False
