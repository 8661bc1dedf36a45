"""``retain recommend``: the next best actions of one customer, or of a campaign audience, decided
and logged in-process.

The same decision as ``POST /recommend`` (``serving.nba.Recommender``) without a server: for a
retention team's tooling, scripts, or a look at why a customer gets what it gets. With
``--audience SPEC`` (``serving.audience``) every customer of a segment, a file of ids or the
whole base is decided in batches (``Recommender.decide_many``), as ``POST /recommend/batch``
does, and the decisions are written to ``--out`` (CSV or Parquet) and summed up.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from retain.cli.common import console, load_settings, progress_bar, quiet_mlflow
from retain.core.errors import ConfigError, DataError

if TYPE_CHECKING:
    from pydantic import ValidationError

    from serving.audience import Audience, Summary

out = Console()


def register(app: typer.Typer) -> None:
    app.command("recommend")(recommend)


def recommend(
    customer_id: Annotated[
        str | None,
        typer.Argument(
            help="The bank's customer id (a whole number, or the bank's text id); or --audience."
        ),
    ] = None,
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
    audience: Annotated[
        str | None,
        typer.Option(
            help="Decide for a campaign audience instead of one customer: "
            "segment:<column>=<value> (value_tier, lifecycle_stage, behaviour_segment or branch, "
            "from the latest `retain score`), file:<path> (ids one per line, or a CSV with a "
            "customer_id column) or all (every active customer).",
        ),
    ] = None,
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="With --audience: write the decisions here (.csv or .parquet)."),
    ] = None,
) -> None:
    """Decide the next best actions of a customer (or of an audience), log the decisions and
    show why."""
    from pydantic import ValidationError

    from serving.config import ServingConfig
    from serving.errors import ServingError
    from serving.nba import load_recommender
    from serving.schemas import RecommendRequest
    from serving.scoring import load_scorer

    if (customer_id is None) == (audience is None):
        raise ConfigError("give a CUSTOMER_ID or --audience SPEC (one of the two)")
    if audience is not None:
        if as_json:
            raise ConfigError("--json is for one customer: with --audience, use --out PATH")
        _recommend_audience(audience, out_file, channel, k, placement, weight, at)
        return
    if out_file is not None:
        raise ConfigError("--out is for --audience; for one customer, use --json")
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
        raise _option_error(e) from e
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
    for column in ("rank", "action", "expected value", "P(accept)", "why"):
        table.add_column(
            column, justify="right" if column in ("expected value", "P(accept)") else "left"
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


def _option_error(e: ValidationError) -> ConfigError:
    """A request's first validation error, named by its option (an audience id by its place)."""
    error = e.errors()[0]
    loc = [str(p) for p in error["loc"] if p != "context"]
    if loc and loc[0] == "customer_ids":
        place = f" (id number {int(loc[1]) + 1})" if len(loc) > 1 and loc[1].isdigit() else ""
        return ConfigError(f"--audience{place}: {error['msg']}")
    return ConfigError(f"--{'.'.join(loc) or 'request'}: {error['msg']}")


def _recommend_audience(
    spec_text: str,
    out_path: Path | None,
    channel: str,
    k: int,
    placement: str,
    weight: float,
    at: str | None,
) -> None:
    """``--audience``: resolve and check everything (options, audience, output), then decide in
    batches with a progress bar, write the table by temp file and rename, and sum up."""
    from pydantic import ValidationError

    from retain.core.ids import load_customer_ids
    from serving.audience import Summary, decision_rows, decision_table, parse_spec, resolve
    from serving.config import ServingConfig
    from serving.errors import ServingError
    from serving.nba import load_recommender
    from serving.schemas import RecommendBatchRequest
    from serving.scoring import load_scorer

    suffix = None if out_path is None else out_path.suffix.lower()
    if out_path is not None:
        if suffix not in (".csv", ".parquet"):
            raise ConfigError(f"--out {out_path}: name a .csv or .parquet file")
        if not out_path.parent.is_dir():
            raise ConfigError(f"--out {out_path}: the folder {out_path.parent} does not exist")
    spec = parse_spec(spec_text)
    context = {"placement": placement, "weight": weight, "at": at}
    try:  # the options, before anything is read
        RecommendBatchRequest.model_validate(
            {"customer_ids": [0], "channel": channel, "k": k, "context": context}
        )
    except ValidationError as e:
        raise _option_error(e) from e
    settings = load_settings()
    ids = load_customer_ids(settings)
    chosen = resolve(settings, spec, ids.key_of)
    try:
        request = RecommendBatchRequest.model_validate(
            {"customer_ids": chosen.ids, "channel": channel, "k": k, "context": context}
        )
    except ValidationError as e:
        raise _option_error(e) from e
    if request.context.at is not None and request.context.at.tzinfo is None:
        raise ConfigError(f"--at {at}: give a time zone, e.g. {datetime.now():%Y-%m-%dT%H:%M}Z")
    quiet_mlflow(feast=True)
    summary = Summary()
    rows: list[dict[str, Any]] = []
    try:
        config = ServingConfig.load(settings)
        recommender = load_recommender(settings, load_scorer(settings, config))
        try:
            with progress_bar(f"deciding {spec}", len(request.customer_ids)) as progress:
                for part in recommender.decide_many(
                    request, endpoint="recommend_audience", progress=progress
                ):
                    summary.add(part)
                    if out_path is not None:
                        rows.extend(decision_rows(part))
        finally:
            recommender.log.close()
    except ServingError as e:
        raise DataError(str(e)) from e
    if out_path is not None:
        table = decision_table(rows)
        _write(
            out_path,
            lambda p: (
                table.to_csv(p, index=False)
                if suffix == ".csv"
                else table.to_parquet(p, index=False)
            ),
        )
    _print_summary(chosen, summary, out_path)


def _print_summary(chosen: Audience, summary: Summary, out_path: Path | None) -> None:
    table = Table(title=f"audience {chosen.spec}: {summary.customers:,} customers")
    table.add_column("first action")
    table.add_column("customers", justify="right")
    for action, n in sorted(summary.first_actions.items(), key=lambda x: (-x[1], x[0])):
        table.add_row(action, f"{n:,}")
    out.print(table)
    parts = [
        f"{summary.decided:,} decided and logged ({summary.no_action:,} with no action)",
        f"{summary.not_found:,} unknown ids",
        f"{summary.inactive:,} no longer customers",
    ]
    if chosen.duplicates:
        parts.append(f"{chosen.duplicates:,} repeated ids dropped")
    where = "" if out_path is None else f"; decisions written to {out_path}"
    console.print("; ".join(parts) + where, soft_wrap=True)


def _write(path: Path, write: Callable[[Path], object]) -> None:
    """Write beside ``path`` and rename into place: never a half-written file."""
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    try:
        write(staging)
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)
