"""The audit log: one row per answered request, kept in the decision log's store, and a decision
replayed from its logged inputs to the same answer."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from retain.core.errors import ConfigError
from serving.actions import ActionCatalogue
from serving.audit import decide_arguments, decision_inputs
from serving.decide import Context, Levers, Scores, decide
from serving.decision_log import AuditEntry, DecisionLog, UnknownDecisionError, new_decision_id
from serving.nba import trace_out
from serving.replay import replay

NOW = datetime(2025, 1, 15, 10, tzinfo=UTC)
CUSTOMER = {
    "age": 35,
    "income_band": 3,
    "risk_tolerance": 3,
    "marketing_consent": True,
    "has_current_account": True,
    "has_savings": False,
    "complaints_open": 0,
    "last_login": datetime(2025, 1, 10, tzinfo=UTC),
}


def _decide(
    catalogue: ActionCatalogue, log: DecisionLog, at: datetime, customer=CUSTOMER, tamper=None
) -> str:
    """Decide as the service does and log the decision with its audit row; ``tamper`` changes
    the logged inputs (a log that does not hold what was decided on)."""
    scores = Scores(
        customer_value=512.25,
        p_churn=0.0731234567891,
        p_accept={a.id: 0.1 + i / 37 for i, a in enumerate(catalogue.actions)},
        uplift={a.id: 0.3 for a in catalogue.actions if a.kind == "retention"},
    )
    context = Context("mobile", at, "home_banner", 0.6)
    history = log.history(7, at)
    levers = Levers({"retention": 1.5})
    decision = decide(catalogue, customer, context, history, scores, levers, k=2)
    decision_id = new_decision_id()
    response = {
        "decision_id": decision_id,
        "actions": [dataclasses.asdict(a) for a in decision.actions],
        "trace": [t.model_dump(mode="json") for t in trace_out(decision)],
    }
    inputs = decision_inputs(customer, context, history, scores, levers, 2, decision)
    if tamper:
        tamper(inputs)
    entry = AuditEntry(
        "recommend",
        "crm",
        [7],
        {"retain-churn": "3"},
        [at - timedelta(days=15)],
        decision_id,
        inputs,
    )
    log.record(decision_id, 7, decision, json.dumps(response), entry)
    return decision_id


def test_a_decision_replays_to_the_same_answer(either_log: DecisionLog) -> None:
    """With a contact history (a declined offer) in the inputs, the replay matches action for
    action and trace entry for trace entry."""
    catalogue = ActionCatalogue.load()
    first = _decide(catalogue, either_log, NOW)
    delivered = either_log.decision(first).actions
    assert delivered
    either_log.record_feedback(first, delivered[0], "declined", NOW + timedelta(hours=1))
    second = _decide(catalogue, either_log, NOW + timedelta(days=1))
    row = either_log.audit_rows("recommend", second)[0]
    assert row["inputs"]["history"][0]["outcome"] == "declined"
    for decision_id in (first, second):
        result = replay(either_log, decision_id, catalogue)
        assert result.same, result.differences


def test_a_replay_from_other_inputs_says_what_differs(either_log: DecisionLog) -> None:
    catalogue = ActionCatalogue.load()

    def no_consent(inputs):
        inputs["customer"]["marketing_consent"] = False

    decision_id = _decide(catalogue, either_log, NOW, tamper=no_consent)
    result = replay(either_log, decision_id, catalogue)
    assert not result.same
    assert any(d.startswith("trace ") for d in result.differences)


def test_replay_refuses_an_unknown_decision_or_another_catalogue(either_log: DecisionLog) -> None:
    catalogue = ActionCatalogue.load()
    with pytest.raises(UnknownDecisionError):
        replay(either_log, "nope", catalogue)
    decision_id = _decide(catalogue, either_log, NOW)
    other = dataclasses.replace(catalogue, version=f"{catalogue.version}-next")
    with pytest.raises(ConfigError, match="catalogue version"):
        replay(either_log, decision_id, other)


def test_the_inputs_come_back_as_they_went_in() -> None:
    catalogue = ActionCatalogue.load()
    scores = Scores(12.5, 0.1 / 3, {"a": 1 / 7}, {"b": -2 / 9})
    context = Context("sms_email", NOW, "inbox", 0.75)
    decision = decide(catalogue, CUSTOMER, context, [], scores)
    inputs = decision_inputs(CUSTOMER, context, [], scores, Levers(), 3, decision)
    back = decide_arguments(json.loads(json.dumps(inputs)))
    assert back == (CUSTOMER, context, [], scores, Levers(), 3)


def test_an_audit_row_keeps_who_when_and_what(either_log: DecisionLog) -> None:
    """Times in UTC whatever their offset; customer ids as the stores' keys (None: no such id)."""
    minus14 = timezone(timedelta(hours=-14))
    at = datetime(2025, 1, 15, 1, tzinfo=minus14)
    stamp = datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC)
    either_log.audit(
        AuditEntry("churn_score", None, [11, None], {"retain-churn": "4"}, [stamp, None], at=at)
    )
    either_log.audit(AuditEntry("customers", "rm-desk", [11], {"retain-churn": "4"}, [stamp]))
    rows = either_log.audit_rows()
    assert [r["endpoint"] for r in rows] == ["churn_score", "customers"]
    first = rows[0]
    assert first["at"] == at and first["at"].tzinfo == UTC
    assert first["api_key"] is None and rows[1]["api_key"] == "rm-desk"
    assert first["customer_ids"] == [11, None]
    assert first["models"] == {"retain-churn": "4"}
    assert first["feature_times"] == [stamp.isoformat(), None]
    assert first["decision_id"] is None and first["inputs"] is None
    assert either_log.audit_rows("customers")[0]["customer_ids"] == [11]


def test_an_audit_the_database_cannot_take_raises_sqlalchemys_error(
    either_log: DecisionLog,
) -> None:
    """The service answers a ``sa.exc.SQLAlchemyError`` with 503 (the decision log cannot be
    written): an insert the database refuses, or a database that cannot be reached, raises one;
    the next audit works once the database does."""
    entry = AuditEntry("churn_score", None, [11], {"retain-churn": "4"}, [NOW])
    sqlite = either_log.engine.dialect.name == "sqlite"
    if sqlite:  # a file of its own: its table can go
        with either_log.engine.begin() as conn:
            conn.execute(sa.text("drop table retain_audit"))
        refused = entry
    else:  # a shared database: a key name too long for its column instead
        refused = dataclasses.replace(entry, api_key="k" * 65)
    with pytest.raises(sa.exc.DBAPIError):
        either_log.audit(refused)
    served = either_log.engine
    either_log.engine = sa.create_engine(
        "sqlite:////nonexistent/folder/log.db"
        if sqlite
        else "postgresql+psycopg://postgres@127.0.0.1:1/test"
    )
    try:
        with pytest.raises(sa.exc.OperationalError):
            either_log.audit(entry)
    finally:
        either_log.engine.dispose()
        either_log.engine = served
    if not sqlite:
        either_log.audit(entry)
        assert len(either_log.audit_rows()) == 1


def test_a_connection_lost_during_an_audit_is_dropped_and_the_next_audit_reconnects(
    either_log: DecisionLog,
) -> None:
    """PostgreSQL restarted between the pool's check and the insert: SQLAlchemy's disconnect
    error (the connection invalidated, not handed out again), and the next audit is written."""
    if either_log.engine.dialect.name != "postgresql":
        pytest.skip("a network connection only")
    entry = AuditEntry("churn_score", None, [11], {"retain-churn": "4"}, [NOW])
    killer = sa.create_engine(either_log.engine.url)

    def kill(dbapi_connection, *_) -> None:
        with killer.begin() as conn:
            pid = dbapi_connection.info.backend_pid
            conn.execute(sa.text("select pg_terminate_backend(:pid, 10000)"), {"pid": pid})

    sa.event.listen(either_log.engine, "checkout", kill)
    try:
        with pytest.raises(sa.exc.OperationalError) as lost:
            either_log.audit(entry)
    finally:
        sa.event.remove(either_log.engine, "checkout", kill)
        killer.dispose()
    assert lost.value.connection_invalidated
    either_log.audit(entry)
    assert len(either_log.audit_rows()) == 1
