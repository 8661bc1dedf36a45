"""``serve_with_drain``: a SIGTERM marks the server draining, waits ``drain_s``, then forwards it;
SIGINT and a second SIGTERM stop at once; the server's exit status is the command's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from serving.drain import DRAIN_ENV, draining

# A server that notes when it was stopped (and whether it saw the drain file then).
SERVER = """
import os, signal, sys, time
def stop(sig, _):
    flag = os.path.exists(os.environ["DRAIN_ENV"])
    open(sys.argv[1], "w").write(f"{sig} {time.monotonic()} {flag}")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
open(sys.argv[1] + ".up", "w").write("")
time.sleep(60)
""".replace("DRAIN_ENV", DRAIN_ENV)

PARENT = """
import sys
from pathlib import Path
from serving.drain import serve_with_drain
args = [sys.executable, "-c", sys.argv[1], sys.argv[2]]
sys.exit(serve_with_drain(args, {}, Path(sys.argv[3]), float(sys.argv[4]), say=print))
"""


def _start(tmp_path: Path, drain_s: float) -> tuple[subprocess.Popen[bytes], Path, Path]:
    noted, flag = tmp_path / "stopped", tmp_path / "run" / "draining"
    proc = subprocess.Popen(
        [sys.executable, "-c", PARENT, SERVER, str(noted), str(flag), str(drain_s)],
        cwd=Path(__file__).parents[3],
    )
    deadline = time.monotonic() + 20
    while not Path(f"{noted}.up").exists():
        assert time.monotonic() < deadline and proc.poll() is None, "the server did not start"
        time.sleep(0.02)
    return proc, noted, flag


def test_sigterm_drains_then_stops_the_server(tmp_path: Path) -> None:
    proc, noted, flag = _start(tmp_path, 1.0)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 5
    while not flag.exists():
        assert time.monotonic() < deadline, "no drain file"
        time.sleep(0.01)
    assert time.monotonic() - sent < 0.5
    assert proc.wait(timeout=10) == 0
    sig, at, saw_flag = noted.read_text().split()
    assert int(sig) == signal.SIGTERM and saw_flag == "True"
    assert 1.0 <= float(at) - sent < 2.0
    assert not flag.exists()  # removed once the server stopped


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_a_second_sigterm_stops_at_once(tmp_path: Path, sig: int) -> None:
    proc, noted, _ = _start(tmp_path, 30.0)
    sent = time.monotonic()
    if sig == signal.SIGTERM:
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
    proc.send_signal(sig)
    assert proc.wait(timeout=10) == 0
    assert int(noted.read_text().split()[0]) == sig
    assert time.monotonic() - sent < 5


def test_draining_follows_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flag = tmp_path / "draining"
    monkeypatch.delenv(DRAIN_ENV, raising=False)
    assert not draining()
    monkeypatch.setenv(DRAIN_ENV, str(flag))
    assert not draining()
    flag.touch()
    assert draining()
    os.remove(flag)
    assert not draining()
