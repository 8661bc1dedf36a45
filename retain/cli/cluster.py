"""The Dask cluster a command runs on: ``--dask-scheduler ADDRESS``, else the ``dask_scheduler``
setting (``RETAIN_DASK_SCHEDULER``), else none (this machine)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from retain.core.errors import ConfigError
from retain.core.settings import Settings

if TYPE_CHECKING:
    from distributed import Client

SchedulerOption = Annotated[
    str | None,
    typer.Option(
        "--dask-scheduler",
        help="Run on this Dask cluster (tcp://host:8786; default: the dask_scheduler setting, "
        "else this machine). Its workers must see the same RETAIN_HOME and MLflow store.",
    ),
]


def scheduler_address(option: str | None, settings: Settings) -> str:
    """The scheduler to use: the option when given, else the setting ("" = none)."""
    return (option if option is not None else settings.dask_scheduler).strip()


@contextmanager
def dask_client(address: str) -> Iterator[Client]:
    """A client of the scheduler at ``address`` with at least one worker, closed on exit. The
    connection gives up after ``distributed.comm.timeouts.connect`` (30 s; the environment
    variable ``DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT`` changes it).

    Raises:
        ConfigError: the scheduler cannot be reached, or has no workers.
    """
    from distributed import Client
    from distributed.comm.addressing import get_address_host_port

    try:
        # An address that cannot be parsed is said at once: a Client that failed on it would
        # wait a minute to close when it is collected.
        get_address_host_port(address)
        client = Client(address, set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as e:
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ConfigError(
            f"cannot reach the Dask scheduler at {address!r} ({reason}): start it "
            "(`dask scheduler`) or fix --dask-scheduler / RETAIN_DASK_SCHEDULER"
        ) from e
    try:
        if not client.nthreads():
            raise ConfigError(
                f"the Dask scheduler at {address!r} has no workers: start some with "
                f"`dask worker {address}`"
            )
        yield client
    finally:
        client.close()
