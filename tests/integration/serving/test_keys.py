"""API keys against the served bank: no key, an unknown or revoked one, a key without the scope,
and a key that may; health and the OpenAPI page stay open. The keys are removed afterwards, so
the other service tests see an open service."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from retain.core.settings import Settings
from serving.decision_log import DecisionLog
from serving.keys import KeyStore, api_keys

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def keyed(home: Settings) -> Iterator[tuple[object, dict[str, str]]]:
    """A fresh in-process service of the served bank, with three keys in its store."""
    from starlette.testclient import TestClient

    from serving.service import ChurnService

    store = KeyStore(DecisionLog.open(home).engine, home.project)
    secrets = {
        "crm": store.add("crm", frozenset({"recommend", "feedback"})),
        "app": store.add("app", frozenset({"score", "customers"})),
        "old": store.add("old", frozenset({"score"})),
    }
    store.revoke("old")
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("RETAIN_HOME", str(home.home))
            with TestClient(ChurnService.to_asgi(), raise_server_exceptions=False) as c:
                yield c, secrets
    finally:
        with store.engine.begin() as conn:
            conn.execute(sa.delete(api_keys).where(api_keys.c.project_id == home.project))


def _auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_every_data_endpoint_needs_a_key_with_its_scope(keyed, ids):
    client, secrets = keyed
    customer = ids["current"][0]
    score = {"customer_ids": [customer]}
    r = client.post("/churn_score", json=score)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert r.json() == {
        "error": "an API key is required: send Authorization: Bearer <key>",
        "field": None,
    }
    assert client.post("/churn_score", json=score, headers=_auth("rk_guess")).status_code == 401
    assert client.post("/churn_score", json=score, headers=_auth(secrets["old"])).status_code == 401
    assert client.post("/churn_score", json=score, headers=_auth(secrets["app"])).status_code == 200
    # the marketing system's key may recommend but not read the customer view
    r = client.get(f"/customers/{customer}", headers=_auth(secrets["crm"]))
    assert r.status_code == 403 and "GET /customers/{id}" in r.json()["error"]
    assert client.get(f"/customers/{customer}", headers=_auth(secrets["app"])).status_code == 200
    body = {"customer_id": customer, "channel": "mobile"}
    assert client.post("/recommend", json=body, headers=_auth(secrets["app"])).status_code == 403
    assert client.post("/recommend", json=body, headers=_auth(secrets["crm"])).status_code == 200
    assert client.get("/metrics").status_code == 401


def test_health_and_the_api_page_stay_open(keyed):
    client, _ = keyed
    for path in ("/livez", "/readyz", "/docs.json"):
        assert client.get(path).status_code == 200, path
