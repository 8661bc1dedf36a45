"""A real ``retain serve``: every answered data request leaves one audit row (who, when,
endpoint, customer keys, model versions, feature times) in the decision log's store, and
``retain audit replay`` decides a logged ``/recommend`` again to the same answer."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa

from retain.core.settings import Settings
from serving.decision_log import DecisionLog, metadata
from serving.keys import KeyStore
from serving.process import running_service
from tests.integration.conftest import RETAIN

pytestmark = [pytest.mark.integration, pytest.mark.slow]
UNKNOWN = 999_999_999
NO_DECISION = {"decision_id": "nope", "action_id": "xsell_savings", "outcome": "accepted"}


def test_every_answer_is_audited_with_its_key_and_replays(
    own_bank: Callable[[str], Settings], ids
) -> None:
    own = own_bank("")
    log = DecisionLog.open(own)
    secret = KeyStore(log.engine, own.project).add(
        "crm", frozenset({"score", "customers", "recommend", "feedback"})
    )
    headers = {"Authorization": f"Bearer {secret}"}
    current = ids["current"]
    started = datetime.now(UTC)
    at = (started - timedelta(days=30)).isoformat()  # as the recommend tests: offers are made
    with (
        running_service(own.home) as service,
        httpx.Client(base_url=service.url, timeout=30) as http,
    ):
        r = http.post("/churn_score", json={"customer_ids": [current[0], UNKNOWN]})
        assert r.status_code == 401  # refused: nothing to audit
        r = http.post("/churn_score", json={"customer_ids": [current[0], UNKNOWN]}, headers=headers)
        assert r.status_code == 200
        assert http.get(f"/customers/{current[1]}", headers=headers).status_code == 200
        for refused in (  # no data in the answer: nothing audited, and the status kept
            http.get(f"/customers/{UNKNOWN}", headers=headers),
            http.post("/feedback", json={**NO_DECISION}, headers=headers),
        ):
            assert refused.status_code == 404, refused.text
        for customer in current[:80]:  # the first customer offered something
            r = http.post(
                "/recommend",
                json={"customer_id": customer, "channel": "phone", "context": {"at": at}},
                headers=headers,
            )
            assert r.status_code == 200, r.text
            decision = r.json()
            if decision["actions"][0]["action_id"] != "no_action":
                break
        action = decision["actions"][0]["action_id"]
        assert action != "no_action", "no customer was offered anything"
        r = http.post(
            "/feedback",
            json={
                "decision_id": decision["decision_id"],
                "action_id": action,
                "outcome": "declined",
            },
            headers=headers,
        )
        assert r.status_code == 200, r.text
    rows = [r for r in log.audit_rows() if r["at"] >= started]  # the demo's own calls before
    log.close()
    endpoints = [r["endpoint"] for r in rows]
    assert endpoints[:2] == ["churn_score", "customers"] and endpoints[-1] == "feedback"
    assert set(endpoints[2:-1]) == {"recommend"}
    assert {r["api_key"] for r in rows} == {"crm"}
    assert all(r["at"] <= datetime.now(UTC) for r in rows)
    score, view, recommend, feedback = rows[0], rows[1], rows[-2], rows[-1]
    assert score["customer_ids"] == [current[0], UNKNOWN]  # integer ids: the keys themselves
    assert score["feature_times"][0] is not None and score["feature_times"][1] is None
    assert score["models"] == {"retain-churn": decision["models"]["retain-churn"]}
    assert view["customer_ids"] == [current[1]]
    assert recommend["decision_id"] == decision["decision_id"]
    assert recommend["customer_ids"] == [decision["customer_id"]]
    assert recommend["models"] == decision["models"]
    assert recommend["inputs"]["scores"]["p_churn"] == pytest.approx(
        decision["churn_probability"], abs=1e-6
    )
    assert feedback["decision_id"] == decision["decision_id"]
    assert feedback["inputs"]["outcome"] == "declined"

    done = subprocess.run(
        [RETAIN, "audit", "replay", decision["decision_id"]],
        env={**os.environ, "RETAIN_HOME": str(own.home)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "replayed to the same actions and trace" in " ".join(done.stderr.split())


def test_a_score_is_not_answered_when_its_audit_row_cannot_be_written(
    own_bank: Callable[[str], Settings], ids, caplog: pytest.LogCaptureFixture
) -> None:
    """A failed audit insert answers 503 (one line at WARNING), never the scores; once the table
    is back the same call is answered and audited (the service class itself, no server)."""
    from serving.service import ChurnService

    own = own_bank("")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RETAIN_HOME", str(own.home))
        service = ChurnService.inner()  # type: ignore[attr-defined]  # the class BentoML wraps
    log = DecisionLog.open(own)
    customer = ids["current"][0]
    with log.engine.begin() as conn:
        conn.execute(sa.text("drop table retain_audit"))
    with caplog.at_level(logging.WARNING, logger="serving.service"):
        r = asyncio.run(service.churn_score(customer_ids=[customer]))
    assert r.status_code == 503
    assert json.loads(r.body)["error"] == "the decision log cannot be written; retry later"
    assert any("the decision log: OperationalError" in x.getMessage() for x in caplog.records)
    metadata.create_all(log.engine)
    answer = asyncio.run(service.churn_score(customer_ids=[customer]))
    assert answer.scores[0].customer_id == customer
    assert [r["customer_ids"] for r in log.audit_rows("churn_score")] == [[customer]]
    log.close()
