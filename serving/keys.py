"""API keys: who may ask the service what.

A key is a random secret (``rk_...``) given once to its holder; the store keeps its SHA-256
digest, its name and its scopes, in the decision log's database (SQLite or PostgreSQL, rows keyed
by project), so ``retain keys add|revoke`` on any host changes what every running service accepts
within ``KeyRing.refresh_s`` seconds, without a restart.

Keys are switched on by the first key ever added: from then on every data endpoint needs one,
even after every key is revoked (a service never falls back to open). A secret has 256 bits of
entropy, so a plain digest is enough to store it (as for any API token), and the presented
secret's digest is compared with each stored one in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from retain.core.errors import ConfigError
from serving.decision_log import as_utc

SCOPES: dict[str, str] = {
    "score": "POST /churn_score: churn scores and their reasons",
    "recommend": "POST /recommend and /recommend/batch: next best actions (written to the "
    "decision log)",
    "feedback": "POST /feedback: the outcome of a delivered action",
    "customers": "GET /customers/{id}: the customer view (profile, balances, consent)",
    "metrics": "GET /metrics: the service's Prometheus metrics",
    "at_risk": "GET /at_risk: the latest at-risk list (customer ids, segments, values, reasons)",
}
"""Scope -> what it allows; a key holds one or more."""

_ROUTES: dict[tuple[str, str], str] = {
    ("POST", "/churn_score"): "score",
    ("POST", "/recommend"): "recommend",
    ("POST", "/recommend/batch"): "recommend",
    ("POST", "/feedback"): "feedback",
    ("GET", "/metrics"): "metrics",
}


def scope_of(method: str, path: str) -> str | None:
    """The scope a request needs; None for what stays open (health, the OpenAPI page)."""
    if path.startswith("/customers/"):
        return "customers"
    if method == "GET" and (path == "/at_risk" or path.startswith("/at_risk/")):
        return "at_risk"
    return _ROUTES.get((method, path.rstrip("/") or "/"))


NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
PREFIX = "rk_"

metadata = sa.MetaData()
api_keys = sa.Table(
    "retain_api_keys",
    metadata,
    sa.Column("project_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("scopes", sa.String(256), nullable=False),  # comma-separated
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
)


@dataclass(frozen=True)
class ApiKey:
    name: str
    digest: str
    scopes: frozenset[str]
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_scopes(text: str) -> frozenset[str]:
    """``score,recommend`` -> the scopes.

    Raises:
        ConfigError: an unknown or empty scope list.
    """
    scopes = frozenset(s.strip() for s in text.split(",") if s.strip())
    unknown = scopes - set(SCOPES)
    if not scopes or unknown:
        what = f"unknown scope(s) {', '.join(sorted(unknown))}" if unknown else "no scope given"
        raise ConfigError(f"{what}: use one or more of {', '.join(SCOPES)}, comma-separated")
    return scopes


def match(keys: Iterable[ApiKey], presented: str) -> ApiKey | None:
    """The active key whose secret was presented, comparing every digest in constant time."""
    d = digest(presented)
    found = None
    for key in keys:
        if hmac.compare_digest(key.digest, d) and key.active:
            found = key
    return found


class KeyStore:
    """The keys of one project, in the database behind ``engine``."""

    def __init__(self, engine: sa.Engine, project: str) -> None:
        metadata.create_all(engine)
        self.engine = engine
        self.project = project

    def add(self, name: str, scopes: frozenset[str]) -> str:
        """Create a key; returns its secret, which is not stored and cannot be shown again.

        Raises:
            ConfigError: a bad name, or a key of that name exists (revoked keys included).
        """
        if not NAME.match(name):
            raise ConfigError(f"key name {name!r}: use 1-64 letters, digits, '_', '.' or '-'")
        if any(k.name == name for k in self.keys()):
            raise ConfigError(f"a key named {name!r} exists: revoke it and add one of a new name")
        secret = PREFIX + secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(
                api_keys.insert().values(
                    project_id=self.project,
                    name=name,
                    digest=digest(secret),
                    scopes=",".join(sorted(scopes)),
                    created_at=datetime.now(UTC),
                )
            )
        return secret

    def revoke(self, name: str) -> None:
        """Raises ConfigError: no active key of that name."""
        with self.engine.begin() as conn:
            done = conn.execute(
                api_keys.update()
                .where(
                    api_keys.c.project_id == self.project,
                    api_keys.c.name == name,
                    api_keys.c.revoked_at.is_(None),
                )
                .values(revoked_at=datetime.now(UTC))
            )
        if done.rowcount == 0:
            raise ConfigError(f"no active key named {name!r}: `retain keys list` shows them")

    def keys(self) -> list[ApiKey]:
        """Every key of the project, revoked ones included, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(api_keys)
                .where(api_keys.c.project_id == self.project)
                .order_by(api_keys.c.created_at)
            ).all()
        return [
            ApiKey(
                r.name,
                r.digest,
                frozenset(r.scopes.split(",")),
                as_utc(r.created_at),
                as_utc(r.revoked_at) if r.revoked_at else None,
            )
            for r in rows
        ]


class Refused(Exception):
    """A request without a valid key (401) or whose key lacks the scope (403)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class KeyRing:
    """What a running service checks keys against: the store, re-read at most every
    ``refresh_s`` seconds (so an added or revoked key takes effect within that time)."""

    def __init__(
        self,
        load: Callable[[], Sequence[ApiKey]],
        refresh_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load, self.refresh_s, self._clock = load, refresh_s, clock
        self._keys: Sequence[ApiKey] = ()
        self._read_at = float("-inf")
        self._lock = threading.Lock()

    def current(self) -> Sequence[ApiKey]:
        with self._lock:
            if self._clock() - self._read_at >= self.refresh_s:
                self._keys = tuple(self._load())
                self._read_at = self._clock()
            return self._keys

    @property
    def enabled(self) -> bool:
        """Keys are required once any was ever added to the project."""
        return bool(self.current())

    def check(self, authorization: str | None, scope: str) -> ApiKey | None:
        """The key that may use ``scope``; None when keys are not switched on.

        Raises:
            Refused: no key, an unknown or revoked one (401), or one without the scope (403).
        """
        keys = self.current()
        if not keys:
            return None
        scheme, _, secret = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Refused(401, "an API key is required: send Authorization: Bearer <key>")
        key = match(keys, secret.strip())
        if key is None:
            raise Refused(401, "unknown or revoked API key")
        if scope not in key.scopes:
            raise Refused(403, f"the key {key.name!r} may not use {SCOPES[scope].split(':')[0]}")
        return key
