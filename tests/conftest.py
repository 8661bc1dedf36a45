"""Fixtures shared by every test: an isolated home folder and a way to run the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from retain.core.settings import Settings

RETAIN = str(Path(sys.executable).with_name("retain"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Embedded-profile settings whose home folder is a fresh temporary folder."""
    return Settings(home=tmp_path / "home")


CliRunner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_cli(settings: Settings) -> CliRunner:
    """Run ``retain ARGS`` in a subprocess with ``RETAIN_HOME`` set to the test's home folder."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 600):
        full_env = {**os.environ, "RETAIN_HOME": str(settings.home), **(env or {})}
        return subprocess.run(
            [RETAIN, *args], env=full_env, capture_output=True, text=True, timeout=timeout
        )

    return run
