"""``retain webhook`` refuses, in one line, what cannot work: no shared secret, no tracking
server to deliver the webhooks."""

from __future__ import annotations

from tests.conftest import CliRunner

URL = ["webhook", "--url", "http://127.0.0.1:3000/models/refresh"]


def test_a_short_secret_is_one_line_and_exit_2(run_cli: CliRunner) -> None:
    done = run_cli(*URL, env={"RETAIN_WEBHOOK_SECRET": "short"})
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1
    assert "RETAIN_WEBHOOK_SECRET must hold a secret of at least 32 characters" in done.stderr


def test_without_a_tracking_server_it_says_to_start_one(run_cli: CliRunner) -> None:
    done = run_cli(*URL, env={"RETAIN_WEBHOOK_SECRET": "x" * 40, "RETAIN_MLFLOW_URL": ""})
    assert done.returncode == 2, done.stderr
    assert "start `retain tracking-server` and set mlflow_url" in done.stderr
