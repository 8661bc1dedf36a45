"""SIGTERM under load: ``/readyz`` turns 503 at once, every request is still answered through the
drain, in-flight requests finish, and ``retain serve`` exits 0."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable

import httpx
import pytest

from retain.core.settings import Settings
from serving.process import running_service

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DRAIN_S = 3.0


class Clients:
    """Client threads scoring one customer in a loop until told to stop, each request kept as
    (sent, answered, status or the error's name); one more thread polls ``/readyz``."""

    def __init__(self, url: str, customer: int, clients: int = 4) -> None:
        self.url, self.customer = url, customer
        self.requests: list[tuple[float, float, int | str]] = []
        self.readyz: list[tuple[float, int | str]] = []
        self.stop = threading.Event()
        self._threads = [threading.Thread(target=self._score) for _ in range(clients)]
        self._threads.append(threading.Thread(target=self._ready))

    def _score(self) -> None:
        with httpx.Client(timeout=30) as http:
            while not self.stop.is_set():
                sent = time.monotonic()
                try:
                    r = http.post(f"{self.url}/churn_score", json={"customer_ids": [self.customer]})
                    status: int | str = r.status_code
                except httpx.HTTPError as e:
                    status = type(e).__name__
                    time.sleep(0.01)
                self.requests.append((sent, time.monotonic(), status))

    def _ready(self) -> None:
        while not self.stop.is_set():
            try:
                status: int | str = httpx.get(f"{self.url}/readyz", timeout=5).status_code
            except httpx.HTTPError as e:
                status = type(e).__name__
            # When the answer came: a probe sent just before the signal may be answered after it.
            self.readyz.append((time.monotonic(), status))
            time.sleep(0.05)

    def __enter__(self) -> Clients:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for t in self._threads:
            t.join()


def test_sigterm_drains_without_a_reset(own_bank: Callable[[str], Settings], ids) -> None:
    own = own_bank(f"drain_s = {DRAIN_S}")
    with running_service(own.home) as service, Clients(service.url, ids["current"][0]) as load:
        time.sleep(1)  # under load
        signalled = time.monotonic()
        service.process.send_signal(signal.SIGTERM)  # to retain serve alone, as a supervisor does
        status = service.process.wait(timeout=DRAIN_S + 60)
        stopped = time.monotonic()
    not_ready = [t for t, s in load.readyz if t > signalled and s == 503]
    assert not_ready, f"/readyz never answered 503: {sorted({s for _, s in load.readyz})}"
    assert not_ready[0] - signalled < 1
    assert all(s == 200 for t, s in load.readyz if t < signalled)
    # A load balancer stops sending once /readyz is 503; everything sent until the drain ends is
    # answered.
    drained = [(sent, s) for sent, _, s in load.requests if sent < signalled + DRAIN_S - 0.2]
    failed = [(round(sent - signalled, 2), s) for sent, s in drained if s != 200]
    assert not failed, f"failed during the drain (s after SIGTERM, status): {failed[:10]}"
    during = [sent for sent, _ in drained if sent > signalled]
    assert len(during) > 20, "the service stopped answering during the drain"
    assert DRAIN_S <= stopped - signalled < DRAIN_S + 30
    assert status == 0
