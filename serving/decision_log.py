"""The append-only decision log: every decision with its trace, the feedback on its actions, and
the audit log (one row per answered data request: who, when, endpoint, customers, models, feature
times, and a decision's inputs to replay it, see ``serving.replay``).

Embedded profile: SQLite at ``$RETAIN_HOME/decisions/log.db``. Production profile: the same
tables in PostgreSQL (``Settings.postgres_url``), rows keyed by ``project_id`` so several
installations share a database (``features.store.teardown`` removes a project's rows).

Rows are only ever inserted. A decision's delivered actions are the customer's contact history;
feedback (accepted, declined, ignored) attaches the outcome, so a decline starts the action's
cooldown at the next decision. The first feedback on an action is the one kept: a repeat is
answered as a duplicate and changes nothing. Every time is stored in UTC (SQLite keeps no offset,
so a time is converted before it is written or compared).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from retain.core.errors import ConfigError
from retain.core.settings import Settings, sqlalchemy_postgres_url
from serving.actions import NO_ACTION
from serving.decide import Contact, Decision

HISTORY_DAYS = 400
"""Contacts older than this are not read back: longer than any cooldown or window in use."""

metadata = sa.MetaData()
decisions = sa.Table(
    "retain_decisions",
    metadata,
    sa.Column("project_id", sa.String(64), primary_key=True),
    sa.Column("decision_id", sa.String(32), primary_key=True),
    sa.Column("customer_id", sa.BigInteger, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("placement", sa.String(64), nullable=False),
    sa.Column("actions", sa.Text, nullable=False),  # JSON: the action ids delivered, best first
    sa.Column("record", sa.Text, nullable=False),  # JSON: the full response, trace included
    sa.Column("logged_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("retain_decisions_customer", "project_id", "customer_id", "at"),
)
feedback = sa.Table(
    "retain_feedback",
    metadata,
    sa.Column("project_id", sa.String(64), primary_key=True),
    sa.Column("decision_id", sa.String(32), primary_key=True),
    sa.Column("action_id", sa.String(64), primary_key=True),
    sa.Column("customer_id", sa.BigInteger, nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("logged_at", sa.DateTime(timezone=True), nullable=False),
)
audit = sa.Table(
    "retain_audit",
    metadata,
    sa.Column("project_id", sa.String(64), primary_key=True),
    sa.Column("audit_id", sa.String(32), primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("api_key", sa.String(64), nullable=True),  # None: the project has no keys
    sa.Column("endpoint", sa.String(32), nullable=False),
    sa.Column("customer_ids", sa.Text, nullable=False),  # JSON: the stores' keys, None if unknown
    sa.Column("models", sa.Text, nullable=False),  # JSON: model name -> version answered with
    sa.Column("feature_times", sa.Text, nullable=False),  # JSON: ISO snapshot time per customer
    sa.Column("decision_id", sa.String(32), nullable=True),
    sa.Column("inputs", sa.Text, nullable=True),  # JSON: a decision's inputs, to replay it
    sa.Index("retain_audit_at", "project_id", "at"),
)


# Built once: the service runs them on every decision.
# Oldest contact first, in both reads: one customer's history is the same list either way.
_HISTORY = (
    sa.select(decisions.c.decision_id, decisions.c.at, decisions.c.channel, decisions.c.actions)
    .where(
        decisions.c.project_id == sa.bindparam("project"),
        decisions.c.customer_id == sa.bindparam("customer"),
        decisions.c.at > sa.bindparam("since"),
        decisions.c.at <= sa.bindparam("now"),
    )
    .order_by(decisions.c.at, decisions.c.decision_id)
)
_HISTORIES = (
    sa.select(
        decisions.c.customer_id,
        decisions.c.decision_id,
        decisions.c.at,
        decisions.c.channel,
        decisions.c.actions,
    )
    .where(
        decisions.c.project_id == sa.bindparam("project"),
        decisions.c.customer_id.in_(sa.bindparam("customers", expanding=True)),
        decisions.c.at > sa.bindparam("since"),
        decisions.c.at <= sa.bindparam("now"),
    )
    .order_by(decisions.c.customer_id, decisions.c.at, decisions.c.decision_id)
)
_ASYNC_COMMIT = sa.text("SET LOCAL synchronous_commit TO OFF")
_AUDIT_INSERT = audit.insert()
_DECISION_INSERT = decisions.insert()
"""One statement object each, the row's values as parameters: SQLAlchemy compiles it once and
reuses it from its cache (``.values(...)`` makes and compiles a new statement per row: 2.6x the
CPU of an audit insert into SQLite)."""
_OUTCOMES = sa.select(feedback.c.decision_id, feedback.c.action_id, feedback.c.outcome).where(
    feedback.c.project_id == sa.bindparam("project"),
    feedback.c.customer_id == sa.bindparam("customer"),
)
_BATCH_OUTCOMES = sa.select(feedback.c.decision_id, feedback.c.action_id, feedback.c.outcome).where(
    feedback.c.project_id == sa.bindparam("project"),
    feedback.c.customer_id.in_(sa.bindparam("customers", expanding=True)),
)


class UnknownDecisionError(LookupError):
    """No decision with this id (or the action was not part of it)."""


@dataclass(frozen=True)
class LoggedDecision:
    decision_id: str
    customer_id: int
    at: datetime
    channel: str
    actions: tuple[str, ...]


@dataclass(frozen=True)
class FeedbackResult:
    """What was stored: ``duplicate`` when feedback on the action had arrived before."""

    decision_id: str
    action_id: str
    outcome: str
    at: datetime
    duplicate: bool
    customer_id: int | None = None


@dataclass(frozen=True)
class AuditEntry:
    """Who asked what, answered with which models and features: one row per request.

    ``customer_ids`` are the stores' keys (pseudonyms where the bank's ids are strings; None for
    an id no customer can have); ``feature_times`` the snapshot time of each (None: not found).
    ``inputs`` are a decision's inputs (JSON-ready), enough to replay it.
    """

    endpoint: str
    api_key: str | None
    customer_ids: Sequence[int | None]
    models: dict[str, str] = field(default_factory=dict)
    feature_times: Sequence[datetime | None] = ()
    decision_id: str | None = None
    inputs: dict[str, Any] | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


def _audit_row(project: str, entry: AuditEntry) -> dict[str, Any]:
    return {
        "project_id": project,
        "audit_id": uuid.uuid4().hex,
        "at": as_utc(entry.at),
        "api_key": entry.api_key,
        "endpoint": entry.endpoint,
        "customer_ids": json.dumps(list(entry.customer_ids)),
        "models": json.dumps(entry.models, sort_keys=True),
        "feature_times": json.dumps(
            [None if t is None else as_utc(t).isoformat() for t in entry.feature_times]
        ),
        "decision_id": entry.decision_id,
        "inputs": None if entry.inputs is None else json.dumps(entry.inputs, default=str),
    }


LogItem = tuple[str, int, Decision, str, AuditEntry | None]
"""What ``DecisionLog.record`` takes: decision id, customer key, decision, response JSON, audit."""


def _decision_row(
    project: str, decision_id: str, customer_id: int, decision: Decision, response: str
) -> dict[str, Any]:
    delivered = [a.action_id for a in decision.actions if a.action_id != NO_ACTION]
    return {
        "project_id": project,
        "decision_id": decision_id,
        "customer_id": customer_id,
        "at": as_utc(decision.at),
        "channel": decision.channel,
        "placement": decision.placement,
        "actions": json.dumps(delivered),
        "record": response,
        "logged_at": datetime.now(UTC),
    }


def _sqlite_pragmas(conn: Any, _: Any) -> None:
    """Write-ahead logging: readers do not wait for the writer, and a commit need not sync the
    whole file (a crash may lose the last decisions, never corrupt the log)."""
    cursor = conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def new_decision_id() -> str:
    return uuid.uuid4().hex


def as_utc(t: datetime) -> datetime:
    """SQLite returns naive datetimes; everything stored is UTC."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _days_before(t: datetime, days: int) -> datetime:
    try:
        return t - timedelta(days=days)
    except OverflowError:  # a time near year 1: nothing is older
        return datetime.min.replace(tzinfo=UTC)


def log_url(settings: Settings) -> str:
    if settings.profile == "production":
        return sqlalchemy_postgres_url(settings.postgres_url)
    return f"sqlite:///{settings.home / 'decisions' / 'log.db'}"


class DecisionLog:
    """The log of one project; safe to share between threads and worker processes."""

    def __init__(self, url: str, project: str = "retain") -> None:
        sqlite = url.startswith("sqlite:///")
        if sqlite:
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        try:
            if sqlite:
                # Several service workers share the file: wait for a lock rather than fail.
                self.engine = sa.create_engine(url, connect_args={"timeout": 30})
                sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            else:
                self.engine = sa.create_engine(url, pool_pre_ping=True)
            metadata.create_all(self.engine)
        except sa.exc.SQLAlchemyError as e:
            raise ConfigError(
                f"cannot open the decision log at {url}: {e.__class__.__name__}"
            ) from e
        self.project = project
        self.local = sqlite
        """A file on this host (SQLite): a write is short and never waits on a network."""

    @classmethod
    def open(cls, settings: Settings) -> DecisionLog:
        """The log of the settings' profile and project.

        Raises:
            ConfigError: the database cannot be opened.
        """
        return cls(log_url(settings), settings.project)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _begin(self) -> Iterator[sa.Connection]:
        """A transaction; concurrent SQLite writers wait for the lock (``timeout``)."""
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        """A connection for reading only: nothing to commit."""
        with self.engine.connect() as conn:
            yield conn

    def record(
        self,
        decision_id: str,
        customer_id: int,
        decision: Decision,
        response: str,
        entry: AuditEntry | None = None,
    ) -> None:
        """Append a decision and the response (JSON) that carried it, with its audit ``entry``
        in the same transaction."""
        with self._begin() as conn:
            if entry is not None:
                conn.execute(_AUDIT_INSERT, _audit_row(self.project, entry))
            conn.execute(
                _DECISION_INSERT,
                _decision_row(self.project, decision_id, customer_id, decision, response),
            )

    def record_many(self, logged: Sequence[LogItem], entries: Sequence[AuditEntry] = ()) -> None:
        """Append decisions, each with its audit entry, and further audit ``entries``, in one
        transaction (two multi-row inserts): all of them are logged, or none."""
        rows = [_decision_row(self.project, *item[:4]) for item in logged]
        audits = [
            _audit_row(self.project, e)
            for e in [*(item[4] for item in logged if item[4] is not None), *entries]
        ]
        if not rows and not audits:
            return
        with self._begin() as conn:
            if audits:
                conn.execute(_AUDIT_INSERT, audits)
            if rows:
                conn.execute(_DECISION_INSERT, rows)

    def audit(self, entry: AuditEntry) -> None:
        """Append one audit row (one insert).

        On PostgreSQL the commit does not wait for the disk (``synchronous_commit`` off for this
        transaction only): a crash of the database server may lose the last fraction of a
        second of audit rows, never corrupt the log, and a request is not held up by a flush
        (about 10 ms each on a slow disk). Decisions, with their audit rows, are flushed.
        """
        with self._begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(_ASYNC_COMMIT)
            conn.execute(_AUDIT_INSERT, _audit_row(self.project, entry))

    def audit_rows(
        self, endpoint: str | None = None, decision_id: str | None = None
    ) -> list[dict[str, Any]]:
        """The audit rows, oldest first, JSON columns decoded, times in UTC."""
        query = sa.select(audit).where(audit.c.project_id == self.project)
        if endpoint is not None:
            query = query.where(audit.c.endpoint == endpoint)
        if decision_id is not None:
            query = query.where(audit.c.decision_id == decision_id)
        with self._read() as conn:
            rows = conn.execute(query.order_by(audit.c.at)).mappings().all()
        out = []
        for r in rows:
            row = dict(r)
            row["at"] = as_utc(row["at"])
            for key in ("customer_ids", "models", "feature_times", "inputs"):
                row[key] = None if row[key] is None else json.loads(row[key])
            out.append(row)
        return out

    def decision(self, decision_id: str) -> LoggedDecision:
        """Raises UnknownDecisionError."""
        with self._read() as conn:
            row = conn.execute(
                sa.select(decisions).where(
                    decisions.c.project_id == self.project,
                    decisions.c.decision_id == decision_id,
                )
            ).first()
        if row is None:
            raise UnknownDecisionError(f"no decision {decision_id!r} in the decision log")
        return LoggedDecision(
            row.decision_id,
            row.customer_id,
            as_utc(row.at),
            row.channel,
            tuple(json.loads(row.actions)),
        )

    def record_feedback(
        self, decision_id: str, action_id: str, outcome: str, at: datetime
    ) -> FeedbackResult:
        """Store the outcome of one delivered action; a repeat keeps the first answer.

        Raises:
            UnknownDecisionError: no such decision, or the action was not delivered by it.
        """
        logged = self.decision(decision_id)
        if action_id not in logged.actions:
            shown = ", ".join(logged.actions) or "none (it was no_action)"
            raise UnknownDecisionError(
                f"decision {decision_id} did not deliver {action_id!r}; it delivered: {shown}"
            )
        key = (
            (feedback.c.project_id == self.project)
            & (feedback.c.decision_id == decision_id)
            & (feedback.c.action_id == action_id)
        )
        at, customer = as_utc(at), logged.customer_id
        with self._begin() as conn:
            previous = conn.execute(sa.select(feedback).where(key)).first()
            if previous is not None:
                return FeedbackResult(
                    decision_id, action_id, previous.outcome, as_utc(previous.at), True, customer
                )
            try:
                conn.execute(
                    feedback.insert().values(
                        project_id=self.project,
                        decision_id=decision_id,
                        action_id=action_id,
                        customer_id=logged.customer_id,
                        outcome=outcome,
                        at=at,
                        logged_at=datetime.now(UTC),
                    )
                )
            except sa.exc.IntegrityError:  # the same feedback raced in: the first one stands
                return FeedbackResult(decision_id, action_id, outcome, at, True, customer)
        return FeedbackResult(decision_id, action_id, outcome, at, False, customer)

    def history(self, customer_id: int, now: datetime) -> list[Contact]:
        """The customer's delivered actions up to ``now``, each with its outcome once known."""
        now = as_utc(now)
        since = _days_before(now, HISTORY_DAYS)
        key = {"project": self.project, "customer": customer_id}
        with self._read() as conn:
            rows = conn.execute(_HISTORY, {**key, "since": since, "now": now}).all()
            outcomes = {
                (r.decision_id, r.action_id): r.outcome for r in conn.execute(_OUTCOMES, key)
            }
        return [
            Contact(action, r.channel, as_utc(r.at), outcomes.get((r.decision_id, action)))
            for r in rows
            for action in json.loads(r.actions)
        ]

    def histories(self, customer_ids: Sequence[int], now: datetime) -> dict[int, list[Contact]]:
        """``history`` of many customers in two queries (decisions, then feedback): customer ->
        the delivered actions up to ``now``, oldest first, each with its outcome once known.
        Every customer asked for has an entry (empty without contacts)."""
        now = as_utc(now)
        since = _days_before(now, HISTORY_DAYS)
        out: dict[int, list[Contact]] = {int(c): [] for c in customer_ids}
        if not out:
            return out
        key = {"project": self.project, "customers": list(out)}
        with self._read() as conn:
            rows = conn.execute(_HISTORIES, {**key, "since": since, "now": now}).all()
            outcomes = {
                (r.decision_id, r.action_id): r.outcome for r in conn.execute(_BATCH_OUTCOMES, key)
            }
        for r in rows:
            out[int(r.customer_id)].extend(
                Contact(action, r.channel, as_utc(r.at), outcomes.get((r.decision_id, action)))
                for action in json.loads(r.actions)
            )
        return out

    def response(self, decision_id: str) -> dict[str, Any]:
        """The logged response of a decision (its JSON decoded).

        Raises:
            UnknownDecisionError: no such decision.
        """
        with self._read() as conn:
            text = conn.execute(
                sa.select(decisions.c.record).where(
                    decisions.c.project_id == self.project,
                    decisions.c.decision_id == decision_id,
                )
            ).scalar()
        if text is None:
            raise UnknownDecisionError(f"no decision {decision_id!r} in the decision log")
        return dict(json.loads(text))

    def records(self, customer_id: int | None = None) -> Sequence[dict[str, Any]]:
        """The logged responses (for audits and replays), oldest first."""
        query = sa.select(decisions.c.record).where(decisions.c.project_id == self.project)
        if customer_id is not None:
            query = query.where(decisions.c.customer_id == customer_id)
        with self._read() as conn:
            return [json.loads(r.record) for r in conn.execute(query.order_by(decisions.c.at))]
