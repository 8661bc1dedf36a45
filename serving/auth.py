"""``ApiKeys``: the ASGI middleware that asks every data request for a key with its scope.

Health (``/livez``, ``/readyz``) and the OpenAPI page stay open; everything else needs
``Authorization: Bearer <key>`` once the project has keys (see :mod:`serving.keys`). The key's
name travels with the request (``scope["state"]["api_key"]``) for the audit record.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from serving.keys import KeyRing, Refused, scope_of

logger = logging.getLogger(__name__)


class ApiKeys:
    """ASGI middleware.

    Args:
        app: the ASGI app it wraps.
        ring: the key ring, or a callable giving it (built when the first request arrives, after
            the service has read its settings).
    """

    def __init__(self, app: Any, ring: KeyRing | Callable[[], KeyRing]) -> None:
        self.app = app
        self._ring = ring

    @property
    def ring(self) -> KeyRing:
        if not isinstance(self._ring, KeyRing):
            self._ring = self._ring()
        return self._ring

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        needed = scope_of(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if needed is None:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        header = headers.get(b"authorization", b"").decode("latin-1") or None
        try:
            key = self.ring.check(header, needed)
        except Refused as refused:
            logger.warning("%s %s refused %d: %s", scope["method"], needed, refused.status, refused)
            body = json.dumps({"error": str(refused), "field": None}).encode()
            extra = [(b"www-authenticate", b"Bearer")] if refused.status == 401 else []
            await send(
                {
                    "type": "http.response.start",
                    "status": refused.status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", b"%d" % len(body)),
                        *extra,
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        if key is not None:
            scope.setdefault("state", {})["api_key"] = key.name
        await self.app(scope, receive, send)


def key_ring(refresh_s: float = 5.0) -> KeyRing:
    """The ring of the installation the service runs for (settings from the environment)."""
    from retain.core.settings import Settings
    from serving.decision_log import DecisionLog
    from serving.keys import KeyStore

    settings = Settings.load()
    store = KeyStore(DecisionLog.open(settings).engine, settings.project)
    return KeyRing(store.keys, refresh_s)
