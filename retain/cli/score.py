"""``retain score`` (the whole base, from the offline store) and ``retain at-risk`` (the list a
retention team works from, read from the latest scores)."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from retain.cli.cluster import SchedulerOption, dask_client, scheduler_address
from retain.cli.common import console, load_settings, progress_bar, quiet_mlflow
from retain.core.errors import ConfigError

if TYPE_CHECKING:
    from serving.at_risk import Filters


def register(app: typer.Typer) -> None:
    app.command("score")(score)
    app.command("at-risk")(at_risk)


def score(
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of", help="Month to score, YYYY-MM or YYYY-MM-DD (default: the latest)."
        ),
    ] = None,
    dask_scheduler: SchedulerOption = None,
) -> None:
    """Score every active customer from the offline store: churn probability, risk band,
    segments, value and value at stake, written to $RETAIN_HOME/scores/as_of=DATE/. With a Dask
    scheduler, the source parts are scored on its workers (one booster each): the same table."""
    from serving.batch import month_end, score_base

    when = None if as_of is None else month_end(as_of)
    settings = load_settings()
    address = scheduler_address(dask_scheduler, settings)
    quiet_mlflow(feast=True)
    if address:
        from serving.distributed import on_cluster

        with dask_client(address) as client, progress_bar(f"scoring on {address}") as progress:
            run = score_base(settings, when, progress, score_parts=on_cluster(client))
    else:
        with progress_bar("scoring customers") as progress:
            run = score_base(settings, when, progress)
    console.print(
        f"scored {run.customers:,} customers at {run.as_of} with {run.model_name} "
        f"v{run.model_version} in {run.seconds:.1f} s ({run.parts} parts): {run.path}"
    )


def at_risk(
    segment: Annotated[
        list[str] | None,
        typer.Option(help="Lifecycle stage or behavioural segment (repeat for several)."),
    ] = None,
    branch: Annotated[list[str] | None, typer.Option(help="Home branch (repeatable).")] = None,
    value_tier: Annotated[
        list[str] | None, typer.Option(help="mass, affluent or private (repeatable).")
    ] = None,
    min_value: Annotated[float | None, typer.Option(help="Lowest customer value.")] = None,
    top: Annotated[int, typer.Option(help="How many customers to list.")] = 50,
    output_format: Annotated[
        str, typer.Option("--format", help="csv or parquet (parquet needs --output).")
    ] = "csv",
    output: Annotated[
        Path | None, typer.Option(help="Write the list here (default: CSV on stdout).")
    ] = None,
    summary: Annotated[
        Path | None,
        typer.Option(help="Also write the one-page HTML summary (segments, branches, reasons)."),
    ] = None,
) -> None:
    """The customers worth saving, from the latest scores: segments, churn probability, value at
    stake, the top reasons and, with an uplift champion, the action to take and what it saves."""
    from features.segments import ValueConfig
    from serving.at_risk import Filters, at_risk_list, check_filters, latest_scores
    from serving.config import ServingConfig
    from serving.scoring import load_scorer

    if output_format not in ("csv", "parquet"):
        raise ConfigError(f"--format {output_format!r}: use csv or parquet")
    if output_format == "parquet" and output is None:
        raise ConfigError("--format parquet needs --output PATH")
    if top < 1:
        raise ConfigError(f"--top {top}: list at least 1 customer")
    if min_value is not None and not min_value >= 0:
        raise ConfigError(f"--min-value {min_value}: use a value >= 0")
    for option, path in (("--output", output), ("--summary", summary)):
        if path is not None and not path.parent.is_dir():
            raise ConfigError(f"{option} {path}: the folder {path.parent} does not exist")
    settings = load_settings()
    filters = Filters(
        tuple(segment or ()),
        tuple(str(b) for b in branch or ()),
        tuple(value_tier or ()),
        min_value,
    )
    # No scores yet, or a filter naming nothing: said before any model is loaded.
    scores = latest_scores(settings)
    check_filters(scores.frame, filters, ValueConfig.load(settings).tiers)
    quiet_mlflow(feast=True)
    scorer = load_scorer(settings, ServingConfig.load(settings))
    listed = at_risk_list(settings, scorer, filters, top, scores=scores)
    table = listed.table()
    if listed.note:
        console.print(f"note: {listed.note}")
    page = None
    if summary is not None:
        from serving.at_risk import select
        from serving.summary import reason_counts, render_html

        chosen = select(scores.frame, filters, ValueConfig.load(settings).tiers)
        page = render_html(
            chosen,
            scores.run,
            reason_counts(listed.reasons.values()),
            len(table),
            _described(filters),
        )
    if output is None:
        table.to_csv(sys.stdout, index=False)
    else:
        _write(
            output,
            lambda p: (
                table.to_csv(p, index=False)
                if output_format == "csv"
                else table.to_parquet(p, index=False)
            ),
        )
    if summary is not None and page is not None:
        _write(summary, lambda p: p.write_text(page, encoding="utf-8"))
    console.print(
        f"{len(table)} of {listed.total:,} customers at risk (scores as of "
        f"{listed.scores.run.get('as_of')})" + ("" if output is None else f": {output}")
    )


def _write(path: Path, write: Callable[[Path], object]) -> None:
    """Write beside ``path`` and rename into place: never a half-written file."""
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    try:
        write(staging)
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)


def _described(filters: Filters) -> str:
    parts = [
        f"{name} {', '.join(values)}"
        for name, values in (
            ("segment", filters.segments),
            ("branch", filters.branches),
            ("value tier", filters.value_tiers),
        )
        if values
    ]
    if filters.min_value is not None:
        parts.append(f"value from {filters.min_value:,.0f}")
    return f" ({'; '.join(parts)})" if parts else ""
