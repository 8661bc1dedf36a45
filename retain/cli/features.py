"""``retain features ...``: build the feature sources, apply the Feast repo, materialize, frames."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from retain.cli.common import console, load_settings, progress_bar

features_app = typer.Typer(
    help="Feature sources, the Feast feature store and training frames.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.add_typer(features_app, name="features")


@features_app.command("build")
def build() -> None:
    """Derive the feature sources from the raw tables (part by part, replaced atomically)."""
    from features.build import build_sources, check_raw_tables

    settings = load_settings()
    check_raw_tables(settings)  # a user's mistake is one line, before any progress bar
    with progress_bar("building feature sources (parts)") as progress:
        summary = build_sources(settings, progress)
    console.print(
        f"built {summary.parts} part(s): {summary.customers:,} customers, "
        f"{summary.monthly_rows:,} monthly rows up to {summary.latest_month_end:%Y-%m-%d} "
        f"-> {summary.sources_dir}"
    )


@features_app.command("apply")
def apply() -> None:
    """Register the feature repo (entity, views, services) and set up the online store."""
    from features.store import apply as run

    settings = load_settings()
    with console.status("applying the feature repo"):
        summary = run(settings)
    console.print(
        f"applied project {summary.project!r} ({settings.profile}): "
        f"views {', '.join(summary.feature_views)}; services {', '.join(summary.feature_services)}"
    )
    console.print(f"feast CLI: feast -c features/repo -f {summary.store_yaml} feature-views list")


@features_app.command("materialize")
def materialize(
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Reload every view's whole TTL window, not only what is new since the "
            "last run (after sources were rebuilt with changed history).",
        ),
    ] = False,
    engine: Annotated[
        str,
        typer.Option(
            help="fast (retain's writer) or feast (Feast's own materialize, the reference)."
        ),
    ] = "fast",
) -> None:
    """Load the latest feature values (up to the latest month end) into the online store,
    incrementally: each view from where its last run ended."""
    from features.materialize import ENGINES
    from features.materialize import materialize as run
    from features.store import applied_store, check_sources
    from retain.core.errors import ConfigError

    if engine not in ENGINES:
        raise ConfigError(f"--engine {engine!r} is unknown: use one of {', '.join(ENGINES)}")
    settings = load_settings()
    applied_store(settings)  # a user's mistake is one line, before any progress bar
    check_sources(settings)
    with progress_bar("materializing feature views") as progress:
        summary = run(settings, progress, full=full, engine=engine)  # type: ignore[arg-type]
    rate = summary.customers / summary.seconds if summary.seconds else 0.0
    current = [v.name for v in summary.views if v.start is None]
    written = [v for v in summary.views if v.start is not None]
    if not written:
        console.print(
            f"the online store is up to date ({summary.end:%Y-%m-%d}); `--full` reloads it all"
        )
        return
    console.print(
        f"materialized {summary.customers:,} customers up to {summary.end:%Y-%m-%d} "
        f"in {summary.seconds:.1f}s ({rate:,.0f} customers/s, {summary.engine})"
    )
    for v in written:
        rows = "" if v.rows < 0 else f": {v.rows:,} customers written"
        console.print(f"  {v.name} from {v.start:%Y-%m-%d %H:%M}{rows}")
    if current:
        console.print(f"  already up to date: {', '.join(current)}")


@features_app.command("frame")
def frame(
    out: Annotated[Path, typer.Option(help="Parquet file to write the training frame to.")],
    service: Annotated[str, typer.Option(help="Feature service.")] = "churn_v1",
    as_of: Annotated[
        list[str] | None,
        typer.Option(help="As-of month end YYYY-MM (repeatable); default: every labelled month."),
    ] = None,
) -> None:
    """Write a point-in-time correct training frame (labels + the service's features), keyed by
    the bank's customer ids."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from features.frames import training_frame
    from features.store import applied_store, check_sources
    from retain.core.columns import KEY
    from retain.core.errors import ConfigError
    from retain.core.ids import load_customer_ids

    settings = load_settings()
    applied_store(settings)  # a user's mistake is one line, before any progress bar
    check_sources(settings)
    month_ends = None
    if as_of:
        try:
            month_ends = [
                pd.Period(m, freq="M").end_time.tz_localize("UTC").floor("s") for m in as_of
            ]
        except ValueError as e:
            raise ConfigError(f"--as-of wants YYYY-MM: {e}") from e
    with progress_bar("building training frame (rows)") as progress:
        result = training_frame(settings, service, month_ends, progress=progress)
    ids = load_customer_ids(settings, keyed=False)
    if ids.mode == "string":  # the bank's own ids in the file, not the stores' pseudonyms
        result[KEY] = ids.bank_ids(result[KEY])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    pq.write_table(pa.Table.from_pandas(result, preserve_index=False), tmp)
    tmp.replace(out)
    console.print(
        f"wrote {len(result):,} rows x {result.shape[1]} columns "
        f"(churn rate {result['label'].mean():.1%}) -> {out}"
    )
