"""``/recommend`` and ``/feedback`` in-process, on the serving tests' simulated bank: ranked actions
with reasons and a full trace, the decision log, contact limits and cooldowns across calls, and a
4xx with a message for every bad request."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from retain.core.tables import RETENTION_ACTIONS
from serving.actions import ActionCatalogue

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RETAIN = str(Path(sys.executable).with_name("retain"))
UNKNOWN = 42
T0 = (datetime.now(UTC) - timedelta(days=30)).replace(minute=0, second=0, microsecond=0)
"""Decision times must fall in the service's window around now (400 days back, 1 day ahead)."""


def _recommend(client, customer: int, channel: str = "mobile", k: int = 3, at=None, **context):
    body = {"customer_id": customer, "channel": channel, "k": k}
    if at is not None or context:
        body["context"] = {**context, **({"at": at.isoformat()} if at else {})}
    return client.post("/recommend", json=body)


def test_it_ranks_actions_with_reasons_trace_versions_and_an_id(client, ids):
    catalogue = ActionCatalogue.load()
    for customer in ids["current"][:20]:
        r = _recommend(client, customer, at=T0)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["decision_id"]) == 32
        # retain-uplift only with an uplift champion: without one, retention offers are left out
        assert {"retain-churn", "retain-propensity"} <= set(body["models"])
        assert body["catalogue_version"] == catalogue.version
        assert [t["action_id"] for t in body["trace"]] == list(catalogue.ids())
        actions = body["actions"]
        assert 1 <= len(actions) <= 3
        values = [a["expected_value"] for a in actions]
        assert values == sorted(values, reverse=True)
        for a in actions:
            if a["action_id"] == "no_action":
                assert len(actions) == 1
                continue
            assert a["expected_value"] > 0
            trace = next(t for t in body["trace"] if t["action_id"] == a["action_id"])
            assert trace["status"] == "selected"
            if a["kind"] in ("cross_sell", "retention"):
                assert a["reasons"], a
            if a["kind"] == "cross_sell":
                assert 0 < a["propensity"] < 1
        for t in body["trace"]:
            assert (t["rule"] is not None) == (t["status"] == "removed")
            if "retain-uplift" not in body["models"] and t["action_id"] in RETENTION_ACTIONS:
                assert t["status"] == "removed"


def test_a_decline_starts_the_cooldown_and_caps_hold(client, ids):
    """Phone allows 1 contact a week: a second call the same week gets no_action (week_cap); a
    declined action is not offered again within its cooldown."""
    for customer in ids["current"][20:80]:
        first = _recommend(client, customer, channel="phone", k=1, at=T0).json()
        action = first["actions"][0]["action_id"]
        if action != "no_action":
            break
    else:
        pytest.skip("no customer had an action worth offering by phone")
    again = _recommend(client, customer, channel="phone", k=1, at=T0 + timedelta(hours=1)).json()
    assert again["actions"][0]["action_id"] == "no_action"
    assert {t["rule"] for t in again["trace"] if t["status"] == "removed"} >= {"week_cap"}

    fb = {"decision_id": first["decision_id"], "action_id": action, "outcome": "declined"}
    r = client.post("/feedback", json={**fb, "at": (T0 + timedelta(hours=2)).isoformat()})
    assert r.status_code == 200, r.text
    assert r.json()["duplicate"] is False
    repeat = client.post("/feedback", json={**fb, "outcome": "accepted"})
    assert repeat.status_code == 200 and repeat.json() | {"at": None} == {
        **fb,
        "duplicate": True,
        "at": None,
    }

    # The next day on another channel: no channel cap applies, the cooldown does.
    channel = next(c for c in ActionCatalogue.load()[action].channels if c != "phone")
    later = _recommend(client, customer, channel=channel, k=3, at=T0 + timedelta(days=1)).json()
    assert action not in [a["action_id"] for a in later["actions"]]
    entry = next(t for t in later["trace"] if t["action_id"] == action)
    assert entry["rule"] == "cooldown", entry


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"customer_id": UNKNOWN, "channel": "mobile"}, 404, "no customer 42"),
        ({"customer_id": 1, "channel": "fax"}, 400, "channel"),
        ({"customer_id": 1, "channel": "mobile", "k": 0}, 400, "k"),
        ({"customer_id": 1, "channel": "mobile", "k": 11}, 400, "k"),
        ({"customer_id": "", "channel": "mobile"}, 400, "customer_id"),
        ({"channel": "mobile"}, 400, "customer_id"),
        ({"customer_id": 1, "channel": "mobile", "context": {"weight": -1}}, 400, "weight"),
        ({"customer_id": 1, "channel": "mobile", "context": {"at": "yesterday"}}, 400, "at"),
        ({"customer_id": 1, "channel": "mobile", "kk": 3}, 400, "kk"),  # unknown: refused
    ],
)
def test_a_bad_recommend_request_is_a_4xx_with_a_message(client, body, status, message):
    r = client.post("/recommend", json=body)
    assert r.status_code == status, r.text
    assert message in r.text


@pytest.mark.parametrize(
    ("context", "field", "message"),
    [
        ({"at": "0001-01-01T00:00:00Z"}, "context.at", "outside the accepted window"),
        ({"at": "9999-12-31T23:59:59-14:00"}, "context.at", "outside the accepted window"),
        ({"at": "2000-01-01T00:00:00Z"}, "context.at", "outside the accepted window"),
        ({"at": "2025-01-31T10:00:00"}, "context.at", "time zone"),
        ({"placement": "<script>x</script>"}, "context.placement", "pattern"),
        ({"placement": "home\nbanner"}, "context.placement", "pattern"),
        ({"placement": "x" * 65}, "context.placement", "pattern"),
    ],
)
def test_a_bad_decision_time_or_placement_is_a_400_naming_the_field(
    client, ids, decision_log, context, field, message
):
    """Nothing outside the window or free text reaches the append-only log (no 500, no row)."""
    customer = ids["current"][0]
    before = len(decision_log.records(customer))
    r = client.post(
        "/recommend", json={"customer_id": customer, "channel": "mobile", "context": context}
    )
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field and message in r.json()["error"]
    assert len(decision_log.records(customer)) == before


def test_a_decision_time_is_answered_and_logged_in_utc(client, ids, decision_log):
    local = T0.astimezone(timezone(timedelta(hours=-14))) + timedelta(days=2)
    r = _recommend(client, ids["current"][1], at=local, placement="app:home_banner.v2")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["at"].endswith("Z") and datetime.fromisoformat(body["at"]) == local
    assert body["placement"] == "app:home_banner.v2"
    logged = decision_log.decision(body["decision_id"])
    assert logged.at == local and logged.at.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        (b'{"customer_id": 1, "channel": "mobile"}', {}, 415),
        (b'{"customer_id": 1, "channel": "mobile"}', {"content-type": "text/plain"}, 415),
        (b" " * (1 << 20) + b"{}", {"content-type": "application/json"}, 413),
        (b"", {"content-type": "application/json"}, 400),
    ],
)
def test_a_body_that_is_not_json_too_large_or_empty_is_refused(client, content, headers, status):
    r = client.post("/recommend", content=content, headers=headers)
    assert r.status_code == status, r.text
    assert set(r.json()) == {"error", "field"}


def test_a_departed_customer_gets_a_422(client, ids):
    r = _recommend(client, ids["left"][0])
    assert r.status_code == 422 and "left the bank" in r.json()["error"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (
            {"decision_id": "nope", "action_id": "rm_call", "outcome": "accepted"},
            404,
            "no decision",
        ),
        ({"decision_id": "nope", "action_id": "rm_call", "outcome": "maybe"}, 400, "outcome"),
        ({"decision_id": "nope", "outcome": "accepted"}, 400, "action_id"),
    ],
)
def test_a_bad_feedback_is_a_4xx_with_a_message(client, body, status, message):
    r = client.post("/feedback", json=body)
    assert r.status_code == status, r.text
    assert message in r.text


def test_feedback_on_an_action_the_decision_did_not_make_is_a_404(client, ids):
    decision = _recommend(client, ids["current"][100], at=T0).json()
    r = client.post(
        "/feedback",
        json={"decision_id": decision["decision_id"], "action_id": "nope", "outcome": "ignored"},
    )
    assert r.status_code == 404 and "did not deliver" in r.json()["error"]


@pytest.fixture(scope="module")
def decision_log(home):
    from serving.decision_log import DecisionLog

    log = DecisionLog.open(home)
    yield log
    log.close()


def test_evaluate_nba_compares_the_policies(home):
    """``retain evaluate nba`` writes the table; retain's policy is worth more than acting on every
    eligible customer at random, by the simulator's ground truth. The observable ceiling learns
    from ``--ceiling-customers`` customers at each of six month ends."""
    done = subprocess.run(
        [RETAIN, "evaluate", "nba", "--customers", "600", "--ceiling-customers", "400"]
        + ["--no-mlflow"],
        env={**os.environ, "RETAIN_HOME": str(home.home)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((home.reports_dir / "nba_evaluation.json").read_text())
    policies = report["policies"]
    assert list(policies) == [
        "retain",
        "random_eligible",
        "most_popular",
        "propensity_only",
        "churn_only",
        "observable",
        "oracle",
    ]
    for row in policies.values():
        assert all(math.isfinite(v) for v in row.values())
    assert policies["retain"]["truth"] > policies["random_eligible"]["truth"]
    assert all(policies["oracle"]["truth"] >= row["truth"] for row in policies.values())
    assert policies["oracle"]["oracle_share"] == 1.0
    assert report["ceiling_rows"] == 6 * 400
    assert {a["part"] for a in report["campaign_arms"]} == {"experiment", "rules"}
    assert (home.reports_dir / "nba_evaluation.png").stat().st_size > 10_000
