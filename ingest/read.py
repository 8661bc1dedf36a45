"""Read a bank's files through a mapping into typed tables of ``retain.core.tables``, checked.

Every problem is a ``DataError`` naming the table, the file, the source column and a sample row:
a missing file or column, a value of the wrong type, an unparseable date, a value outside a field's
allowed set, an empty required field, a duplicated key, or a row of a customer missing from the
customers table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ingest.mapping import KEYS, REQUIRED, TIME_FIELDS, Column, Mapping
from retain.core.errors import DataError
from retain.core.tables import CHANNELS, LIFE_EVENTS, OUTCOMES, RAW_TABLES

ENUMS: dict[str, tuple[str, ...]] = {
    "customers.preferred_channel": CHANNELS,
    "monthly.life_event": LIFE_EVENTS,
    "churn.kind": ("closed", "dormant"),
    "campaigns.kind": ("retention", "cross_sell"),
    "campaigns.channel": CHANNELS,
    "campaigns.outcome": OUTCOMES,
}
"""Fields whose values come from a fixed set; ``values:`` in the mapping recodes a bank's own."""

_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}
_INT_RANGE = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
}
_DAYS = {"days": 1.0, "months": 365.25 / 12, "years": 365.25}


@dataclass
class Bank:
    """A bank's tables as read through a mapping.

    Attributes:
        tables: each mapped raw table (and the empty ones a bank does not have) as a pandas frame
            with the contract's columns, then its extras.
        extras: the names of each table's bank-specific columns.
        labels: in snapshot mode, ``customer_id``, ``event_timestamp`` (the as-of time), ``label``.
        mapping: the mapping it was read with.
    """

    tables: dict[str, pd.DataFrame]
    extras: dict[str, list[str]]
    mapping: Mapping
    labels: pd.DataFrame | None = None
    sources: dict[str, Path] = field(default_factory=dict)

    def arrow(self, table: str) -> pa.Table:
        """The table in the contract's exact schema (no extras)."""
        schema = RAW_TABLES[table]
        rows = pa.Table.from_pandas(self.tables[table][schema.names], schema, preserve_index=False)
        # Without pandas' metadata, readers get plain dtypes, as from the simulator's tables.
        return rows.replace_schema_metadata(None)

    def extras_arrow(self, table: str) -> pa.Table | None:
        """The table's key columns and its extras; None without extras."""
        if not self.extras.get(table):
            return None
        keys = list(dict.fromkeys(["customer_id", *KEYS[table], TIME_FIELDS[table]]))
        rows = self.tables[table][[*keys, *self.extras[table]]]
        return pa.Table.from_pandas(rows, preserve_index=False).replace_schema_metadata(None)


@dataclass(frozen=True)
class _Source:
    """One source file's rows, as read (strings for CSV, native types for Parquet)."""

    table: str
    path: Path
    rows: pd.DataFrame

    def sample(self, i: int) -> str:
        """Row ``i`` (0-based) as ``row N: col=value, ...`` for an error message."""
        cells = list(self.rows.iloc[i].items())[:8]
        values = ", ".join(f"{k}={'' if pd.isna(v) else v}" for k, v in cells)
        if len(values) > 160:
            values = values[:157] + "..."
        return f"row {i + 1}: {values}"

    def fail(self, column: str, target: str, problem: str, i: int) -> DataError:
        return DataError(
            f"table {self.table} ({self.path.name}), column {column!r} -> {target}: "
            f"{problem} ({self.sample(i)})"
        )


def read_bank(mapping: Mapping) -> Bank:
    """Read and check every table of a mapping.

    Raises:
        DataError: a file or column is missing, or a value, key or reference is wrong; the message
            names the table, the file, the column and a sample row.
    """
    cache: dict[tuple[Path, str, str, str], pd.DataFrame] = {}
    tables: dict[str, pd.DataFrame] = {}
    extras: dict[str, list[str]] = {}
    sources: dict[str, _Source] = {}
    for table in RAW_TABLES:
        if table in mapping.tables:
            source = _read_source(mapping, table, cache)
            sources[table] = source
            tables[table], extras[table] = _convert(mapping, table, source)
        else:
            tables[table], extras[table] = _empty(mapping, table, tables.get("customers")), []
    for table in RAW_TABLES:
        if table in sources:
            _check_keys(table, tables[table], sources[table])
    for table in ("monthly", "churn", "campaigns"):
        if table in sources:
            _check_known_customers(table, tables[table], tables["customers"], sources[table])
    labels = _labels(mapping, tables, sources) if mapping.snapshot else None
    return Bank(tables, extras, mapping, labels, {t: s.path for t, s in sources.items()})


def _read_source(
    mapping: Mapping, table: str, cache: dict[tuple[Path, str, str, str], pd.DataFrame]
) -> _Source:
    spec = mapping.tables[table]
    path = mapping.table_path(table)
    key = (path, spec.kind, spec.delimiter, spec.encoding)
    if key not in cache:
        if not path.is_file():
            raise DataError(f"table {table}: file {path} not found")
        try:
            if spec.kind == "parquet":
                rows = pd.read_parquet(path)
            else:
                rows = pd.read_csv(
                    path,
                    sep=spec.delimiter,
                    dtype=str,
                    keep_default_na=False,
                    na_values=[""],
                    encoding=spec.encoding,
                )
                rows.columns = [str(c).strip() for c in rows.columns]
        except (OSError, ValueError, UnicodeDecodeError, pa.ArrowException) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise DataError(f"table {table}: cannot read {path} as {spec.kind}: {first}") from e
        cache[key] = rows
    return _Source(table, path, cache[key])


def _convert(mapping: Mapping, table: str, source: _Source) -> tuple[pd.DataFrame, list[str]]:
    spec = mapping.tables[table]
    schema = RAW_TABLES[table]
    n = len(source.rows)
    out: dict[str, Any] = {}
    for f in schema:
        col = spec.field(f.name)
        target = f"{table}.{f.name}"
        if col is None:
            out[f.name] = _default(mapping, table, f.name, n, out)
            continue
        values = _values(col, source, target, str(f.type), mapping)
        if f.name in REQUIRED[table] and values.isna().any():
            i = int(np.flatnonzero(values.isna().to_numpy())[0])
            raise source.fail(col.column or "", target, "a required field is empty", i)
        if target in ENUMS:
            allowed = ENUMS[target]
            bad = values.notna() & ~values.isin(allowed)
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise source.fail(
                    col.column or "",
                    target,
                    f"{values.iloc[i]!r} is not one of {', '.join(allowed)} "
                    "(recode it with values: in the mapping)",
                    i,
                )
        if f.name == "month_end":
            values = _month_end(values)
        out[f.name] = values
    names = list(spec.extras)
    for name in names:
        col = spec.extra(name)
        kind = {"int": "int64", "float": "double", "bool": "bool", "string": "string"}.get(
            col.type, "timestamp[us, tz=UTC]"
        )
        out[name] = _values(col, source, f"{table}.extras.{name}", kind, mapping)
    return pd.DataFrame(out, index=pd.RangeIndex(n)), names


def _default(mapping: Mapping, table: str, name: str, n: int, done: dict[str, Any]) -> Any:
    """An unmapped field: the snapshot time, a derived value, or null (see ``DEFAULTS``)."""
    if mapping.snapshot is not None and name == TIME_FIELDS[table]:
        return pd.Series([mapping.as_of] * n, dtype="datetime64[ns, UTC]")
    if table == "campaigns" and name == "contact_id":
        return pd.Series(np.arange(1, n + 1, dtype="int64"))
    if table == "campaigns" and name == "kind":
        action = done["action_id"].astype(str)
        return pd.Series(np.where(action.str.startswith("xsell_"), "cross_sell", "retention"))
    if table == "campaigns" and name == "randomized":
        return pd.Series(np.zeros(n, dtype=bool))
    return pd.Series([None] * n, dtype=object)


def _empty(mapping: Mapping, table: str, customers: pd.DataFrame | None) -> pd.DataFrame:
    """An unmapped table: empty, except snapshot mode's monthly table, which gets one row per
    customer at the snapshot time (nulls elsewhere) so the feature build has the snapshot."""
    schema = RAW_TABLES[table]
    if table == "monthly" and mapping.snapshot is not None and customers is not None:
        frame = pd.DataFrame({f.name: [None] * len(customers) for f in schema})
        frame["customer_id"] = customers["customer_id"].to_numpy()
        frame["month_end"] = mapping.as_of
        return frame
    return schema.empty_table().to_pandas()


def _text(raw: pd.Series) -> pd.Series:
    """Source values as stripped text (null stays null)."""
    return raw.astype(object).where(raw.isna(), raw.astype(str).str.strip())


def _values(col: Column, source: _Source, target: str, type_: str, mapping: Mapping) -> pd.Series:
    n = len(source.rows)
    if col.row_number:
        return pd.Series(np.arange(1, n + 1, dtype="int64"))
    if col.value is not None:
        raw = pd.Series([col.value] * n, dtype=object)
        name = "value"
    else:
        assert col.column is not None
        if col.column not in source.rows.columns:
            cols = ", ".join(map(str, source.rows.columns[:30]))
            raise DataError(
                f"table {source.table} ({source.path.name}): column {col.column!r} (mapped to "
                f"{target}) is not in the file; its columns: {cols}"
            )
        raw = source.rows[col.column]
        name = col.column
    if col.values:
        codes = col.values
        text = _text(raw)
        recoded = text.map(lambda v: codes.get(v, v))
        raw = recoded.where(text.notna(), None)
    if type_.startswith("int"):
        return _integers(raw, col, source, name, target, type_)
    if type_ in ("float", "double"):
        return _floats(raw, col, source, name, target)
    if type_ == "bool":
        return _booleans(raw, source, name, target)
    if type_.startswith("timestamp"):
        return _timestamps(raw, col, source, name, target, mapping)
    return _text(raw)


def _numbers(raw: pd.Series, source: _Source, name: str, target: str, what: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(raw):
        raw = raw.astype("float64")
    parsed = pd.to_numeric(_text(raw) if raw.dtype == object else raw, errors="coerce")
    bad = raw.notna() & parsed.isna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise source.fail(name, target, f"{raw.iloc[i]!r} is not {what}", i)
    return parsed.astype("float64")


def _integers(
    raw: pd.Series, col: Column, source: _Source, name: str, target: str, type_: str
) -> pd.Series:
    x = _numbers(raw, source, name, target, "an integer")
    if col.scale is not None:
        x = x * col.scale
    frac = x.notna() & (x != np.round(x))
    if frac.any():
        i = int(np.flatnonzero(frac.to_numpy())[0])
        raise source.fail(name, target, f"{raw.iloc[i]!r} is not an integer", i)
    lo, hi = _INT_RANGE.get(type_, _INT_RANGE["int64"])
    out = x.notna() & ((x < lo) | (x > hi))
    if out.any():
        i = int(np.flatnonzero(out.to_numpy())[0])
        raise source.fail(name, target, f"{raw.iloc[i]!r} is outside {lo}..{hi}", i)
    return x.astype("Int64")


def _floats(raw: pd.Series, col: Column, source: _Source, name: str, target: str) -> pd.Series:
    x = _numbers(raw, source, name, target, "a number")
    return x * col.scale if col.scale is not None else x


def _booleans(raw: pd.Series, source: _Source, name: str, target: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(raw):
        return raw.astype("boolean")
    text = _text(raw).str.lower()
    out = pd.Series(pd.NA, index=raw.index, dtype="boolean")
    out[text.isin(_TRUE)] = True
    out[text.isin(_FALSE)] = False
    bad = raw.notna() & out.isna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise source.fail(
            name, target, f"{raw.iloc[i]!r} is not a boolean (true/false, yes/no, 1/0)", i
        )
    return out


def _timestamps(
    raw: pd.Series, col: Column, source: _Source, name: str, target: str, mapping: Mapping
) -> pd.Series:
    if col.ago is not None:
        count = _numbers(raw, source, name, target, f"a number of {col.ago}")
        return mapping.as_of - pd.to_timedelta(count * _DAYS[col.ago], unit="D").dt.round("s")
    if pd.api.types.is_datetime64_any_dtype(raw):
        parsed = raw
    else:
        text = _text(raw)
        fmt = col.format or "ISO8601"
        try:
            parsed = pd.to_datetime(text, format=fmt, errors="coerce")
        except ValueError:  # mixed UTC offsets: read them all as UTC
            parsed = pd.to_datetime(text, format=fmt, errors="coerce", utc=True)
        bad = text.notna() & parsed.isna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            expected = f"format {col.format!r}" if col.format else "an ISO 8601 date"
            raise source.fail(name, target, f"{text.iloc[i]!r} is not a date ({expected})", i)
    if parsed.dt.tz is None:
        parsed = parsed.dt.tz_localize(mapping.timezone, ambiguous="NaT", nonexistent="NaT")
    return parsed.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")


def _month_end(ts: pd.Series) -> pd.Series:
    """Any time in a month -> the last second of the month (UTC), the contract's month stamp."""
    periods = ts.dt.tz_localize(None).dt.to_period("M")
    ends = periods.dt.end_time.dt.floor("s")
    return ends.dt.tz_localize("UTC").astype("datetime64[ns, UTC]")


def _check_keys(table: str, frame: pd.DataFrame, source: _Source) -> None:
    keys = list(KEYS[table])
    dup = frame.duplicated(keys, keep=False).to_numpy()
    if dup.any():
        rows = np.flatnonzero(dup)
        first = rows[0]
        same = rows[(frame.iloc[rows][keys] == frame.loc[first, keys]).all(axis=1).to_numpy()]
        shown = ", ".join(str(frame.loc[first, k]) for k in keys)
        shown = shown if len(keys) == 1 else f"({shown})"
        raise DataError(
            f"table {table} ({source.path.name}): duplicated key {'/'.join(keys)} = {shown} "
            f"in rows {', '.join(str(r + 1) for r in same[:3])} ({source.sample(int(same[1]))})"
        )


def _check_known_customers(
    table: str, frame: pd.DataFrame, customers: pd.DataFrame, source: _Source
) -> None:
    unknown = ~frame["customer_id"].isin(customers["customer_id"])
    if unknown.any():
        i = int(np.flatnonzero(unknown.to_numpy())[0])
        raise DataError(
            f"table {table} ({source.path.name}): customer {frame['customer_id'].iloc[i]} has no "
            f"row in the customers table ({source.sample(i)})"
        )


def _labels(
    mapping: Mapping, tables: dict[str, pd.DataFrame], sources: dict[str, _Source]
) -> pd.DataFrame:
    """The snapshot's known outcome per customer, read from the label column."""
    assert mapping.snapshot is not None
    spec = mapping.snapshot.label
    source = sources[spec.table]
    if spec.column not in source.rows.columns:
        raise DataError(
            f"table {spec.table} ({source.path.name}): label column {spec.column!r} is not in "
            "the file"
        )
    raw = source.rows[spec.column]
    if spec.positive is not None:
        label = _text(raw).isin({str(p) for p in spec.positive})
    else:
        label = _booleans(raw, source, spec.column, "snapshot.label")
        if label.isna().any():
            i = int(np.flatnonzero(label.isna().to_numpy())[0])
            raise source.fail(spec.column, "snapshot.label", "the label is empty", i)
    labels = pd.DataFrame(
        {
            "customer_id": tables[spec.table]["customer_id"].astype("int64").to_numpy(),
            "event_timestamp": pd.Series([mapping.as_of] * len(raw)).to_numpy(),
            "label": label.astype("int8").to_numpy(),
        }
    )
    labels["event_timestamp"] = pd.to_datetime(labels["event_timestamp"], utc=True)
    return labels.drop_duplicates("customer_id", keep="first", ignore_index=True)
