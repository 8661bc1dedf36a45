"""API keys: stored hashed, scoped, revoked without a restart, never failing open."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from retain.core.errors import ConfigError
from serving.keys import KeyRing, KeyStore, Refused, digest, parse_scopes


@pytest.fixture
def store(tmp_path: Path) -> KeyStore:
    return KeyStore(sa.create_engine(f"sqlite:///{tmp_path / 'log.db'}"), "retain")


def test_the_store_keeps_a_digest_never_the_secret(store: KeyStore):
    secret = store.add("crm", frozenset({"recommend"}))
    assert secret.startswith("rk_") and len(secret) > 40
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM retain_api_keys")).all()
    assert secret not in repr(rows) and digest(secret) in repr(rows)


def test_a_key_may_use_its_scopes_only(store: KeyStore):
    secret = store.add("crm", parse_scopes("recommend, feedback"))
    ring = KeyRing(store.keys, refresh_s=0)
    assert ring.check(f"Bearer {secret}", "recommend").name == "crm"
    with pytest.raises(Refused) as refused:
        ring.check(f"Bearer {secret}", "customers")
    assert refused.value.status == 403 and "GET /customers/{id}" in str(refused.value)
    for header in (None, "", secret, "Bearer ", f"Basic {secret}", "Bearer rk_wrong"):
        with pytest.raises(Refused) as refused:
            ring.check(header, "recommend")
        assert refused.value.status == 401


def test_revoking_reaches_a_running_ring_within_its_refresh(store: KeyStore):
    now = [0.0]
    secret = store.add("crm", frozenset({"score"}))
    ring = KeyRing(store.keys, refresh_s=5, clock=lambda: now[0])
    assert ring.check(f"Bearer {secret}", "score")
    store.revoke("crm")
    now[0] = 4.9
    assert ring.check(f"Bearer {secret}", "score")  # cached until the refresh
    now[0] = 5.0
    with pytest.raises(Refused, match="unknown or revoked"):
        ring.check(f"Bearer {secret}", "score")
    assert ring.enabled  # every key revoked: still closed, never open


def test_no_key_ever_added_leaves_the_service_open(store: KeyStore):
    assert KeyRing(store.keys).check(None, "score") is None


def test_projects_do_not_share_keys(store: KeyStore):
    secret = store.add("crm", frozenset({"score"}))
    other = KeyStore(store.engine, "bank_b")
    assert other.keys() == []
    other.add("crm", frozenset({"score"}))  # the same name in another project
    with pytest.raises(Refused):
        KeyRing(other.keys).check(f"Bearer {secret}", "score")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.add("bad name", frozenset({"score"})), "use 1-64 letters"),
        (lambda s: s.revoke("nobody"), "no active key named 'nobody'"),
        (lambda s: parse_scopes("score,admin"), "unknown scope.*admin"),
        (lambda s: parse_scopes(" , "), "no scope given"),
    ],
)
def test_mistakes_are_one_clear_line(store: KeyStore, call, message):
    with pytest.raises(ConfigError, match=message):
        call(store)


def test_a_name_is_never_reused(store: KeyStore):
    store.add("crm", frozenset({"score"}))
    store.revoke("crm")
    with pytest.raises(ConfigError, match="exists"):
        store.add("crm", frozenset({"score"}))
