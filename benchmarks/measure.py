"""Run a command in a child process and measure its wall time and peak memory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

RETAIN = str(Path(sys.executable).with_name("retain"))


@dataclass(frozen=True)
class Measurement:
    label: str
    seconds: float
    peak_mib: float
    stderr: str = ""

    def row(self) -> tuple[str, str, str]:
        return (self.label, f"{self.seconds:,.1f}", f"{self.peak_mib:,.0f}")


def run_measured(label: str, args: list[str], env: dict[str, str]) -> Measurement:
    """Run ``args`` to completion; its own peak RSS comes from ``wait4``, not the parent's.

    Raises:
        SystemExit: the command failed; its stderr is shown.
    """
    started = time.perf_counter()
    proc = subprocess.Popen(
        args, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.stderr.write(err.decode(errors="replace")[-3000:])
        raise SystemExit(f"{label}: {' '.join(args)} exited {proc.returncode}")
    return Measurement(label, seconds, usage.ru_maxrss / 1024, err.decode(errors="replace"))


def retain(label: str, *args: str, env: dict[str, str]) -> Measurement:
    """Measure one ``retain`` command."""
    return run_measured(label, [RETAIN, *args], env)
