"""The decision log's batch path: the histories of many customers in one read, equal to each one's
own history, and many decisions appended in one transaction (all or none)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from serving.actions import ActionCatalogue
from serving.decide import Context, Scores, decide
from serving.decision_log import AuditEntry, DecisionLog, new_decision_id

NOW = datetime(2025, 1, 15, 10, tzinfo=UTC)
CUSTOMER = {
    "age": 35,
    "income_band": 3,
    "risk_tolerance": 3,
    "marketing_consent": True,
    "has_current_account": True,
    "has_savings": False,
    "complaints_open": 0,
}


def _item(catalogue: ActionCatalogue, customer: int, at: datetime, channel: str = "mobile"):
    scores = Scores(
        customer_value=500.0,
        p_churn=0.02,
        p_accept={a.id: 0.3 for a in catalogue.actions if a.kind == "cross_sell"},
        uplift={a.id: 0.0 for a in catalogue.actions if a.kind == "retention"},
    )
    decision = decide(catalogue, CUSTOMER, Context(channel, at), [], scores, k=2)
    decision_id = new_decision_id()
    entry = AuditEntry("recommend_batch", "crm", [customer], decision_id=decision_id, inputs={})
    return decision_id, customer, decision, json.dumps({"decision_id": decision_id}), entry


def test_histories_equal_each_customers_own_history(either_log: DecisionLog) -> None:
    """It reads every customer's contacts, oldest first, with their feedback, as ``history``
    does one by one; a customer without contacts has an empty history."""
    catalogue = ActionCatalogue.load()
    items = [
        _item(catalogue, customer, NOW - timedelta(days=days), channel)
        for customer, days, channel in [
            (1, 3, "mobile"),
            (2, 10, "phone"),
            (1, 40, "sms_email"),
            (3, 500, "mobile"),  # older than the history window
            (1, -1, "mobile"),  # after the decision time
        ]
    ]
    either_log.record_many(items)
    first = items[0][2].actions[0].action_id
    either_log.record_feedback(items[0][0], first, "declined", NOW - timedelta(days=2))

    got = either_log.histories([1, 2, 3, 4], NOW)
    assert set(got) == {1, 2, 3, 4}
    for customer in (1, 2, 3, 4):
        assert got[customer] == either_log.history(customer, NOW)
    assert [c.at for c in got[1]] == sorted(c.at for c in got[1])
    assert len({c.at for c in got[1]}) == 2 and got[3] == [] and got[4] == []
    assert any(c.outcome == "declined" for c in got[1])
    assert either_log.histories([], NOW) == {}


def test_record_many_appends_decisions_and_audit_rows_together(either_log: DecisionLog) -> None:
    catalogue = ActionCatalogue.load()
    items = [_item(catalogue, c, NOW) for c in (11, 12, 13)]
    asked = AuditEntry("recommend_batch", "crm", [14, None])
    either_log.record_many(items, [asked])
    assert {r["decision_id"] for r in either_log.records()} == {i[0] for i in items}
    rows = either_log.audit_rows("recommend_batch")
    assert len(rows) == 4
    assert [14, None] in [r["customer_ids"] for r in rows]
    assert {r["decision_id"] for r in rows} == {*(i[0] for i in items), None}


def test_record_many_writes_nothing_when_one_row_fails(either_log: DecisionLog) -> None:
    """One transaction: a decision id already in the log fails the whole chunk."""
    catalogue = ActionCatalogue.load()
    done = _item(catalogue, 21, NOW)
    either_log.record_many([done])
    chunk = [_item(catalogue, 22, NOW), done]  # the second repeats a logged decision id
    with pytest.raises(sa.exc.IntegrityError):
        either_log.record_many(chunk)
    assert [r["decision_id"] for r in either_log.records()] == [done[0]]
    assert len(either_log.audit_rows("recommend_batch")) == 1
