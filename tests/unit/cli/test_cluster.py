"""``--dask-scheduler`` (or the ``dask_scheduler`` setting) refuses a scheduler it cannot reach with
one line and exit status 2, before anything is read or written."""

from __future__ import annotations

import socket

import pytest

from retain.core.errors import ConfigError
from retain.core.settings import Settings
from tests.conftest import CliRunner
from tests.integration.conftest import write_raw_tables

QUICK = {"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"}


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _one_line(done, starts: str) -> None:
    assert done.returncode == 2, done.stderr
    line = done.stderr.strip()
    assert "\n" not in line and "Traceback" not in line, line
    assert line.startswith(f"error: {starts}"), line


@pytest.mark.parametrize("command", [["score"], ["train", "churn"]])
def test_an_unreachable_scheduler_is_one_line(
    run_cli: CliRunner, settings: Settings, command: list[str]
):
    """Given by the option (score) or the setting (training, which first reads the labels, so
    the home holds raw tables): nothing is written."""
    address = f"tcp://127.0.0.1:{_closed_port()}"
    if command == ["score"]:
        done = run_cli(*command, "--dask-scheduler", address, env=QUICK)
    else:
        write_raw_tables(settings.raw_dir, customers=200, months=8, seed=3, parts=1)
        done = run_cli(*command, env={**QUICK, "RETAIN_DASK_SCHEDULER": address})
    _one_line(done, f"cannot reach the Dask scheduler at '{address}'")
    assert not (settings.home / "scores").exists() and not (settings.home / "mlflow").exists()


@pytest.mark.parametrize(
    ("address", "reason"),
    [("not an address", "missing port number"), ("foo://host:1", "unknown address scheme")],
)
def test_a_malformed_address_is_said_at_once(address: str, reason: str):
    from retain.cli.cluster import dask_client

    with (
        pytest.raises(
            ConfigError, match=rf"^cannot reach the Dask scheduler at '{address}' \({reason}"
        ),
        dask_client(address),
    ):
        pass


def test_the_option_applies_to_churn_training_only():
    from retain.cli.models import train

    with pytest.raises(ConfigError, match="^--dask-scheduler applies to the churn model only$"):
        train("uplift", dask_scheduler="tcp://127.0.0.1:1")


def test_the_option_wins_over_the_setting():
    from retain.cli.cluster import scheduler_address

    settings = Settings(dask_scheduler="tcp://a:8786")
    assert scheduler_address(None, settings) == "tcp://a:8786"
    assert scheduler_address(" tcp://b:8786 ", settings) == "tcp://b:8786"
    assert scheduler_address("", settings) == ""
    assert Settings.load({"RETAIN_DASK_SCHEDULER": "tcp://c:1"}).dask_scheduler == "tcp://c:1"
