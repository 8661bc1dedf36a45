"""``retain demo``: the whole path end to end on the embedded default, step by step.

Simulate a bank, build and serve its features, train and promote the churn, propensity and uplift
models, then start the service, ask it about every current customer, show the riskiest with their
reasons, and ask for the next best action of each of them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

import typer
from rich.console import Console
from rich.rule import Rule
from rich.table import Table

from retain.cli import features, models, simulate
from retain.cli.common import console, load_settings
from retain.core.errors import RetainError
from retain.core.settings import Settings
from serving.process import free_port

if TYPE_CHECKING:
    from retain.core.ids import BankId

BATCH = 1000
RECOMMEND_SAMPLE = 300
"""Customers the demo asks /recommend about (each decision is logged as a contact)."""


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    customers: Annotated[
        int | None,
        typer.Option(help="Customers in the simulated bank (default 10,000; 2,000 with --months)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the simulated bank.")] = 7,
    months: Annotated[
        int,
        typer.Option(
            help="Instead: live N months with `retain cycle`, a drift scenario switched on "
            "midway, and compare the old and new champion's realised AUC (0: the usual demo)."
        ),
    ] = 0,
    scenario: Annotated[
        str, typer.Option(help="With --months: rate_war, mobile_shift or fee_change.")
    ] = "rate_war",
    port: Annotated[int, typer.Option(help="Port for the scoring service (0: any free port).")] = 0,
    keep_serving: Annotated[
        bool, typer.Option(help="Leave the scoring service running at the end.")
    ] = False,
    top: Annotated[int, typer.Option(help="Riskiest customers to show.")] = 8,
) -> None:
    """Simulate a bank, build its features, train and promote its models, serve and call them.
    With --months: replay months of a bank's life, a drift switched on midway."""
    from simulator.config import SCENARIOS

    if months < 0 or months == 1:
        raise RetainError(f"--months must be 0 (the usual demo) or at least 2, got {months}")
    if scenario not in SCENARIOS:
        raise RetainError(f"unknown --scenario {scenario!r}: use one of {', '.join(SCENARIOS)}")
    settings = load_settings()
    console.print(f"retain demo: home folder {settings.home} (profile {settings.profile})")
    if months:
        from retain.cli.replay_demo import replay

        replay(settings, customers or 2_000, seed, months, scenario)
        return
    size = customers or 10_000
    port = port or free_port()
    steps: list[tuple[str, Callable[[], None]]] = [
        ("simulate the bank", lambda: simulate.simulate(customers=size, seed=seed)),
        ("build the feature sources", features.build),
        ("apply the Feast feature repo", features.apply),
        ("materialize the online store", features.materialize),
        ("train the churn model", lambda: models.train("churn", seed=seed)),
        ("promote it if it passes the gate", lambda: _promote(settings, "churn")),
        ("train the product propensity model", lambda: models.train("propensity", seed=seed)),
        ("promote it if it passes the gate", lambda: _promote(settings, "propensity")),
        (
            "train the retention uplift model, promote it if it helps",
            lambda: _train_uplift(settings, seed),
        ),
        (
            "serve: score every customer, show the riskiest, recommend",
            lambda: _serve_and_call(settings, port, top, keep_serving),
        ),
    ]
    started = time.perf_counter()
    for i, (title, step) in enumerate(steps, 1):
        console.print(Rule(f"[bold]{i}/{len(steps)} {title}"))
        step()
    console.print(Rule())
    console.print(
        f"demo finished in {time.perf_counter() - started:,.0f}s. Look around:\n"
        f"  RETAIN_HOME={settings.home} feast -c features/repo "
        f"-f {settings.feast_dir}/feature_store.yaml feature-views list\n"
        f"  mlflow ui --backend-store-uri sqlite:///{settings.mlflow_dir}/mlflow.db"
    )


def _promote(settings: Settings, model: str) -> None:
    """Promote; a refusal is news, not a failure, as long as some version is champion."""
    from training.config import MODEL_NAMES
    from training.promote import PromotionRefused
    from training.registry import CHAMPION, version_by_alias

    try:
        models.promote(model)
    except PromotionRefused as e:
        console.print(f"[yellow]{e}[/yellow]")
        if version_by_alias(settings, MODEL_NAMES[model], CHAMPION) is None:
            raise RetainError(
                f"the demo needs a {model} champion and the first model did not pass the gate; "
                "a bigger bank gives the model more to learn from: retain demo --customers 10000"
            ) from e


def _train_uplift(settings: Settings, seed: int) -> None:
    """Train the uplift model and promote it if it beats random targeting. Without a champion
    the service makes no retention offers: it offers them only where it can tell they help."""
    try:
        models.train("uplift", seed=seed)
        models.promote("uplift")
    except RetainError as e:  # PromotionRefused included
        console.print(
            f"[yellow]{e}[/yellow]\nno uplift champion: /recommend leaves retention offers out "
            "until a model shows that they keep customers"
        )


def _serve_and_call(settings: Settings, port: int, top: int, keep_serving: bool) -> None:
    from serving.process import running_service

    console.print(f"starting the service on port {port} (log: {settings.home / 'serve.log'}) ...")
    with running_service(settings.home, port, keep=keep_serving) as service:
        console.print(f"service ready at {service.url} after {service.ready_after_s:.0f}s")
        scores = _score_and_show(settings, service.url, top)
        _recommend_and_show(service.url, scores[:RECOMMEND_SAMPLE], top)
        if keep_serving:
            console.print(
                f"the service keeps running at {service.url} (process group {service.pid}); "
                f"stop it with: kill -- -{service.pid}"
            )
    if not keep_serving:
        console.print("service stopped")


def _score_and_show(settings: Settings, url: str, top: int) -> list[dict[str, Any]]:
    """Score every current customer through the service; show the riskiest with reasons.

    Returns the scored customers."""
    import httpx

    ids = _current_customers(settings)
    console.print(f"scoring {len(ids):,} current customers with POST {url}/churn_score ...")
    scores: list[dict[str, Any]] = []
    with httpx.Client(base_url=url, timeout=120) as client:
        for i in range(0, len(ids), BATCH):
            reply = client.post("/churn_score", json={"customer_ids": ids[i : i + BATCH]})
            reply.raise_for_status()
            scores += reply.json()["scores"]
    riskiest = _riskiest(scores, top)
    Console().print(_riskiest_table(scores, riskiest))
    first = scores[0]["customer_id"] if scores else 1
    example, in_path = json.dumps(first), quote(str(first), safe="")  # a string id is quoted
    console.print(
        "ask it yourself:\n"
        f"  curl -s -X POST {url}/churn_score -H 'Content-Type: application/json' "
        f"-d '{{\"customer_ids\": [{example}]}}'\n"
        f"  curl -s {url}/customers/{in_path}\n"
        f"  curl -s -X POST {url}/recommend -H 'Content-Type: application/json' "
        f'-d \'{{"customer_id": {example}, "channel": "mobile", "k": 2}}\'',
        soft_wrap=True,
    )
    return [s for s in scores if s["status"] == "ok"]


def _recommend_and_show(url: str, customers: list[dict[str, Any]], top: int) -> None:
    """Ask /recommend (mobile app, best action) for each customer; show what it decided overall
    and the actions worth most, with their reasons."""
    import httpx

    best: list[tuple[BankId, dict[str, Any]]] = []
    console.print(f"asking POST {url}/recommend for {len(customers):,} customers (mobile app) ...")
    with httpx.Client(base_url=url, timeout=30) as client:
        for s in customers:
            reply = client.post(
                "/recommend", json={"customer_id": s["customer_id"], "channel": "mobile", "k": 1}
            )
            if reply.status_code == 503:
                console.print(f"[yellow]/recommend: {reply.json()['error']}[/yellow]")
                return
            reply.raise_for_status()
            best.append((s["customer_id"], reply.json()["actions"][0]))
    counts: dict[str, int] = {}
    for _, a in best:
        counts[a["description"]] = counts.get(a["description"], 0) + 1
    shown = sorted(best, key=lambda b: -b[1]["expected_value"])[:top]
    table = Table(
        title="next best action on the mobile app: "
        + ", ".join(f"{n:,} {d.lower()}" for d, n in sorted(counts.items(), key=lambda c: -c[1])),
        show_lines=True,
    )
    for column in ("customer", "action", "expected value", "P(accept)", "why"):
        table.add_column(
            column, justify="right" if column in ("expected value", "P(accept)") else "left"
        )
    for customer, a in shown:
        table.add_row(
            str(customer),
            a["description"],
            f"{a['expected_value']:,.2f}",
            "" if a["propensity"] is None else f"{a['propensity']:.0%}",
            "\n".join(r["text"] for r in a["reasons"]) or "-",
        )
    Console().print(table)


def _riskiest(scores: list[dict[str, Any]], top: int) -> list[dict[str, Any]]:
    ok = [s for s in scores if s["status"] == "ok"]
    return sorted(ok, key=lambda s: -s["churn_probability"])[:top]


def _riskiest_table(scores: list[dict[str, Any]], riskiest: list[dict[str, Any]]) -> Table:
    ok = [s for s in scores if s["status"] == "ok"]
    bands: dict[str, int] = {}
    for s in ok:
        bands[s["risk_band"]] = bands.get(s["risk_band"], 0) + 1
    table = Table(
        title=f"the {len(riskiest)} riskiest of {len(ok):,} scored customers "
        f"({', '.join(f'{bands[b]:,} {b}' for b in ('high', 'medium', 'low') if b in bands)}), "
        f"model {riskiest[0]['model_name']} v{riskiest[0]['model_version']}"
        if riskiest
        else "no customer could be scored",
        show_lines=True,
    )
    table.add_column("customer")
    table.add_column("P(leave in 90 days)", justify="right")
    table.add_column("band")
    table.add_column("why")
    for s in riskiest:
        reasons = "\n".join(r["text"] for r in s["reasons"])
        table.add_row(
            str(s["customer_id"]), f"{s['churn_probability']:.0%}", s["risk_band"], reasons
        )
    return table


def _current_customers(settings: Settings) -> list[BankId]:
    """The bank's ids of the customers with a snapshot in the latest month: the ones worth
    asking about."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    from retain.core.ids import load_customer_ids

    table = ds.dataset(settings.sources_dir / "balances_flows").to_table(
        columns=["customer_id", "event_timestamp"]
    )
    mask = pc.equal(table["event_timestamp"], pc.max(table["event_timestamp"]))
    keys = table.filter(mask)["customer_id"].to_pylist()
    return load_customer_ids(settings, keyed=False).bank_ids(keys)
