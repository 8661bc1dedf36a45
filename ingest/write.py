"""Write an ingested bank as retain's raw tables, atomically.

Everything is written into a staging folder inside the home folder; only when every part file is
complete does it replace ``data/raw`` (and the simulator's ``data/truth``, which would no longer
describe the data). A failure before that leaves the previous data as it was.

Layout under ``data/raw``: ``<table>/part-NNNNN.parquet`` for each table of ``retain.core.tables``
(each part holds a disjoint set of customers, as ``features.build`` wants), ``labels/`` in snapshot
mode (customer_id, event_timestamp, label) and ``extras/<table>/`` with the bank-specific columns.
With string customer ids every ``customer_id`` there is a pseudonym; the map to the bank's ids is
``data/customer_ids.parquet`` (``retain.core.ids``), beside ``data/raw``, replaced with it, and the
manifest records the mode (``customer_ids``).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ingest.read import Bank
from retain.core.errors import DataError
from retain.core.ids import ID_MAP, MAP_FILE
from retain.core.settings import Settings, check_home
from retain.core.tables import RAW_TABLES

CUSTOMERS_PER_PART = 100_000


@dataclass(frozen=True)
class IngestSummary:
    """What ``write_bank`` wrote."""

    rows: dict[str, int]
    parts: int
    labels: int | None
    extras: dict[str, list[str]]
    raw_dir: Path


def write_bank(
    bank: Bank, settings: Settings, customers_per_part: int = CUSTOMERS_PER_PART
) -> IngestSummary:
    """Replace the raw tables under ``settings.raw_dir`` with the bank's.

    Raises:
        ConfigError: the home folder cannot be written.
        DataError: a table cannot be written in the contract's types.
    """
    check_home(settings)
    ids = np.sort(bank.tables["customers"]["customer_id"].astype("int64").to_numpy())
    parts = max(1, -(-len(ids) // customers_per_part))
    staging = settings.home / f".ingest-{uuid.uuid4().hex[:12]}"
    try:
        raw = staging / "raw"
        for table in RAW_TABLES:
            _write_parts(raw / table, _arrow(bank, table), ids, parts, customers_per_part)
            extras = bank.extras_arrow(table)
            if extras is not None:
                _write_parts(raw / "extras" / table, extras, ids, parts, customers_per_part)
        if bank.labels is not None:
            labels = pa.Table.from_pandas(bank.labels, preserve_index=False)
            labels = labels.replace_schema_metadata(None)
            _write_parts(raw / "labels", labels, ids, parts, customers_per_part)
        if bank.id_map is not None:
            id_map = pa.Table.from_pandas(bank.id_map, ID_MAP, preserve_index=False)
            pq.write_table(id_map.replace_schema_metadata(None), staging / MAP_FILE)
            os.chmod(staging / MAP_FILE, 0o600)  # the bank's ids: for retain's own user only
        manifest = {
            "source": "ingest",
            "mapping": bank.mapping.name,
            "files": {t: str(p) for t, p in bank.sources.items()},
            "row_counts": {t: len(f) for t, f in bank.tables.items()},
            "snapshot": str(bank.mapping.snapshot.as_of) if bank.mapping.snapshot else None,
            "extras": bank.extras,
            "customer_ids": bank.ids,
        }
        _commit(staging, settings.data_dir, manifest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return IngestSummary(
        rows={t: len(f) for t, f in bank.tables.items()},
        parts=parts,
        labels=None if bank.labels is None else len(bank.labels),
        extras={t: e for t, e in bank.extras.items() if e},
        raw_dir=settings.raw_dir,
    )


def _arrow(bank: Bank, table: str) -> pa.Table:
    try:
        return bank.arrow(table)
    except (pa.ArrowException, ValueError, TypeError) as e:
        raise DataError(f"table {table}: cannot store it in the contract's types: {e}") from e


def _write_parts(folder: Path, table: pa.Table, ids: np.ndarray, parts: int, per_part: int) -> None:
    """Split rows by customer into the same parts for every table, sorted by customer (and time)."""
    folder.mkdir(parents=True)
    frame_ids = table.column("customer_id").to_numpy(zero_copy_only=False)
    part_of = np.searchsorted(ids, frame_ids) // per_part
    order_keys = [("customer_id", "ascending")]
    time = next(
        (c for c in ("month_end", "sent_at", "event_timestamp") if c in table.column_names), None
    )
    if time:
        order_keys.append((time, "ascending"))
    for part in range(parts):
        rows = table.filter(pa.array(part_of == part)).sort_by(order_keys)
        pq.write_table(rows, folder / f"part-{part:05d}.parquet", compression="zstd")


def _commit(staging: Path, data: Path, manifest: dict) -> None:
    """Put the staged raw tables in place of the previous ones, the manifest last."""
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    data.mkdir(parents=True, exist_ok=True)
    (data / "manifest.json").unlink(missing_ok=True)  # no manifest: data being replaced
    old = staging / "previous"
    old.mkdir()
    for name in ("raw", "truth", MAP_FILE):
        if (data / name).exists():
            os.replace(data / name, old / name)
    os.replace(staging / "raw", data / "raw")
    if (staging / MAP_FILE).exists():
        os.replace(staging / MAP_FILE, data / MAP_FILE)
    os.replace(staging / "manifest.json", data / "manifest.json")
