"""What every command shares: settings, progress bars and console output."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from retain.core.errors import ConfigError
from retain.core.progress import Progress as ProgressFn
from retain.core.settings import Settings

console = Console(stderr=True)
"""Progress and messages go to stderr; results a script may parse go to stdout."""


def load_settings() -> Settings:
    return Settings.load()


def check_port(port: int) -> None:
    """Raises ConfigError: ``port`` is not a TCP port number."""
    if not 1 <= port <= 65535:
        raise ConfigError(f"--port {port} is not a port number (1..65535)")


@contextmanager
def progress_bar(description: str, total: int | None = None) -> Iterator[ProgressFn]:
    """A rich progress bar with one task; yields the ``progress(done, total)`` callback to pass
    to a long job."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task(description, total=total)

        def report(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield report


def quiet_mlflow(feast: bool = False) -> None:
    """MLflow logs database migrations at INFO; stderr is for progress and errors.

    ``feast``: the command uses Feast, which re-arms deprecation warnings when imported; it is
    imported first so the filter set here stays on top.
    """
    import logging
    import warnings

    if feast:
        import feast as _  # noqa: F401

    import mlflow  # noqa: F401  # mlflow sets its loggers' levels when imported: import first
    import sqlalchemy  # noqa: F401  # it arms its own deprecation warnings when imported

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    # MLflow's use of SQLAlchemy's deprecated features is not the user's business.
    warnings.filterwarnings("ignore", module="mlflow.store")
    logging.getLogger("alembic").setLevel(logging.WARNING)
