"""The webhook's signature check, against MLflow's own signing code."""

from __future__ import annotations

import json

import pytest

from retain.core.errors import ConfigError
from serving.webhooks import (
    MAX_AGE_S,
    WebhookRefused,
    announce_change,
    change_stamp,
    check_secret,
    concerns,
    signature,
    verify,
)

SECRET = "s" * 40
NOW = 1_700_000_000


def _delivery(secret: str = SECRET, stamp: int = NOW, body: bytes | None = None):
    from mlflow.webhooks.delivery import _generate_hmac_signature

    text = json.dumps({"entity": "model_version_alias", "action": "created", "data": {}})
    body = body if body is not None else text.encode()
    headers = {
        "x-mlflow-delivery-id": "d-1",
        "x-mlflow-timestamp": str(stamp),
        "x-mlflow-signature": _generate_hmac_signature(secret, "d-1", str(stamp), body.decode()),
    }
    return headers, body


def test_a_delivery_signed_by_mlflow_with_the_secret_is_accepted():
    headers, body = _delivery()
    assert verify(SECRET, headers, body, NOW + 5)["entity"] == "model_version_alias"
    assert signature(SECRET, "d-1", str(NOW), body) == headers["x-mlflow-signature"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda h, b: (h | {"x-mlflow-signature": "v1,AAAA"}, b), "does not match"),
        (lambda h, b: ({k: v for k, v in h.items() if "signature" not in k}, b), "expected"),
        (lambda h, b: (h, b + b" "), "does not match"),  # the body changed on the way
        (lambda h, b: (h | {"x-mlflow-delivery-id": "d-2"}, b), "does not match"),
    ],
)
def test_a_delivery_not_signed_with_the_secret_is_refused(change, message):
    headers, body = change(*_delivery())
    with pytest.raises(WebhookRefused, match=message) as refused:
        verify(SECRET, headers, body, NOW)
    assert refused.value.status == 401


def test_another_secret_and_an_old_delivery_are_refused():
    with pytest.raises(WebhookRefused, match="does not match"):
        verify(SECRET, *_delivery(secret="t" * 40), NOW)
    with pytest.raises(WebhookRefused, match="replay"):
        verify(SECRET, *_delivery(stamp=NOW - int(MAX_AGE_S) - 1), NOW)
    with pytest.raises(WebhookRefused, match="not a JSON object") as refused:
        verify(SECRET, *_delivery(body=b"[1]"), NOW)
    assert refused.value.status == 400


def test_only_alias_events_of_the_served_models_concern_the_service():
    names = {"bank_a.retain-churn", "bank_a.retain-uplift"}
    alias = {"entity": "model_version_alias", "data": {"name": "bank_a.retain-churn"}}
    assert concerns(alias, names)
    assert not concerns(alias | {"data": {"name": "retain-churn"}}, names)  # another project
    assert not concerns({"entity": "model_version", "data": alias["data"]}, names)
    assert not concerns({"entity": "model_version_alias"}, names)


def test_a_short_or_missing_secret_is_a_configuration_error():
    with pytest.raises(ConfigError, match="at least 32 characters"):
        check_secret("short")
    with pytest.raises(ConfigError):
        check_secret(None)
    assert check_secret(SECRET) == SECRET


def test_a_change_announced_by_one_worker_is_seen_by_the_others(tmp_path):
    environ = {"RETAIN_DRAIN_FILE": str(tmp_path / "draining")}
    before = change_stamp(environ)
    announce_change(environ)
    first = change_stamp(environ)
    announce_change(environ)
    assert before == "" and first and change_stamp(environ) not in ("", first)
    assert change_stamp({}) == ""  # outside `retain serve`: no file, nothing shared
    announce_change({})
