"""Clients that keep a running service busy: each thread sends one kind of request in a loop on
its own keep-alive connection (httpx) and keeps every answer's time, status, latency and body."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

Call = Callable[[httpx.Client, random.Random], httpx.Response]
"""One request of an endpoint (a client and the thread's own random stream)."""


@dataclass(frozen=True)
class Answer:
    endpoint: str
    sent: float
    """``time.monotonic()`` when the request was sent."""
    seconds: float
    status: int
    """The HTTP status; 0 when no answer came (connection refused or reset, timeout)."""
    body: Any
    """The decoded JSON body (None where it is not JSON), or the client's error."""


@dataclass
class Load:
    """``clients`` threads per endpoint, all sending at once until the block ends."""

    url: str
    calls: dict[str, Call]
    clients: int = 16
    seed: int = 0
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _run(self, endpoint: str, call: Call, rng: random.Random) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            while not self._stop.is_set():
                sent = time.monotonic()
                try:
                    r = call(http, rng)
                    status, body = r.status_code, _json(r)
                except httpx.HTTPError as e:
                    status, body = 0, f"{type(e).__name__}: {e}"
                # list.append is atomic: no lock needed between the threads
                self.answers.append(Answer(endpoint, sent, time.monotonic() - sent, status, body))

    def __enter__(self) -> Load:
        for i, (endpoint, call) in enumerate(sorted(self.calls.items())):
            for j in range(self.clients):
                rng = random.Random(self.seed * 1_000_003 + i * 1_000 + j)
                thread = threading.Thread(target=self._run, args=(endpoint, call, rng))
                self._threads.append(thread)
                thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()

    def of(self, endpoint: str, since: float = 0.0, until: float = float("inf")) -> list[Answer]:
        """The answers of one endpoint to requests sent in ``[since, until)``."""
        return [a for a in list(self.answers) if a.endpoint == endpoint and since <= a.sent < until]


def _json(r: httpx.Response) -> Any:
    try:
        return r.json()
    except ValueError:
        return None


def summary(answers: list[Answer], seconds: float) -> dict[str, float]:
    """Requests answered, per second, and p50/p99 latency in milliseconds."""
    latencies = np.array([a.seconds for a in answers]) * 1000
    return {
        "answered": len(answers),
        "per_s": len(answers) / seconds,
        "p50_ms": float(np.percentile(latencies, 50)) if len(answers) else float("nan"),
        "p99_ms": float(np.percentile(latencies, 99)) if len(answers) else float("nan"),
    }


def table(stats: dict[str, dict[str, float]]) -> str:
    """The summaries as lines for the test's output (``pytest -s`` or a failure shows them)."""
    lines = [f"{'endpoint':<16} {'answered':>9} {'per s':>7} {'p50 ms':>8} {'p99 ms':>8}"]
    for name, s in sorted(stats.items()):
        lines.append(
            f"{name:<16} {s['answered']:>9.0f} {s['per_s']:>7.1f} {s['p50_ms']:>8.1f} "
            f"{s['p99_ms']:>8.1f}"
        )
    return "\n".join(lines)
