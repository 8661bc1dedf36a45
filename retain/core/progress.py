"""Progress reporting for long jobs, without tying library code to a terminal."""

from collections.abc import Callable

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` after each unit of work (a chunk, a month, ...)."""


def silent(done: int, total: int) -> None:
    """The default: report nothing."""
