"""``retain simulate``: write the simulated bank's tables under the home folder."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from retain.cli.common import console, load_settings, progress_bar


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate)


def simulate(
    customers: Annotated[int, typer.Option(help="Number of customers.")] = 10_000,
    months: Annotated[int, typer.Option(help="Months of history.")] = 24,
    start: Annotated[str, typer.Option(help="First month, YYYY-MM.")] = "2023-01",
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same bank.")] = 7,
    drift: Annotated[
        list[str] | None,
        typer.Option(
            help="Drift scenario from a month on, SCENARIO@YYYY-MM (repeatable): "
            "rate_war, mobile_shift, fee_change."
        ),
    ] = None,
    chunk_size: Annotated[
        int, typer.Option(help="Customers simulated and written together (bounds memory).")
    ] = 50_000,
) -> None:
    """Simulate a retail bank: customers, monthly behaviour, holdings, churn and campaigns."""
    from retain.core.settings import check_home
    from simulator import Drift, WorldConfig
    from simulator import simulate as run

    config = WorldConfig(
        customers=customers,
        months=months,
        start=start,
        seed=seed,
        chunk_size=chunk_size,
        drift=tuple(Drift.parse(d) for d in drift or ()),
    )
    settings = load_settings()
    check_home(settings)
    with progress_bar("simulating") as progress:
        manifest = run(config, settings, progress)

    table = Table(title=f"simulated bank {manifest.start}..{manifest.end}, seed {manifest.seed}")
    table.add_column("")
    table.add_column("value", justify="right")
    for name, count in manifest.row_counts.items():
        table.add_row(f"rows: {name}", f"{count:,}")
    rates = manifest.headline
    table.add_row("annual attrition", f"{rates.annual_attrition:.1%}")
    table.add_row("products per customer", f"{rates.products_per_customer:.2f}")
    table.add_row("retention offer response", f"{rates.retention_response:.1%}")
    table.add_row("cross-sell response", f"{rates.cross_sell_response:.1%}")
    table.add_row("randomised share of contacts", f"{rates.randomized_share:.1%}")
    table.add_row("audiences held out (not contacted)", f"{rates.holdout_share:.1%}")
    table.add_row("drift", ", ".join(manifest.drift) or "none")
    table.add_row("written to", manifest.data_dir)
    Console().print(table)
    console.print(
        f"[green]done[/green]: {manifest.customers:,} customers x {manifest.months} months"
    )
