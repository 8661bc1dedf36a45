"""MLflow registry webhooks: a champion moved on the tracking server reaches the service at once.

``retain webhook --url URL`` registers a webhook on the MLflow tracking server for the model
version alias events (created, deleted). The server then POSTs each event to the service's
``/models/refresh``, signed the Standard Webhooks way: ``X-MLflow-Signature: v1,<base64 of
HMAC-SHA256(secret, "<delivery id>.<timestamp>.<body>")>`` with ``X-MLflow-Delivery-Id`` and
``X-MLflow-Timestamp`` (``mlflow/webhooks/delivery.py``). The service checks the signature with
the shared secret (``RETAIN_WEBHOOK_SECRET``) in constant time, refuses a timestamp more than
``MAX_AGE_S`` away from its clock (a replayed delivery), checks the champions at once and tells
the server's other workers to (a file they watch). Polling every ``model_poll_s`` stays: a
delivery that never arrives (server down, network) is caught by the next check.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retain.core.errors import ConfigError
from retain.core.settings import Settings
from serving.drain import DRAIN_ENV

SECRET_ENV = "RETAIN_WEBHOOK_SECRET"
"""The environment variable holding the secret shared with the MLflow webhook."""
MIN_SECRET_CHARS = 32
SIGNATURE_HEADER = "x-mlflow-signature"
TIMESTAMP_HEADER = "x-mlflow-timestamp"
DELIVERY_HEADER = "x-mlflow-delivery-id"
SIGNATURE_VERSION = "v1"
MAX_AGE_S = 300.0
"""A delivery signed further than this from the service's clock is refused (replay)."""
MAX_BODY_BYTES = 65_536
"""MLflow's payloads are a few hundred bytes."""
EVENTS = ("model_version_alias.created", "model_version_alias.deleted")
"""The registry events that can change what the service should answer with."""


class WebhookRefused(Exception):
    """The delivery is not signed with the shared secret, or too old; ``status`` is the answer."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


def webhook_secret(environ: Mapping[str, str] | None = None) -> str | None:
    """The shared secret, or None when webhooks are off (the variable unset or empty)."""
    value = (os.environ if environ is None else environ).get(SECRET_ENV, "")
    return value or None


def check_secret(secret: str | None) -> str:
    """The secret when it is long enough to share with MLflow.

    Raises:
        ConfigError: it is missing or shorter than ``MIN_SECRET_CHARS``.
    """
    if not secret or len(secret) < MIN_SECRET_CHARS:
        raise ConfigError(
            f"{SECRET_ENV} must hold a secret of at least {MIN_SECRET_CHARS} characters "
            f"(make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'), "
            "the same for the service and this command"
        )
    return secret


def signature(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    """The ``X-MLflow-Signature`` value MLflow sends for this delivery."""
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: float) -> dict[str, Any]:
    """The delivery's payload, once its signature and timestamp are checked.

    Args:
        headers: the request's headers, names in lower case.
        now: the service's clock (Unix seconds).

    Raises:
        WebhookRefused: a header is missing, the signature is not the secret's (compared in
            constant time), the timestamp is more than ``MAX_AGE_S`` from ``now``, or the body
            is not a JSON object.
    """
    delivery = headers.get(DELIVERY_HEADER, "")
    stamp = headers.get(TIMESTAMP_HEADER, "")
    given = headers.get(SIGNATURE_HEADER, "")
    if not (delivery and stamp and given):
        raise WebhookRefused(
            f"a signed MLflow webhook delivery is expected ({SIGNATURE_HEADER}, "
            f"{TIMESTAMP_HEADER}, {DELIVERY_HEADER})"
        )
    expected = signature(secret, delivery, stamp, body)
    if not hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace")):
        raise WebhookRefused("the webhook signature does not match the shared secret")
    try:
        age = abs(now - int(stamp))
    except ValueError:
        raise WebhookRefused(f"{TIMESTAMP_HEADER} is not a Unix time") from None
    if age > MAX_AGE_S:
        raise WebhookRefused(f"the delivery was signed {age:.0f}s from now: refused as a replay")
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise WebhookRefused("the webhook body is not a JSON object", 400)
    return payload


def concerns(payload: Mapping[str, Any], registered_names: Iterable[str]) -> bool:
    """Whether an event can change the served models: an alias of one of them moved."""
    data = payload.get("data")
    name = data.get("name") if isinstance(data, dict) else None
    return payload.get("entity") == "model_version_alias" and name in set(registered_names)


def changes_file(environ: Mapping[str, str] | None = None) -> Path | None:
    """The file whose change tells every worker of this server to check the champions (beside
    the drain file of ``retain serve``); None outside ``retain serve``."""
    drain = (os.environ if environ is None else environ).get(DRAIN_ENV)
    return Path(drain).with_name("models-changed") if drain else None


def announce_change(environ: Mapping[str, str] | None = None) -> None:
    """Tell the other workers (they compare :func:`change_stamp` every few tenths of a second)."""
    path = changes_file(environ)
    if path is not None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(f"{os.getpid()} {os.urandom(8).hex()}\n")
        tmp.replace(path)  # a new inode: a reader never sees half a stamp


def change_stamp(environ: Mapping[str, str] | None = None) -> str:
    """What the changes file holds now ('' when there is none)."""
    path = changes_file(environ)
    try:
        return path.read_text() if path is not None else ""
    except OSError:
        return ""


@dataclass(frozen=True)
class Registered:
    """A webhook as the tracking server holds it, and how its test delivery went."""

    webhook_id: str
    name: str
    url: str
    replaced: bool
    test_status: int | None
    test_error: str | None


def check_tracking_server(settings: Settings) -> None:
    """Raises ConfigError: no tracking server is set (only a server delivers webhooks)."""
    if not settings.mlflow_url.startswith(("http://", "https://")):
        raise ConfigError(
            "webhooks are delivered by an MLflow tracking server: start `retain tracking-server` "
            "and set mlflow_url (RETAIN_MLFLOW_URL) to its URL"
        )


def register_webhook(settings: Settings, url: str, secret: str, name: str) -> Registered:
    """Create (or replace, by name) the webhook that tells the service at ``url`` of alias moves,
    then have the server send its test delivery.

    Raises:
        ConfigError: no tracking server is set (only a server delivers webhooks), or the server
            refused the webhook (its URL scheme or address not allowed there: see the message).
    """
    check_tracking_server(settings)
    from mlflow.exceptions import MlflowException

    from training.tracking import client

    c = client(settings)
    try:
        existing = [w for w in c.list_webhooks(max_results=1000) if w.name == name]
        for old in existing:
            c.delete_webhook(old.webhook_id)
        made = c.create_webhook(
            name=name,
            url=url,
            events=list(EVENTS),
            description=f"retain ({settings.project}): check the champions at once",
            secret=secret,
        )
        test = c.test_webhook(made.webhook_id)
    except MlflowException as e:
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(f"the MLflow server refused the webhook: {message}") from e
    return Registered(
        made.webhook_id,
        made.name,
        made.url,
        bool(existing),
        test.response_status,
        None if test.success else (test.error_message or test.response_body or "failed"),
    )
