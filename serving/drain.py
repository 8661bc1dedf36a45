"""Graceful shutdown: on SIGTERM, answer ``/readyz`` 503 and keep serving for ``drain_s`` seconds,
then stop the server (in-flight requests finish).

``bentoml serve`` on its own stops accepting at SIGTERM and closes its socket, so a load balancer
that still routes to it sees connection resets. ``retain serve`` therefore stays the parent of
``bentoml serve``: a SIGTERM to it creates the drain file (the workers' readiness check sees it and
answers 503, so the load balancer takes the instance out), waits ``drain_s`` seconds while the
workers keep answering, then forwards SIGTERM. SIGINT (Ctrl-C) and a second SIGTERM stop at once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

DRAIN_ENV = "RETAIN_DRAIN_FILE"
"""The environment variable naming the drain file the workers check."""


def draining() -> bool:
    """Whether this server has been told to stop (its drain file exists)."""
    path = os.environ.get(DRAIN_ENV)
    return bool(path) and os.path.exists(path)  # type: ignore[arg-type]


def serve_with_drain(
    args: Sequence[str],
    env: dict[str, str],
    drain_file: Path,
    drain_s: float,
    say: Callable[[str], None] = print,
) -> int:
    """Run ``args`` (``bentoml serve ...``) as a child until it exits; returns its exit status.

    A SIGTERM creates ``drain_file`` and forwards SIGTERM ``drain_s`` seconds later; SIGINT and a
    second SIGTERM are forwarded at once.
    """
    drain_file.parent.mkdir(parents=True, exist_ok=True)
    drain_file.unlink(missing_ok=True)
    received: list[int] = []

    def on_signal(sig: int, _: object) -> None:
        received.append(sig)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        proc = subprocess.Popen(list(args), env={**env, DRAIN_ENV: str(drain_file)})
        stop_at: float | None = None
        forwarded = False
        while True:
            try:
                status = proc.wait(timeout=0.05)
                break
            except subprocess.TimeoutExpired:
                pass
            while received:
                sig = received.pop(0)
                if sig == signal.SIGTERM and stop_at is None and drain_s > 0:
                    drain_file.touch()
                    stop_at = time.monotonic() + drain_s
                    say(f"SIGTERM: /readyz answers 503, draining for {drain_s:g}s, then stopping")
                elif not forwarded or sig == signal.SIGINT:
                    proc.send_signal(sig)
                    forwarded = True
            if stop_at is not None and not forwarded and time.monotonic() >= stop_at:
                proc.send_signal(signal.SIGTERM)
                forwarded = True
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        drain_file.unlink(missing_ok=True)
    return status if status >= 0 else 128 - status
