"""``retain ingest``: read a bank's own tables through a mapping file into the raw tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from retain.cli.common import console, load_settings

out = Console()
"""Results go to stdout; progress and messages to stderr."""


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("ingest")(ingest)


def ingest(
    mapping: Annotated[
        Path, typer.Option(help="Mapping file (YAML): where the bank's tables are, which columns.")
    ],
    check: Annotated[
        bool, typer.Option("--check", help="Validate the mapping and the data; write nothing.")
    ] = False,
) -> None:
    """Validate a bank's tables against a mapping and write them as retain's raw tables."""
    from features.extras import feature_names
    from ingest import load_mapping, read_bank, write_bank
    from retain.core.ids import MAP_FILE, read_id_key
    from retain.core.settings import check_home

    settings = load_settings()
    spec = load_mapping(mapping, feature_names())
    id_key = read_id_key() if spec.customer_ids == "string" else None
    if not check:
        check_home(settings)
    with console.status(f"reading the tables of {mapping.name}"):
        bank = read_bank(spec, id_key)
    mode = f"snapshot {spec.snapshot.as_of}" if spec.snapshot else "monthly history"
    table = Table(title=f"{mapping.name}: {mode}")
    for column in ("table", "rows", "source", "extras"):
        table.add_column(column, justify="right" if column == "rows" else "left")
    for name, frame in bank.tables.items():
        source = str(bank.sources[name].name) if name in bank.sources else "(not mapped)"
        table.add_row(name, f"{len(frame):,}", source, ", ".join(bank.extras[name]) or "-")
    if bank.labels is not None:
        rate = float(bank.labels["label"].mean()) if len(bank.labels) else 0.0
        table.add_row("labels", f"{len(bank.labels):,}", "snapshot label", f"positive {rate:.1%}")
    out.print(table)
    if spec.snapshot is not None:
        label = spec.snapshot.label
        counts = ", ".join(f"{v!r} {n:,} -> {y}" for v, y, n in bank.label_values[:10])
        more = f", ... ({len(bank.label_values):,} values)" if len(bank.label_values) > 10 else ""
        out.print(
            f"label {label.column!r} ({label.table}) by value: {counts}{more}",
            markup=False,
            highlight=False,
        )
    for file, columns in bank.unused.items():
        if columns:
            out.print(
                f"not used from {file}: {', '.join(columns)}",
                soft_wrap=True,
                markup=False,
                highlight=False,
            )
    if check:
        console.print("[green]valid[/green]: nothing written (--check)")
        return
    with console.status("writing the raw tables"):
        summary = write_bank(bank, settings)
    console.print(
        f"[green]ingested[/green] {summary.rows['customers']:,} customers in {summary.parts} "
        f"part(s) -> {summary.raw_dir}; next: retain features build"
    )
    if spec.customer_ids == "string":
        console.print(
            "customer ids: strings, stored as keyed hashes (RETAIN_ID_KEY; keep the key, serving "
            f"needs it); their map back to the bank's ids: {settings.data_dir / MAP_FILE}",
            soft_wrap=True,
        )
