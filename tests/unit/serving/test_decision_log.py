"""The decision log: append-only, feedback kept once, history read back for the contact policy."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from retain.core.settings import Settings
from serving.actions import ActionCatalogue
from serving.decide import Contact, Context, Scores, decide
from serving.decision_log import DecisionLog, UnknownDecisionError, new_decision_id

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


def _decision(catalogue: ActionCatalogue, log: DecisionLog, at: datetime, k: int = 1):
    scores = Scores(
        customer_value=500.0,
        p_churn=0.02,
        p_accept={a.id: 0.3 for a in catalogue.actions if a.kind == "cross_sell"},
        uplift={a.id: 0.0 for a in catalogue.actions if a.kind == "retention"},
    )
    history = log.history(1, at)
    decision = decide(catalogue, CUSTOMER, Context("mobile", at), history, scores, k=k)
    decision_id = new_decision_id()
    log.record(decision_id, 1, decision, json.dumps({"decision_id": decision_id}))
    return decision_id, decision


@pytest.fixture
def log(tmp_path: Path) -> DecisionLog:
    log = DecisionLog.open(Settings(home=tmp_path))
    yield log
    log.close()


def test_history_carries_the_feedback(log: DecisionLog) -> None:
    catalogue = ActionCatalogue.load()
    decision_id, decision = _decision(catalogue, log, NOW)
    action = decision.actions[0].action_id
    assert log.history(1, NOW) == [Contact(action, "mobile", NOW, None)]
    stored = log.record_feedback(decision_id, action, "declined", NOW + timedelta(hours=1))
    assert not stored.duplicate
    assert log.history(1, NOW)[0].outcome == "declined"
    assert log.history(2, NOW) == []  # another customer's history is empty


def test_a_decline_starts_the_cooldown(log: DecisionLog) -> None:
    catalogue = ActionCatalogue.load()
    first_id, first = _decision(catalogue, log, NOW)
    declined = first.actions[0].action_id
    log.record_feedback(first_id, declined, "declined", NOW)
    # After the week's repeat window the same action would rank first again, but it is cooling down.
    _, later = _decision(catalogue, log, NOW + timedelta(days=10))
    assert declined not in [a.action_id for a in later.actions]
    entry = next(t for t in later.trace if t.action_id == declined)
    assert entry.rule == "cooldown"


def test_duplicate_feedback_keeps_the_first_answer(log: DecisionLog) -> None:
    catalogue = ActionCatalogue.load()
    decision_id, decision = _decision(catalogue, log, NOW)
    action = decision.actions[0].action_id
    log.record_feedback(decision_id, action, "accepted", NOW)
    again = log.record_feedback(decision_id, action, "declined", NOW)
    assert again.duplicate and again.outcome == "accepted"
    with log.engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from retain_feedback")).scalar() == 1


def test_unknown_decision_or_action_is_refused(log: DecisionLog) -> None:
    catalogue = ActionCatalogue.load()
    decision_id, _ = _decision(catalogue, log, NOW)
    with pytest.raises(UnknownDecisionError, match="no decision"):
        log.record_feedback("nope", "xsell_savings", "accepted", NOW)
    with pytest.raises(UnknownDecisionError, match="did not deliver 'rm_call'"):
        log.record_feedback(decision_id, "rm_call", "accepted", NOW)


def test_future_decisions_are_not_history(log: DecisionLog) -> None:
    catalogue = ActionCatalogue.load()
    _decision(catalogue, log, NOW)
    assert log.history(1, NOW - timedelta(days=1)) == []
    assert len(log.records(1)) == 1


def test_production_log_lives_in_postgres_and_is_torn_down() -> None:
    settings = Settings(profile="production", project=f"dlog_{new_decision_id()[:8]}")
    log = DecisionLog.open(settings)
    try:
        catalogue = ActionCatalogue.load()
        decision_id, decision = _decision(catalogue, log, NOW)
        log.record_feedback(decision_id, decision.actions[0].action_id, "ignored", NOW)
        assert log.history(1, NOW)[0].outcome == "ignored"
    finally:
        with log.engine.begin() as conn:
            for table in ("retain_decisions", "retain_feedback"):
                conn.execute(
                    sa.text(f"delete from {table} where project_id = :p"), {"p": settings.project}
                )
        log.close()


def test_times_are_stored_in_utc_whatever_their_offset(either_log: DecisionLog) -> None:
    """A decision and a feedback given at UTC-14:00 are stored, read back and compared in UTC."""
    catalogue = ActionCatalogue.load()
    local = timezone(timedelta(hours=-14))
    decision_id, decision = _decision(catalogue, either_log, NOW.astimezone(local))
    action = decision.actions[0].action_id
    either_log.record_feedback(decision_id, action, "declined", NOW.astimezone(local))
    with either_log.engine.connect() as conn:
        stored = conn.execute(
            sa.text(
                "select d.at, f.at from retain_decisions d join retain_feedback f using "
                "(project_id, decision_id) where d.project_id = :p"
            ),
            {"p": either_log.project},
        ).one()
    for at in stored:
        if isinstance(at, str):  # SQLite keeps no offset: the text must be the UTC time
            assert at.startswith("2025-01-15 10:00:00")
        else:
            assert at == NOW
    assert either_log.decision(decision_id).at == NOW
    assert either_log.decision(decision_id).at.utcoffset() == timedelta(0)
    # A `now` one minute later given in another offset still sees the contact.
    later = (NOW + timedelta(minutes=1)).astimezone(timezone(timedelta(hours=5)))
    assert [c.at for c in either_log.history(1, later)] == [NOW]
    assert either_log.history(1, (NOW - timedelta(minutes=1)).astimezone(local)) == []


def test_a_time_near_the_calendars_start_does_not_overflow(log: DecisionLog) -> None:
    assert log.history(1, datetime(1, 1, 2, tzinfo=UTC)) == []
