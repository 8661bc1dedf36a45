"""The HTTP boundary on a tiny Starlette app: refusals before the body is read, one error shape,
no internal addresses in a 503, and the OpenAPI spec completed with the error answers."""

from __future__ import annotations

import json
import logging

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from serving.middleware import (
    RequestHygiene,
    complete_spec,
    error_body,
    public_message,
    route_of,
)

LIMIT = 2048


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"bytes": len(await request.body())})


async def invalid(request: Request) -> JSONResponse:
    """What BentoML answers for a pydantic ValidationError."""
    detail = [{"type": "missing", "loc": ["context", "at"], "msg": "Field required"}]
    return JSONResponse({"error": "1 validation error", "detail": detail}, status_code=400)


async def down(request: Request) -> JSONResponse:
    message = "the online feature store is unreachable (Error 111 connecting to redis-1:6379)"
    return JSONResponse({"error": message}, status_code=503)


async def view(request: Request) -> JSONResponse:
    return JSONResponse({"detail": [{"loc": ["path", "customer_id"], "msg": "bad"}]}, 422)


async def spec(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "paths": {
                "/recommend": {
                    "post": {
                        "requestBody": {"content": {}},
                        "responses": {"200": {}, "400": {"$ref": "x"}},
                    }
                },
                "/customers/{customer_id}": {"get": {"responses": {"200": {}, "422": {}}}},
                "/livez": {"get": {"responses": {"200": {}}}},
            },
            "components": {"schemas": {"HTTPValidationError": {}}},
        }
    )


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = Starlette(
        routes=[
            Route("/churn_score", echo, methods=["POST"]),
            Route("/recommend", invalid, methods=["POST"]),
            Route("/feedback", down, methods=["POST"]),
            Route("/customers/{customer_id}", view),
            Route("/docs.json", spec),
            Route("/livez", lambda r: PlainTextResponse("ok")),
        ]
    )
    return TestClient(RequestHygiene(app, max_body_bytes=lambda: LIMIT))


JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        (b"{}", {}, 415),  # no Content-Type: not taken as JSON
        (b"{}", {"content-type": "text/plain"}, 415),
        (b"x" * (LIMIT + 1), JSON, 413),  # refused by its Content-Length, unread
        (iter([b"x" * 1024] * 3), JSON, 413),  # chunked, no Content-Length: refused while read
        (b"{}", {**JSON, "content-length": "abc"}, 400),
    ],
)
def test_a_body_that_is_not_json_or_too_large_is_refused(client, content, headers, status):
    r = client.post("/churn_score", content=content, headers=headers)
    assert r.status_code == status, r.text
    assert set(r.json()) == {"error", "field"}


def test_a_body_within_the_limit_reaches_the_app_whole(client):
    r = client.post("/churn_score", content=b"x" * LIMIT, headers=JSON)
    assert r.status_code == 200 and r.json() == {"bytes": LIMIT}
    chunked = client.post("/churn_score", content=iter([b"x" * 1000] * 2), headers=JSON)
    assert chunked.json() == {"bytes": 2000}


def test_every_error_has_one_shape_and_is_logged_as_one_line(client, caplog):
    """A validation error names its field; a 4xx is logged without content (no customer id)."""
    with caplog.at_level(logging.INFO, logger="serving.middleware"):
        r = client.post("/recommend", json={"customer_id": 123456789})
        view = client.get("/customers/123456789")
    assert r.status_code == 400
    assert r.json() == {"error": "context.at: Field required", "field": "context.at"}
    assert view.status_code == 422 and view.json()["field"] == "customer_id"
    assert [rec.getMessage() for rec in caplog.records] == [
        "POST /recommend answered 400 (context.at)",
        "GET /customers/{customer_id} answered 422 (customer_id)",
    ]
    assert client.get("/nope").json() == {"error": "Not Found", "field": None}


def test_a_503_shows_no_internal_address(client):
    r = client.post("/feedback", json={})
    assert r.status_code == 503
    assert r.json()["error"] == (
        "the online feature store is unreachable (Error 111 connecting to <address>)"
    )


@pytest.mark.parametrize(
    "message",
    [
        "cannot connect to redis://10.1.2.3:6379/0",
        "Error 111 connecting to 10.1.2.3:6379. Connection refused.",
        "connection to server at db.internal:5432 failed",
        "postgresql://retain:secret@db/prod is down",
    ],
)
def test_public_messages_hide_addresses(message):
    shown = public_message(message)
    for secret in ("10.1.2.3", "6379", "db.internal", "5432", "secret"):
        assert secret not in shown
    assert "<address>" in shown


def test_public_messages_keep_times_and_plain_text():
    message = "not ready since 2025-10-27T12:22:29Z: run retain features apply"
    assert public_message(message) == message


def test_error_bodies_of_every_origin_become_one_shape():
    assert error_body(400, json.dumps([{"error": "bad"}]).encode()) == {
        "error": "bad",
        "field": None,
    }
    assert error_body(404, b'{"detail": "Not Found"}') == {"error": "Not Found", "field": None}
    assert error_body(405, b"Method Not Allowed") == {"error": "Method Not Allowed", "field": None}
    assert error_body(400, b"") == {"error": "Bad Request", "field": None}
    many = [{"loc": ["customer_ids", i], "msg": "bad"} for i in range(7)]
    shaped = error_body(400, json.dumps({"detail": many}).encode())
    assert shaped["field"] == "customer_ids.0" and shaped["error"].endswith("(and 2 more)")


def test_the_spec_declares_the_error_answers_and_requires_a_body(client):
    spec = client.get("/docs.json").json()
    post = spec["paths"]["/recommend"]["post"]
    assert sorted(post["responses"]) == [
        "200", "400", "401", "403", "404", "413", "415", "422", "503"
    ]  # fmt: skip
    assert post["security"] == [{"apiKey": []}]
    assert spec["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    assert post["responses"]["413"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }
    assert post["requestBody"]["required"] is True
    view = spec["paths"]["/customers/{customer_id}"]["get"]["responses"]
    assert sorted(view) == ["200", "400", "401", "403", "404", "503"]
    assert spec["paths"]["/livez"]["get"]["responses"] == {"200": {}}
    assert "security" not in spec["paths"]["/livez"]["get"]
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert set(schemas["ErrorBody"]["properties"]) == {"error", "field"}


def test_a_customer_id_in_the_path_is_not_logged():
    assert route_of("/customers/1102171806643") == "/customers/{customer_id}"
    assert complete_spec({"paths": {}})["components"]["schemas"]["ErrorBody"]
