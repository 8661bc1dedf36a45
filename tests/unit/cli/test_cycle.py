"""`retain cycle` refuses bad input with one line and exit status 2, before anything changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from retain.cli.cycle import cycle
from retain.core.errors import ConfigError
from retain.core.settings import Settings
from tests.conftest import CliRunner


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"months": 0}, "--months must be at least 1"),
        ({"drift": ["heatwave@2024-01"]}, "unknown drift scenario 'heatwave'"),
        ({"drift": ["rate_war"]}, "--drift must look like SCENARIO@YYYY-MM"),
        ({"ahead": 0}, "--ahead must be at least 1 month"),
        ({"mapping": Path("/nonexistent/bank.yaml")}, "--mapping /nonexistent/bank.yaml: no such"),
        ({"mapping": Path("m.yaml"), "months": 3}, "--months applies to a simulated bank"),
        (
            {"mapping": Path(__file__), "drift": ["rate_war@2024-01"]},
            "--drift applies to a simulated bank",
        ),
        ({}, "no new data:"),
    ],
)
def test_bad_input_is_refused_before_any_step(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, options: dict[str, Any], message: str
):
    monkeypatch.setenv("RETAIN_HOME", str(settings.home))
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        cycle(**options)
    assert not settings.home.exists() or not any(settings.home.iterdir())


def test_a_simulated_bank_without_a_champion_is_one_line_and_left_as_it_was(
    run_cli: CliRunner, settings: Settings
):
    made = run_cli("simulate", "--customers", "200", "--months", "4")
    assert made.returncode == 0, made.stderr
    manifest = (settings.data_dir / "manifest.json").read_text()
    done = run_cli("cycle")
    assert done.returncode == 2
    line = done.stderr.strip()
    assert line.startswith("error: no retain-churn@champion: run `retain train churn`"), line
    assert "\n" not in line
    assert (settings.data_dir / "manifest.json").read_text() == manifest
    assert not (settings.home / "world").exists()
