"""``build_sources``: derive the feature sources from the raw tables, part by part.

Each raw ``monthly`` part holds all months of a disjoint set of customers, so every derived signal
of those customers can be computed from that part alone (plus their profile and contacts). Memory is
bounded by one part. Every source folder gets a part of the raw monthly part's name, holding the
same customers. When the bank's raw tables come with extras, their customer-level and monthly
columns become one more source, ``bank_extras`` (``features.extras``).

The ``customer_segments`` source is derived from the others' rows of the part, as written (the
same types the stores hold): ``features.segments.segment_columns`` with the home's ``value.toml``
(``ValueConfig.load``), one row per customer and month end, stamped with the definitions'
version. Rebuilding the features is what applies changed thresholds.

The build is atomic: it writes into a temporary folder next to ``Settings.sources_dir`` and moves it
into place at the end; a failed build leaves the previous sources untouched.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from features import extras, signals
from features.schema import BUILT_SOURCES, SEGMENTS, VIEW_FEATURES, source_schema
from features.segments import INPUTS, OUTPUTS, ValueConfig, definition_version, segment_columns
from retain.core.columns import AS_OF, KEY
from retain.core.errors import DataError
from retain.core.progress import Progress, silent
from retain.core.settings import Settings
from retain.core.tables import RAW_TABLES

_CUSTOMER_COLUMNS = [f.name for f in RAW_TABLES["customers"] if f.name != "gender"]
"""Everything of the customer table but gender, which never becomes a feature."""
_CAMPAIGN_COLUMNS = ["customer_id", "sent_at", "kind", "holdout", "outcome"]


@dataclass(frozen=True)
class BuildSummary:
    """What ``build_sources`` wrote."""

    parts: int
    customers: int
    monthly_rows: int
    latest_month_end: pd.Timestamp
    sources_dir: Path


def raw_parts(raw_dir: Path, table: str) -> list[Path]:
    """The Parquet parts of a raw table, checked readable.

    Raises:
        DataError: the table folder is missing or empty, or a part is not a readable Parquet file
            with the table's columns.
    """
    folder = raw_dir / table
    parts = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    if not parts:
        raise DataError(
            f"no raw {table} table at {folder}: run `retain simulate` or ingest the bank's tables"
        )
    expected = set(RAW_TABLES[table].names)
    for part in parts:
        missing = expected - set(read_schema(part).names)
        if missing:
            raise DataError(f"{part} lacks column(s) {', '.join(sorted(missing))}")
    return parts


def read_raw_table(raw_dir: Path, table: str, columns: list[str]) -> pd.DataFrame:
    """``columns`` of a raw table, all parts together.

    Raises:
        DataError: the table is missing, or a part is not readable or lacks a column.
    """
    frames = []
    for part in raw_parts(raw_dir, table):
        try:
            frames.append(pq.read_table(part, columns=columns).to_pandas())
        except (pa.ArrowException, OSError) as e:
            raise DataError(f"corrupt or unreadable Parquet file {part}: {e}") from e
    return pd.concat(frames, ignore_index=True)


def read_schema(path: Path) -> pa.Schema:
    """The schema of a Parquet file.

    Raises:
        DataError: the file is not a readable Parquet file.
    """
    try:
        return pq.read_schema(path)
    except (pa.ArrowException, OSError) as e:
        raise DataError(f"corrupt or unreadable Parquet file {path}: {_first_line(e)}") from e


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _read_part(path: Path) -> pd.DataFrame:
    try:
        return pq.read_table(path).to_pandas()
    except (pa.ArrowException, OSError) as e:
        raise DataError(f"corrupt or unreadable Parquet file {path}: {_first_line(e)}") from e


def _read_for(folder: Path, ids: pa.Array, columns: list[str]) -> pd.DataFrame:
    """Rows of the raw table in ``folder`` whose customer_id is in ``ids``."""
    try:
        table = ds.dataset(folder, format="parquet").to_table(
            columns=columns, filter=pc.field("customer_id").isin(ids)
        )
    except (pa.ArrowException, OSError) as e:
        raise DataError(f"cannot read the raw table at {folder}: {_first_line(e)}") from e
    return table.to_pandas()


def derive_part(
    monthly: pd.DataFrame,
    customers: pd.DataFrame,
    campaigns: pd.DataFrame,
    contacts_known: bool = True,
) -> dict[str, pd.DataFrame]:
    """All sources of one set of customers, from their raw rows; ``contacts_known``: whether the
    raw campaigns table has any row at all (see ``signals.contact_history``).

    Raises:
        DataError: a monthly row belongs to a customer missing from ``customers``.
    """
    monthly = monthly.sort_values(["customer_id", "month_end"], kind="stable", ignore_index=True)
    join = customers.set_index("customer_id")["join_date"]
    join_date = monthly["customer_id"].map(join)
    if join_date.isna().any():
        unknown = monthly.loc[join_date.isna(), "customer_id"].iloc[0]
        raise DataError(f"customer {unknown} has monthly rows but no row in the customers table")
    return {
        "customer_profile": signals.customer_profile(customers),
        "balances_flows": signals.balances_flows(monthly),
        "engagement_channels": signals.engagement_channels(monthly),
        "service_complaints": signals.service_complaints(monthly),
        "product_holdings": signals.product_holdings(monthly, join_date),
        "contact_history": signals.contact_history(monthly, campaigns, contacts_known),
    }


def _input_sources() -> dict[str, list[str]]:
    """Source -> the segment inputs (``features.segments.INPUTS``) it holds."""
    where = {n: source for source, fs in VIEW_FEATURES.items() for n, _, _ in fs}
    out: dict[str, list[str]] = {}
    for name in INPUTS:
        out.setdefault(where[name], []).append(name)
    return out


def segment_rows(tables: Mapping[str, pa.Table], config: ValueConfig) -> pa.Table:
    """The ``customer_segments`` rows of a part from its monthly sources' tables (as written):
    one per row of those sources, the same key and stamp.

    Raises:
        DataError: the monthly sources' rows are not the same customers and months, in order.
    """
    inputs = _input_sources()
    first = tables[next(iter(inputs))]
    keys, stamps = first.column(KEY), first.column(AS_OF)
    columns: dict[str, object] = {}
    for source, names in inputs.items():
        table = tables[source]
        if not (table.column(KEY).equals(keys) and table.column(AS_OF).equals(stamps)):
            raise DataError(f"source {source} does not have the rows of the other monthly sources")
        columns.update({n: table.column(n).to_pandas() for n in names})
    segments = segment_columns(columns, config)
    frame = pd.DataFrame({KEY: keys.to_pandas(), AS_OF: stamps.to_pandas()})
    for name in OUTPUTS:
        frame[name] = segments[name]
    frame["segments_version"] = definition_version(config)
    return pa.Table.from_pandas(frame, schema=source_schema(SEGMENTS), preserve_index=False)


def raw_extras_schemas(raw_dir: Path) -> dict[str, pa.Schema]:
    """The Parquet schema of the raw extras of each table ``features.extras`` serves (tables
    without extras left out).

    Raises:
        DataError: a part is not a readable Parquet file.
    """
    out = {}
    for table in extras.TABLES:
        parts = sorted((raw_dir / "extras" / table).glob("*.parquet"))
        if parts:
            out[table] = read_schema(parts[0])
    return out


def _extras_part(
    raw_dir: Path, ids: pa.Array, raw: dict[str, pa.Schema]
) -> dict[str, pd.DataFrame]:
    """Raw extras of the customers ``ids``, per table."""
    return {t: _read_for(raw_dir / "extras" / t, ids, s.names) for t, s in raw.items()}


def check_raw_tables(settings: Settings) -> list[Path]:
    """The raw monthly parts, after checking that every raw table the build reads is readable.

    Raises:
        DataError: a raw table is missing, a file is corrupt or a column is missing.
    """
    monthly_parts = raw_parts(settings.raw_dir, "monthly")
    raw_parts(settings.raw_dir, "customers")
    raw_parts(settings.raw_dir, "campaigns")
    return monthly_parts


def build_sources(settings: Settings, progress: Progress = silent) -> BuildSummary:
    """Derive every feature source from the raw tables into ``settings.sources_dir``.

    Args:
        settings: where the raw tables are and where the sources go.
        progress: called as ``progress(parts_done, parts_total)``.

    Raises:
        DataError: a raw table is missing, a file is corrupt or a column is missing.
    """
    monthly_parts = check_raw_tables(settings)
    value_config = ValueConfig.load(settings)  # a wrong value.toml stops the build before it starts
    # No campaign row at all (a bank that did not map the table): contact history unknown, not 0.
    contacts_known = any(
        pq.read_metadata(p).num_rows for p in raw_parts(settings.raw_dir, "campaigns")
    )
    target = settings.sources_dir
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    customers_n = rows = 0
    latest: pd.Timestamp | None = None
    raw_extras = raw_extras_schemas(settings.raw_dir)
    extras_schema = extras.source_schema(raw_extras)
    try:
        for name in BUILT_SOURCES:
            (tmp / name).mkdir(parents=True)
        if extras_schema is not None:
            (tmp / extras.SOURCE).mkdir()
        progress(0, len(monthly_parts))
        for i, part in enumerate(monthly_parts):
            monthly = _read_part(part)
            ids = pa.array(monthly["customer_id"].unique(), type=pa.int64())
            customers = _read_for(settings.raw_dir / "customers", ids, _CUSTOMER_COLUMNS)
            campaigns = _read_for(settings.raw_dir / "campaigns", ids, _CAMPAIGN_COLUMNS)
            derived = derive_part(monthly, customers, campaigns, contacts_known)
            tables = {
                name: pa.Table.from_pandas(frame, schema=source_schema(name), preserve_index=False)
                for name, frame in derived.items()
            }
            tables[SEGMENTS] = segment_rows(tables, value_config)
            for name, table in tables.items():
                pq.write_table(table, tmp / name / part.name)
            if extras_schema is not None:
                found = _extras_part(settings.raw_dir, ids, raw_extras)
                frame = extras.extras_rows(
                    found.get("customers"), found.get("monthly"), extras_schema
                )
                table = pa.Table.from_pandas(frame, schema=extras_schema, preserve_index=False)
                pq.write_table(table, tmp / extras.SOURCE / part.name)
            customers_n += len(ids)
            rows += len(monthly)
            if len(monthly):
                part_latest = pd.Timestamp(monthly["month_end"].max())
                latest = part_latest if latest is None else max(latest, part_latest)
            progress(i + 1, len(monthly_parts))
        if latest is None:
            raise DataError(f"the raw monthly table at {settings.raw_dir / 'monthly'} has no rows")
        _swap_into_place(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return BuildSummary(len(monthly_parts), customers_n, rows, latest, target)


def _swap_into_place(tmp: Path, target: Path) -> None:
    old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
    if target.exists():
        target.rename(old)
    tmp.rename(target)
    shutil.rmtree(old, ignore_errors=True)
