"""The ``bank_extras`` feature source: a bank's own columns (``extras`` of its ingest mapping).

``retain ingest`` writes each table's extras to ``data/raw/extras/<table>/``; the feature build
turns the customer-level (``customers``) and monthly (``monthly``) ones into one source folder,
``bank_extras``, in the same parts as the other sources. Its Parquet schema is the feature view's
schema (``features.definitions`` reads it back), so the extras' types travel from the mapping to
Feast without a hand-written list.

Stamping: with monthly extras, one row per monthly snapshot, stamped at its month end, carrying the
customer-level extras too (they are known from joining on, so nothing leaks; the view expires
like the monthly views). With customer-level extras only, one row per customer stamped at the join
date, never expiring, like the profile.

Extras of ``campaigns`` (per contact) and ``churn`` (about the outcome itself) are not customer
features and are left out. A timestamp extra becomes ``<name>_epoch_s`` (seconds since the epoch),
an input like ``join_epoch_s``, kept out of the churn service.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from features.request_time import FEATURES as REQUEST_TIME_FEATURES
from features.schema import SEGMENT_FEATURES, VIEW_FEATURES
from retain.core.columns import AS_OF, KEY
from retain.core.errors import DataError

SOURCE = "bank_extras"
SERVICE = "churn_bank_v1"
TABLES: dict[str, str] = {"customers": "join_date", "monthly": "month_end"}
"""Raw tables whose extras are served -> the time their rows are known."""

STAMP_KEY = b"retain.stamp"
"""Schema metadata of the source: ``month_end`` or ``join_date``."""

EPOCH_SUFFIX = "_epoch_s"

_KINDS: dict[pa.DataType, str] = {
    pa.int64(): "int64",
    pa.float64(): "float64",
    pa.float32(): "float32",
    pa.bool_(): "bool",
    pa.string(): "string",
    pa.large_string(): "string",
}
_ARROW = {
    "int64": pa.int64(),
    "float64": pa.float64(),
    "float32": pa.float32(),
    "bool": pa.bool_(),
    "string": pa.string(),
}


def feature_names() -> frozenset[str]:
    """retain's own feature names (every view's, the segments' and the request-time ones): an
    extra may not take one. ``retain ingest`` passes them to ``ingest.load_mapping`` so the clash
    is found there."""
    views = {n for features in VIEW_FEATURES.values() for n, _, _ in features}
    views |= {n for n, _, _ in SEGMENT_FEATURES}
    return frozenset(views | set(REQUEST_TIME_FEATURES))


def source_schema(raw: dict[str, pa.Schema]) -> pa.Schema | None:
    """The ``bank_extras`` source schema from the raw extras' schemas; None without extras.

    Raises:
        DataError: an extra has a type the feature store cannot hold, or its name is taken by
            another extra or by a feature of retain's views.
    """
    if not raw:
        return None
    taken = set(feature_names())
    fields = [pa.field(KEY, pa.int64()), pa.field(AS_OF, pa.timestamp("us", tz="UTC"))]
    for table, schema in raw.items():
        keys = {KEY, TABLES[table], "contact_id"}
        for f in schema:
            if f.name in keys:
                continue
            if pa.types.is_timestamp(f.type):
                name, kind = f"{f.name}{EPOCH_SUFFIX}", "int64"
            elif f.type in _KINDS:
                name, kind = f.name, _KINDS[f.type]
            else:
                raise DataError(f"extra {table}.{f.name}: type {f.type} cannot be a feature")
            if name in taken:
                raise DataError(
                    f"extra {table}.{f.name}: the name {name!r} is already a feature; "
                    "rename it in the mapping"
                )
            taken.add(name)
            meta = {b"description": f"{table} extra {f.name} (the bank's own column)".encode()}
            fields.append(pa.field(name, _ARROW[kind], metadata=meta))
    stamp = "month_end" if "monthly" in raw else "join_date"
    return pa.schema(fields, metadata={STAMP_KEY: stamp.encode()})


def stamp(schema: pa.Schema) -> str:
    """``month_end`` or ``join_date``: when the source's rows are stamped."""
    return (schema.metadata or {}).get(STAMP_KEY, b"join_date").decode()


def features(schema: pa.Schema) -> list[tuple[str, str, str]]:
    """The source's features as (name, type, description), like ``VIEW_FEATURES``."""
    out = []
    for f in schema:
        if f.name in (KEY, AS_OF):
            continue
        description = (f.metadata or {}).get(b"description", b"").decode()
        out.append((f.name, _KINDS[f.type], description))
    return out


def model_inputs(schema: pa.Schema) -> list[str]:
    """The features the churn service takes: all but the raw timestamps."""
    return [n for n, _, _ in features(schema) if not n.endswith(EPOCH_SUFFIX)]


def _epoch(values: pd.Series) -> pd.Series:
    stamps = pd.to_datetime(values, utc=True)
    return ((stamps - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).astype("Int64")


def _typed(rows: pd.DataFrame, time: str) -> pd.DataFrame:
    """Key, stamp (from ``time``) and the extras, timestamps as epoch seconds."""
    out = rows.rename(columns={time: AS_OF})
    out[AS_OF] = pd.to_datetime(out[AS_OF], utc=True)
    for column in list(out.columns):
        if column not in (KEY, AS_OF) and pd.api.types.is_datetime64_any_dtype(out[column]):
            out[f"{column}{EPOCH_SUFFIX}"] = _epoch(out.pop(column))
    return out


def extras_rows(
    customers: pd.DataFrame | None, monthly: pd.DataFrame | None, schema: pa.Schema
) -> pd.DataFrame:
    """The ``bank_extras`` rows of a set of customers from their raw extras.

    Args:
        customers: raw customer extras (``customer_id``, ``join_date``, extras) or None.
        monthly: raw monthly extras (``customer_id``, ``month_end``, extras) or None.
        schema: the source schema (``source_schema``).

    Returns:
        The columns of ``schema``, sorted by customer and time.
    """
    if stamp(schema) == "month_end":
        assert monthly is not None
        rows = _typed(monthly, "month_end")
        if customers is not None:
            rows = rows.merge(
                _typed(customers, "join_date").drop(columns=AS_OF), on=KEY, how="left"
            )
    else:
        assert customers is not None
        rows = _typed(customers, "join_date")
    rows = rows.dropna(subset=[AS_OF])
    return rows.sort_values([KEY, AS_OF], ignore_index=True)[schema.names]
