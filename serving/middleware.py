"""The service's HTTP boundary: what a request must be before BentoML reads it, and one shape for
every error it answers.

``RequestHygiene`` (an ASGI middleware) refuses, before the body is read, a POST to an API that
is not declared as JSON (415) or larger than ``max_body_bytes`` (413); rewrites every 4xx and 503
answer, BentoML's and FastAPI's included, to ``{"error": ..., "field": ...}``; logs each 4xx as one
line without the request's content; and completes the OpenAPI spec (``/docs.json``) with those
answers. The functions that reshape bodies and the spec are pure.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import Any

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

API_PATHS = ("/churn_score", "/recommend", "/recommend/batch", "/feedback")
"""The POST endpoints: JSON bodies only."""

SPEC_PATH = "/docs.json"
SECURITY_SCHEME = "apiKey"
ERROR_SCHEMA = "ErrorBody"

_ERRORS = {
    400: "The request is malformed; `field` names the field at fault.",
    404: "No such customer (or decision, for /feedback).",
    401: "No API key, or an unknown or revoked one (once the project has keys).",
    403: "The API key lacks the scope this endpoint needs.",
    413: "The request body is larger than the service accepts (or names more customers than "
    "max_audience, for /recommend/batch).",
    415: "The body is not declared as JSON (Content-Type: application/json).",
    422: "The customer left the bank: nothing to recommend.",
    503: "Not ready, or the feature store is unreachable: retry shortly.",
}
"""What each error answer means."""

_ANSWERS = {
    "/churn_score": (400, 401, 403, 413, 415, 503),
    "/recommend": (400, 401, 403, 404, 413, 415, 422, 503),
    "/recommend/batch": (400, 401, 403, 413, 415, 503),
    "/feedback": (400, 401, 403, 404, 413, 415, 503),
    "/customers/": (400, 401, 403, 404, 503),
    "/at_risk/": (400, 401, 403, 503),
}
"""The error answers of each data endpoint (``/customers/`` is the prefix of the view)."""

_ADDRESS = re.compile(
    r"[a-z][a-z0-9+.-]*://\S+"  # a URL (redis://host:6379/0, postgresql://...)
    r"|\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b"  # an IPv4 address, with its port
    r"|\b[a-z][\w.-]*:\d{2,5}\b(?!:)",  # host:port (not a time of day, 12:30:00)
    re.IGNORECASE,
)


def public_message(message: str) -> str:
    """``message`` without internal addresses (URLs, IPs, host:port), for a response body."""
    return _ADDRESS.sub("<address>", message)


def error_body(status: int, body: bytes) -> dict[str, Any]:
    """Any 4xx/5xx body (BentoML's validation errors, FastAPI's ``detail``, a list, plain text)
    as ``{"error": message, "field": dotted field or None}``."""
    try:
        data: Any = json.loads(body) if body else None
    except ValueError:
        data = body.decode("utf-8", "replace").strip() or None
    if isinstance(data, list) and len(data) == 1:  # BentoML wraps some errors in a list
        data = data[0]
    if isinstance(data, dict) and isinstance(data.get("detail"), list) and data["detail"]:
        return _validation(data["detail"])
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        field = data.get("field")
        return {"error": data["error"], "field": field if isinstance(field, str) else None}
    if isinstance(data, dict) and isinstance(data.get("detail"), str):
        return {"error": data["detail"], "field": None}
    if isinstance(data, str):
        return {"error": data[:300], "field": None}
    return {"error": HTTPStatus(status).phrase, "field": None}


def _validation(errors: list[Any]) -> dict[str, Any]:
    """Pydantic's error list as one message; the field is the first error's location."""
    parts, fields = [], []
    for e in errors[:5]:
        if not isinstance(e, dict):
            continue
        loc = [str(p) for p in e.get("loc", ()) if p not in ("body", "path", "query")]
        field = ".".join(loc)
        if field:
            fields.append(field)
        message = str(e.get("msg", "invalid"))
        parts.append(f"{field}: {message}" if field else message)
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    message = "; ".join(parts) + more or "invalid request"
    return {"error": message, "field": next(iter(fields), None)}


def route_of(path: str) -> str:
    """The path as logged: a customer's id in the URL is request content, so not shown."""
    return "/customers/{customer_id}" if path.startswith("/customers/") else path


def complete_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI spec with retain's error answers and the API key scheme on every data
    endpoint, JSON request bodies required, and no error schema but ``ErrorBody``."""
    from serving.schemas import ErrorBody

    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas[ERROR_SCHEMA] = ErrorBody.model_json_schema()
    components.setdefault("securitySchemes", {})[SECURITY_SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key from `retain keys add` (required once the project has keys).",
    }
    ref = {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}
    for path, item in spec.get("paths", {}).items():
        key = "/customers/" if path.startswith("/customers/") else path
        for method, operation in item.items():
            if key not in _ANSWERS or not isinstance(operation, dict):
                continue
            operation["security"] = [{SECURITY_SCHEME: []}]
            responses = operation.setdefault("responses", {})
            for code in list(responses):
                if str(code) != "200":
                    del responses[code]
            for code in _ANSWERS[key]:
                responses[str(code)] = {
                    "description": _ERRORS[code],
                    "content": {"application/json": {"schema": ref}},
                }
            if method == "post" and "requestBody" in operation:
                operation["requestBody"]["required"] = True
                body = _request_schema(path, schemas)
                if body is not None:
                    operation["requestBody"]["content"] = {"application/json": {"schema": body}}
    for unused in (
        "HTTPValidationError",
        "ValidationError",
        "InvalidArgument",
        "NotFound",
        "InternalServerError",
        "TaskStatusResponse",
    ):
        if not _referenced(spec, unused):
            schemas.pop(unused, None)
    return spec


def _request_schema(path: str, schemas: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema the service validates ``path``'s body against (BentoML's own rendering
    drops constraints such as a customer id's range), its nested models put in ``schemas``."""
    from serving.schemas import REQUEST_MODELS

    model = REQUEST_MODELS.get(path)
    if model is None:
        return None
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schema.pop("$defs", {}))
    return schema


def _referenced(spec: dict[str, Any], name: str) -> bool:
    return f'"#/components/schemas/{name}"' in json.dumps(spec.get("paths", {}))


class QuietClientErrors(logging.Filter):
    """Drops BentoML's traceback for a request the caller got wrong (it logs every exception at
    ERROR, with the validation error's text); ``RequestHygiene`` logs those as one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        from bentoml.exceptions import BentoMLException
        from pydantic import ValidationError

        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, ValidationError):
            return False
        return not (isinstance(error, BentoMLException) and int(error.error_code) < 500)


BENTOML_ERRORS = "bentoml._internal.server.http_app"
"""The logger BentoML writes request exceptions to."""


def quiet_client_errors() -> None:
    """Install ``QuietClientErrors`` once (called when the service starts, not at import)."""
    log = logging.getLogger(BENTOML_ERRORS)
    if not any(isinstance(f, QuietClientErrors) for f in log.filters):
        log.addFilter(QuietClientErrors())


class RequestHygiene:
    """ASGI middleware; see the module's docstring.

    Args:
        app: the ASGI app it wraps.
        max_body_bytes: the largest body a POST may carry, or a callable giving it (read when the
            first request arrives, after the service has loaded its settings).
    """

    def __init__(self, app: Any, max_body_bytes: int | Callable[[], int] = 1_048_576) -> None:
        self.app = app
        self._limit = max_body_bytes
        quiet_client_errors()

    @property
    def limit(self) -> int:
        if callable(self._limit):
            self._limit = self._limit()
        return self._limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        if method == "POST" and path in API_PATHS:
            refusal = self._refusal(scope)
            if refusal is not None:
                await self._answer(scope, send, *refusal)
                return
            body = await self._read(receive)
            if body is None:
                await self._answer(
                    scope, send, 413, f"the body is larger than {self.limit:,} bytes", None
                )
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, self._wrap(scope, send))

    def _refusal(self, scope: Scope) -> tuple[int, str, str | None] | None:
        headers = dict(scope.get("headers") or [])
        raw = headers.get(b"content-type")
        media = (raw or b"").split(b";")[0].strip().decode("latin-1")[:100]
        if media.lower() != "application/json":
            shown = f"not {media!r}" if raw else "none was given"
            return 415, f"send a JSON body with Content-Type: application/json ({shown})", None
        length = headers.get(b"content-length")
        if length is not None:
            if not length.strip().isdigit():
                return 400, "Content-Length is not a number", None
            if int(length) > self.limit:
                return 413, f"the body is larger than {self.limit:,} bytes", None
        return None

    async def _read(self, receive: Receive) -> bytes | None:
        """The whole body, or None once it grows past the limit (chunked, no Content-Length)."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _answer(
        self, scope: Scope, send: Send, status: int, message: str, field: str | None
    ) -> None:
        _log(scope, status, field)
        await _send_json(send, status, {"error": message, "field": field})

    def _wrap(self, scope: Scope, send: Send) -> Send:
        """``send``, reshaping error bodies and completing the spec on their way out."""
        held: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = int(message["status"])
                spec = scope["path"] == SPEC_PATH and status == 200
                if status < 400 and not spec:
                    await send(message)
                    return
                held["start"], held["spec"] = message, spec
                return
            if "start" not in held or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            start, body = held.pop("start"), b"".join(chunks)
            status = int(start["status"])
            if held["spec"]:
                await _send_json(send, status, complete_spec(json.loads(body)), start)
                return
            shaped = error_body(status, body)
            if status >= 500:
                shaped["error"] = public_message(shaped["error"])
            if status < 500:
                _log(scope, status, shaped["field"])
            await _send_json(send, status, shaped, start)

        return wrapped


def _log(scope: Scope, status: int, field: str | None) -> None:
    """One line per refused request: no body, no customer id."""
    where = f" ({field})" if field else ""
    logger.info("%s %s answered %d%s", scope["method"], route_of(scope["path"]), status, where)


async def _send_json(send: Send, status: int, content: Any, start: Message | None = None) -> None:
    body = json.dumps(content).encode()
    headers = [
        (k, v)
        for k, v in (start or {}).get("headers", [])
        if k.lower() not in (b"content-length", b"content-type")
    ]
    headers += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then waits for the disconnect."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
