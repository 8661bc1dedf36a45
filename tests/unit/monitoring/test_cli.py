"""``retain monitor``'s answers to a user's mistakes: one line and exit status 2."""

from __future__ import annotations

from retain.core.settings import Settings


def test_bad_window_syntax_is_one_line_and_exit_2(run_cli, settings: Settings) -> None:
    result = run_cli("monitor", "--current", "2024-1..2024-03")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: bad --current '2024-1..2024-03': use START..END as YYYY-MM..YYYY-MM"
    )
    assert not settings.home.exists()


def test_no_champion_is_one_line_and_exit_2(run_cli, settings: Settings) -> None:
    result = run_cli("monitor", "--no-mlflow")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: no retain-churn@champion: run `retain train churn`")
    assert "Traceback" not in result.stderr


def test_a_bad_fail_on_is_one_line_and_exit_2(run_cli, settings: Settings) -> None:
    result = run_cli("monitor", "--fail-on", "sometimes")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: bad --fail-on 'sometimes': use one of never, warn, alert"
    )
    assert not settings.home.exists()
