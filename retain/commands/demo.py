"""``retain demo``: the whole job end to end on the embedded default, one step after another."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated

import typer
from rich.rule import Rule

from retain.commands import features, models, simulate
from retain.commands.common import console, load_settings


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    customers: Annotated[int, typer.Option(help="Customers in the simulated bank.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed of the simulated bank.")] = 7,
) -> None:
    """Simulate a bank, build and serve its features, train and promote the churn model."""
    settings = load_settings()
    console.print(f"retain demo: home folder {settings.home} (profile {settings.profile})")
    steps: list[tuple[str, Callable[[], None]]] = [
        ("simulate the bank", lambda: simulate.simulate(customers=customers, seed=seed)),
        ("build the feature sources", features.build),
        ("apply the Feast feature repo", features.apply),
        ("materialize the online store", features.materialize),
        ("train the churn model", lambda: models.train("churn", seed=seed)),
        ("promote it if it passes the gate", lambda: models.promote("churn")),
    ]
    started = time.perf_counter()
    for i, (title, step) in enumerate(steps, 1):
        console.print(Rule(f"[bold]{i}/{len(steps)} {title}"))
        step()
    console.print(Rule())
    console.print(
        f"demo finished in {time.perf_counter() - started:,.0f}s. Look around:\n"
        f"  feast -c features/repo -f {settings.feast_dir}/feature_store.yaml feature-views list\n"
        f"  mlflow ui --backend-store-uri sqlite:///{settings.mlflow_dir}/mlflow.db"
    )
