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

from retain.settings import Settings

console = Console(stderr=True)
"""Progress and messages go to stderr; results a script may parse go to stdout."""


def load_settings() -> Settings:
    return Settings.load()


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Progress]:
    """A rich progress bar with one task; call ``bar.advance(0, n)`` or ``bar.update(0, ...)``."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as bar:
        bar.add_task(description, total=total)
        yield bar
