"""``retain simulate`` on the command line."""

from __future__ import annotations

import json

from retain.core.settings import Settings


def test_it_writes_a_small_bank_and_prints_a_summary(run_cli, settings: Settings) -> None:
    result = run_cli(
        "simulate",
        "--customers",
        "300",
        "--months",
        "6",
        "--seed",
        "3",
        "--drift",
        "fee_change@2023-03",
    )
    assert result.returncode == 0, result.stderr
    assert "annual attrition" in result.stdout
    manifest = json.loads((settings.data_dir / "manifest.json").read_text())
    assert manifest["customers"] == 300 and manifest["drift"] == ["fee_change@2023-03"]
    assert (settings.raw_dir / "monthly" / "part-00000.parquet").exists()


def test_a_negative_customer_count_is_one_line_and_exit_2(run_cli, settings: Settings) -> None:
    result = run_cli("simulate", "--customers", "-5")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --customers must be a positive number, got -5"
    assert not settings.home.exists()


def test_a_home_that_is_a_file_is_one_line_and_exit_2(run_cli, settings: Settings) -> None:
    settings.home.parent.mkdir(parents=True, exist_ok=True)
    settings.home.write_text("not a folder")
    result = run_cli("simulate", "--customers", "10")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "is a file, not a folder" in result.stderr
    assert settings.home.read_text() == "not a folder"


def test_a_home_that_cannot_be_made_is_one_line_and_exit_2(run_cli, settings: Settings) -> None:
    blocker = settings.home.parent / "blocker"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("")
    result = run_cli("simulate", "--customers", "10", env={"RETAIN_HOME": str(blocker / "home")})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [lines[-1]] and lines[0].startswith("error: cannot write to the home folder")
    assert blocker.read_text() == ""


def test_a_bad_drift_is_one_line_and_exit_2(run_cli, settings: Settings) -> None:
    result = run_cli("simulate", "--customers", "10", "--drift", "storm@2023-05")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: unknown drift scenario 'storm'")
    assert not settings.home.exists()
