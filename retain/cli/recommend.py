"""``retain recommend``: the next best actions of one customer, decided and logged in-process.

The same decision as ``POST /recommend`` (``serving.nba.Recommender``) without a server: for a
retention team's tooling, scripts, or a look at why a customer gets what it gets.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from retain.cli.common import console, load_settings, quiet_mlflow
from retain.core.errors import ConfigError, DataError

out = Console()


def register(app: typer.Typer) -> None:
    app.command("recommend")(recommend)


def recommend(
    customer_id: Annotated[
        str, typer.Argument(help="The bank's customer id (a whole number, or the bank's text id).")
    ],
    channel: Annotated[str, typer.Option(help="branch, mobile, phone or sms_email.")] = "mobile",
    k: Annotated[int, typer.Option(help="Most actions to return (1-10).")] = 3,
    placement: Annotated[str, typer.Option(help="Where the actions will be shown.")] = "default",
    weight: Annotated[float, typer.Option(help="The placement's weight (1 = an adviser).")] = 1.0,
    at: Annotated[
        str | None, typer.Option(help="Decision time, ISO 8601 with a zone (default: now).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the whole response, trace included, as JSON.")
    ] = False,
) -> None:
    """Decide the next best actions of a customer, log the decision and show why."""
    from pydantic import ValidationError

    from serving.config import ServingConfig
    from serving.errors import ServingError
    from serving.nba import load_recommender
    from serving.schemas import RecommendRequest
    from serving.scoring import load_scorer

    try:
        request = RecommendRequest.model_validate(
            {
                "customer_id": customer_id,
                "channel": channel,
                "k": k,
                "context": {"placement": placement, "weight": weight, "at": at},
            }
        )
    except ValidationError as e:
        error = e.errors()[0]
        where = ".".join(str(p) for p in error["loc"] if p != "context") or "request"
        raise ConfigError(f"--{where}: {error['msg']}") from e
    if request.context.at is not None and request.context.at.tzinfo is None:
        raise ConfigError(f"--at {at}: give a time zone, e.g. {datetime.now():%Y-%m-%dT%H:%M}Z")
    quiet_mlflow(feast=True)
    settings = load_settings()
    try:
        config = ServingConfig.load(settings)
        recommender = load_recommender(settings, load_scorer(settings, config))
        try:
            response = recommender.recommend(request)
        finally:
            recommender.log.close()
    except ServingError as e:
        raise DataError(str(e)) from e
    if as_json:
        print(json.dumps(response.model_dump(mode="json"), indent=2))
        return
    table = Table(
        title=f"customer {response.customer_id} on {response.channel}: P(churn) "
        f"{response.churn_probability:.1%}, value {response.customer_value:,.0f}, "
        f"decision {response.decision_id}",
        show_lines=True,
    )
    for column in ("rank", "action", "expected value", "P(open)", "why"):
        table.add_column(
            column, justify="right" if column in ("expected value", "P(open)") else "left"
        )
    for a in response.actions:
        table.add_row(
            str(a.rank),
            a.description or a.action_id,
            f"{a.expected_value:,.2f}",
            "" if a.propensity is None else f"{a.propensity:.1%}",
            "\n".join(r.text for r in a.reasons),
        )
    out.print(table)
    removed: dict[str, int] = {}
    for t in response.trace:
        if t.rule:
            removed[t.rule] = removed.get(t.rule, 0) + 1
    console.print(
        f"{len(response.trace)} catalogue actions: removed by "
        + (", ".join(f"{rule} {n}" for rule, n in removed.items()) or "no rule")
        + "; the whole trace: --json"
    )
