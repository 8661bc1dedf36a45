"""``retain simulate``: write the simulated bank's tables under the home folder."""

from __future__ import annotations

from typing import Annotated

import typer

from retain.commands.common import console, load_settings, progress_bar


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate)


def simulate(
    customers: Annotated[int, typer.Option(help="Number of customers.")] = 10_000,
    months: Annotated[int, typer.Option(help="Months of history.")] = 24,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same bank.")] = 7,
) -> None:
    """Simulate a retail bank: customers, monthly behaviour, holdings, churn and campaigns."""
    raise NotImplementedError
