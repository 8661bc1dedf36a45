"""The churn service as a child process: start ``retain serve``, wait until ready, stop it.

The demo, the benchmarks and the tests all need a real ``bentoml serve``; they share this.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from retain.core.errors import RetainError

RETAIN = str(Path(sys.executable).with_name("retain"))


class ServiceStartError(RetainError):
    """The service exited or was not ready in time; the message points at its log."""


@dataclass(frozen=True)
class RunningService:
    url: str
    pid: int
    ready_after_s: float
    """Seconds from launch to the first ``/readyz`` 200."""
    process: subprocess.Popen[bytes]
    """``retain serve`` itself: a SIGTERM to it alone drains before stopping."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_service(
    home: Path,
    port: int | None = None,
    *,
    log: Path | None = None,
    timeout_s: float = 240,
    keep: bool = False,
) -> Iterator[RunningService]:
    """Run ``retain serve`` on ``home`` until the block ends (or on, with ``keep``).

    The server runs in its own process group, so stopping it stops its workers too.

    Raises:
        ServiceStartError: it exited while starting, or was not ready within ``timeout_s``.
    """
    import httpx

    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    log = log or home / "serve.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    launched = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [RETAIN, "serve", "--port", str(port)],
            env={**os.environ, "RETAIN_HOME": str(home)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stop = not keep
    try:
        while True:
            if proc.poll() is not None:
                raise ServiceStartError(f"the service exited while starting; see {log}")
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.perf_counter() - launched > timeout_s:
                raise ServiceStartError(
                    f"the service was not ready after {timeout_s:.0f}s; see {log}"
                )
            time.sleep(0.2)
        yield RunningService(url, proc.pid, time.perf_counter() - launched, proc)
    except BaseException:
        stop = True
        raise
    finally:
        if stop:
            stop_service(proc)


def stop_service(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the whole group (the server and its workers, so no drain), SIGKILL if it
    lingers."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
