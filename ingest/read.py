"""Read a bank's files through a mapping into typed tables of ``retain.core.tables``, checked.

Every table is read to the end and every problem found, then all of them are raised at once as one
``DataError``: one line per problem, naming the table, the file, the source column and a sample
row, with how many rows have it and the first few of them. The problems: a missing file or column,
a value of the wrong type, an unparseable date, a value outside a field's allowed set, an empty
required field, a duplicated key, a row of a customer missing from the customers table, and in
snapshot mode a label that is empty, outside the declared values, or never positive or never
negative. A blank cell (empty or spaces only) is null.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ingest.mapping import (
    BOOLEAN_WORDS,
    KEYS,
    REQUIRED,
    TIME_FIELDS,
    Column,
    Mapping,
    label_key,
)
from retain.core.columns import KEY
from retain.core.errors import DataError
from retain.core.ids import (
    BANK_ID,
    ID_KEY_ENV,
    collisions,
    id_text,
    ids_manifest,
    pseudonyms,
    read_id_key,
)
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

_TRUE = {t for t, _ in BOOLEAN_WORDS} | {"1.0"}
_FALSE = {f for _, f in BOOLEAN_WORDS} | {"0.0"}
INT_RANGES: dict[str, tuple[int, int]] = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
}
"""The range of each integer type of the contract: a value outside is refused."""
_DAYS = {"days": 1.0, "months": 365.25 / 12, "years": 365.25}
SHOWN = 5
"""Rows shown for each problem (the first ones, with the count of all)."""


@dataclass
class Bank:
    """A bank's tables as read through a mapping.

    Attributes:
        tables: each mapped raw table (and the empty ones a bank does not have) as a pandas frame
            with the contract's columns, then its extras.
        extras: the names of each table's bank-specific columns.
        labels: in snapshot mode, ``customer_id``, ``event_timestamp`` (the as-of time), ``label``.
        mapping: the mapping it was read with.
        sources: each mapped table's file.
        unused: each source file's columns that no field, extra or label reads (by file name).
        label_values: in snapshot mode, the label column's values as found (trimmed), each with
            the label it gives (1 or 0) and its count of rows.
        id_map: with string customer ids, the map of the tables' keys (pseudonyms) to the bank's
            ids (``retain.core.ids.ID_MAP``); None with integer ids, which are the keys.
        ids: what the data's manifest records about the ids (``retain.core.ids.ids_manifest``).
    """

    tables: dict[str, pd.DataFrame]
    extras: dict[str, list[str]]
    mapping: Mapping
    labels: pd.DataFrame | None = None
    sources: dict[str, Path] = field(default_factory=dict)
    unused: dict[str, list[str]] = field(default_factory=dict)
    label_values: list[tuple[str, int, int]] = field(default_factory=list)
    id_map: pd.DataFrame | None = None
    ids: dict[str, str] = field(default_factory=lambda: ids_manifest("integer", None))

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

    def where(self, column: str | None = None, target: str | None = None) -> str:
        """``table T (file)``, with ``, column 'C' -> T.field`` when given."""
        place = f"table {self.table} ({self.path.name})"
        return place if column is None else f"{place}, column {column!r} -> {target}"


def _first(pair: tuple[int, str]) -> int:
    return pair[0]


class _Problems:
    """Every problem found while reading, raised together at the end."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.found: list[str] = []
        self._order: list[int] = []

    def add(self, text: str, table: str | None = None) -> None:
        """A problem, listed with the others of its table (the label's last)."""
        self.found.append(text)
        self._order.append(list(RAW_TABLES).index(table) if table else len(RAW_TABLES))

    def rows(
        self,
        source: _Source,
        where: str,
        bad: pd.Series | np.ndarray,
        shown: pd.Series | None,
        problem: Callable[[Any], str],
    ) -> None:
        """One problem in the rows where ``bad`` is true: the first in full, with its row, then
        the count of all and the next few rows, with their values (``shown``) if given."""
        rows = np.flatnonzero(np.asarray(bad, dtype=bool))
        if not len(rows):
            return
        first = int(rows[0])
        value = None if shown is None else _plain(shown.iloc[first])
        text = f"{where}: {problem(value)} ({source.sample(first)})"
        if len(rows) > 1:
            if shown is None:
                more = ("rows " if len(rows) > 2 else "row ") + ", ".join(
                    str(int(i) + 1) for i in rows[1:SHOWN]
                )
            else:
                more = ", ".join(
                    f"{_plain(shown.iloc[int(i)])!r} (row {int(i) + 1})" for i in rows[1:SHOWN]
                )
            text += (
                f"; {len(rows):,} rows in all, also {more}{', ...' if len(rows) > SHOWN else ''}"
            )
        self.add(text, source.table)

    def check(self) -> None:
        """Raise them, if any: one line for one problem, else a count and one line each."""
        if len(self.found) == 1:
            raise DataError(self.found[0])
        if self.found:
            ordered = [p for _, p in sorted(zip(self._order, self.found, strict=True), key=_first)]
            lines = "\n".join(f"  {p}" for p in ordered)
            raise DataError(f"{len(self.found)} problems in the tables of {self.name}:\n{lines}")


def read_bank(mapping: Mapping, id_key: bytes | None = None) -> Bank:
    """Read and check every table of a mapping.

    With ``customer_ids: string`` the tables come back keyed by the ids' pseudonyms, and the map
    to the bank's ids is in ``Bank.id_map``.

    Args:
        mapping: the checked mapping.
        id_key: the secret of the keyed hash of string ids (default: ``RETAIN_ID_KEY``).

    Raises:
        ConfigError: string ids and no key (``RETAIN_ID_KEY`` is not set or too short).
        DataError: the problems found in all the tables, at once: a file or column is missing,
            or values, keys, references or the label are wrong, or two string ids have the same
            pseudonym; each names the table, the file, the column and a sample row, with how
            many rows have it.
    """
    key = None
    if mapping.customer_ids == "string":
        key = id_key if id_key is not None else read_id_key()
    problems = _Problems(mapping.name)
    cache: dict[tuple[Path, str, str, str], pd.DataFrame | None] = {}
    tables: dict[str, pd.DataFrame] = {}
    extras: dict[str, list[str]] = {}
    sources: dict[str, _Source] = {}
    failed: dict[str, set[str]] = {}
    for table in RAW_TABLES:
        source = _read_source(mapping, table, cache, problems) if table in mapping.tables else None
        if source is not None:
            sources[table] = source
            tables[table], extras[table], failed[table] = _convert(mapping, table, source, problems)
        else:
            tables[table], extras[table] = _empty(mapping, table, tables.get("customers")), []
    for table, source in sources.items():
        if not failed[table] & set(KEYS[table]):
            _check_keys(table, tables[table], source, problems)
    customers_ok = "customers" in sources and "customer_id" not in failed["customers"]
    for table in ("monthly", "churn", "campaigns"):
        if customers_ok and table in sources and "customer_id" not in failed[table]:
            _check_known_customers(tables[table], tables["customers"], sources[table], problems)
    positive, label_values = _label(mapping, sources, problems)
    id_map = None
    if key is not None and customers_ok:
        id_map = _id_map(tables["customers"], sources["customers"], key, problems)
    problems.check()
    if id_map is not None:
        lookup = pd.Series(id_map[KEY].to_numpy(), index=id_map[BANK_ID].to_numpy())
        for frame in tables.values():  # every id is a customer's (checked above)
            frame[KEY] = frame[KEY].map(lookup).astype("int64")
    labels = None
    if positive is not None:
        labels = _labels(mapping, tables, positive)
    return Bank(
        tables,
        extras,
        mapping,
        labels,
        {t: s.path for t, s in sources.items()},
        _unused(mapping, sources),
        label_values,
        id_map,
        ids_manifest(mapping.customer_ids, key),
    )


def _read_source(
    mapping: Mapping,
    table: str,
    cache: dict[tuple[Path, str, str, str], pd.DataFrame | None],
    problems: _Problems,
) -> _Source | None:
    """The table's file as read; None (and a problem) when it is missing or unreadable."""
    spec = mapping.tables[table]
    path = mapping.table_path(table)
    key = (path, spec.kind, spec.delimiter, spec.encoding)
    if key not in cache:
        cache[key] = None
        if not path.is_file():
            problems.add(f"table {table}: file {path} not found", table)
            return None
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
            problems.add(f"table {table}: cannot read {path} as {spec.kind}: {first}", table)
            return None
        cache[key] = rows
    rows = cache[key]
    return None if rows is None else _Source(table, path, rows)


@dataclass
class _Field:
    """One field being read: where its values come from, and which rows have a problem."""

    source: _Source
    problems: _Problems
    column: str
    target: str
    flagged: np.ndarray

    def bad(
        self, mask: pd.Series | np.ndarray, shown: pd.Series | None, problem: Callable[[Any], str]
    ) -> None:
        """Report the rows of ``mask`` not reported yet for this field."""
        new = np.asarray(mask, dtype=bool) & ~self.flagged
        where = self.source.where(self.column, self.target)
        self.problems.rows(self.source, where, new, shown, problem)
        self.flagged |= new


def _convert(
    mapping: Mapping, table: str, source: _Source, problems: _Problems
) -> tuple[pd.DataFrame, list[str], set[str]]:
    """The table's fields and extras, typed; and the fields that had a problem."""
    spec = mapping.tables[table]
    schema = RAW_TABLES[table]
    n = len(source.rows)
    out: dict[str, Any] = {}
    failed: set[str] = set()
    for f in schema:
        col = spec.field(f.name)
        target = f"{table}.{f.name}"
        if col is None:
            out[f.name] = _default(mapping, table, f.name, n, out)
            continue
        ctx = _Field(source, problems, col.column or "value", target, np.zeros(n, dtype=bool))
        type_ = "id" if f.name == KEY and mapping.customer_ids == "string" else str(f.type)
        values = _values(col, ctx, type_, mapping)
        if values is None:
            failed.add(f.name)
            out[f.name] = pd.Series([None] * n, dtype=object)
            continue
        if f.name in REQUIRED[table]:
            empty = values.isna()
            if table == "campaigns" and f.name == "outcome":  # a holdout row has no outcome
                empty &= ~out["holdout"].eq(True)
            ctx.bad(empty, None, lambda _: "a required field is empty")
        if target in ENUMS:
            allowed = ENUMS[target]
            ctx.bad(values.notna() & ~values.isin(allowed), values, _not_one_of(allowed))
        if ctx.flagged.any():
            failed.add(f.name)
        if f.name == "month_end":
            values = _month_end(values, mapping.timezone)
        out[f.name] = values
    names = list(spec.extras)
    for name in names:
        col = spec.extra(name)
        kind = {"int": "int64", "float": "double", "bool": "bool", "string": "string"}.get(
            col.type, "timestamp[us, tz=UTC]"
        )
        target = f"{table}.extras.{name}"
        ctx = _Field(source, problems, col.column or "value", target, np.zeros(n, dtype=bool))
        values = _values(col, ctx, kind, mapping)
        out[name] = pd.Series([None] * n, dtype=object) if values is None else values
    return pd.DataFrame(out, index=pd.RangeIndex(n)), names, failed


def _not_one_of(allowed: tuple[str, ...]) -> Callable[[Any], str]:
    return lambda v: (
        f"{v!r} is not one of {', '.join(allowed)} (recode it with values: in the mapping)"
    )


def _default(mapping: Mapping, table: str, name: str, n: int, done: dict[str, Any]) -> Any:
    """An unmapped field: the snapshot time, a derived value, or null (see ``DEFAULTS``)."""
    if mapping.snapshot is not None and name == TIME_FIELDS[table]:
        return pd.Series([mapping.as_of] * n, dtype="datetime64[ns, UTC]")
    if table == "campaigns" and name == "contact_id":
        return pd.Series(np.arange(1, n + 1, dtype="int64"))
    if table == "campaigns" and name == "kind":
        action = done["action_id"].astype(str)
        return pd.Series(np.where(action.str.startswith("xsell_"), "cross_sell", "retention"))
    if table == "campaigns" and name in ("randomized", "holdout"):
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


def _blank_to_null(raw: pd.Series) -> pd.Series:
    """Text cells that are empty or spaces only become null (other values are kept as they are)."""
    if not (raw.dtype == object or pd.api.types.is_string_dtype(raw)):
        return raw
    text = raw.astype("string").str.strip()
    blank = text.eq("").fillna(False).to_numpy(dtype=bool)
    return raw.astype(object).where(~blank, None) if blank.any() else raw


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds, for messages."""
    return value.item() if isinstance(value, np.generic) else value


def _values(col: Column, ctx: _Field, type_: str, mapping: Mapping) -> pd.Series | None:
    """The field's values in its type; rows that cannot be read are reported and null. None
    when the source column is not in the file (reported too)."""
    source = ctx.source
    n = len(source.rows)
    if col.row_number:
        return pd.Series(np.arange(1, n + 1, dtype="int64"))
    if col.value is not None:
        raw = pd.Series([col.value] * n, dtype=object)
    else:
        assert col.column is not None
        if col.column not in source.rows.columns:
            cols = ", ".join(map(str, source.rows.columns[:30]))
            ctx.problems.add(
                f"{source.where()}: column {col.column!r} (mapped to {ctx.target}) is not in "
                f"the file; its columns: {cols}",
                source.table,
            )
            return None
        raw = source.rows[col.column]
    raw = _blank_to_null(raw)
    if col.values:
        codes = col.values
        text = _text(raw)
        recoded = text.map(lambda v: codes.get(v, v))
        raw = recoded.where(text.notna(), None)
    if type_ == "id":  # a string customer id
        return raw.astype(object).map(id_text, na_action="ignore").astype(object)
    if type_.startswith("int"):
        return _integers(raw, col, ctx, type_)
    if type_ in ("float", "double"):
        return _floats(raw, col, ctx)
    if type_ == "bool":
        return _booleans(raw, ctx)
    if type_.startswith("timestamp"):
        return _timestamps(raw, col, ctx, mapping)
    return _text(raw)


def _parse_numbers(raw: pd.Series) -> pd.Series:
    """Numbers as float64; null where a value is not a number."""
    if pd.api.types.is_bool_dtype(raw):
        raw = raw.astype("float64")
    parsed = pd.to_numeric(_text(raw) if raw.dtype == object else raw, errors="coerce")
    return parsed.astype("float64")


def _numbers(raw: pd.Series, ctx: _Field, what: str) -> pd.Series:
    parsed = _parse_numbers(raw)
    ctx.bad(raw.notna() & parsed.isna(), raw, lambda v: f"{v!r} is not {what}")
    return parsed


def _integers(raw: pd.Series, col: Column, ctx: _Field, type_: str) -> pd.Series:
    x = _parse_numbers(raw)
    if col.scale is not None:
        x = x * col.scale
    bad = raw.notna() & (x.isna() | (x != np.round(x)))  # not a number, or not a whole one
    hint = (
        " (customer ids that are not whole numbers: set customer_ids: string in the mapping)"
        if ctx.target.endswith(f".{KEY}")
        else ""
    )
    ctx.bad(bad, raw, lambda v: f"{v!r} is not an integer{hint}")
    lo, hi = INT_RANGES.get(type_, INT_RANGES["int64"])
    out = ~bad & ((x < lo) | (x > hi))
    ctx.bad(out, raw, lambda v: f"{v!r} is outside {lo}..{hi}")
    return x.where(~(bad | out)).astype("Int64")


def _floats(raw: pd.Series, col: Column, ctx: _Field) -> pd.Series:
    x = _numbers(raw, ctx, "a number")
    return x * col.scale if col.scale is not None else x


def _booleans(raw: pd.Series, ctx: _Field) -> pd.Series:
    if pd.api.types.is_bool_dtype(raw):
        return raw.astype("boolean")
    text = _text(raw).str.lower()
    out = pd.Series(pd.NA, index=raw.index, dtype="boolean")
    out[text.isin(_TRUE)] = True
    out[text.isin(_FALSE)] = False
    ctx.bad(
        raw.notna() & out.isna(),
        raw,
        lambda v: f"{v!r} is not a boolean (true/false, yes/no, 1/0)",
    )
    return out


def _timestamps(raw: pd.Series, col: Column, ctx: _Field, mapping: Mapping) -> pd.Series:
    if col.ago is not None:
        count = _numbers(raw, ctx, f"a number of {col.ago}")
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
        expected = f"format {col.format!r}" if col.format else "an ISO 8601 date"
        ctx.bad(text.notna() & parsed.isna(), text, lambda v: f"{v!r} is not a date ({expected})")
    if parsed.dt.tz is None:
        parsed = parsed.dt.tz_localize(mapping.timezone, ambiguous="NaT", nonexistent="NaT")
    return parsed.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")


def _month_end(ts: pd.Series, timezone: str) -> pd.Series:
    """Any time in a month -> the last second of the month (UTC), the contract's month stamp.
    The month is the bank's own (in its time zone): 2024-04-01 00:00 in Lisbon is April."""
    periods = ts.dt.tz_convert(timezone).dt.tz_localize(None).dt.to_period("M")
    ends = periods.dt.end_time.dt.floor("s")
    return ends.dt.tz_localize("UTC").astype("datetime64[ns, UTC]")


def _check_keys(table: str, frame: pd.DataFrame, source: _Source, problems: _Problems) -> None:
    """Every duplicated key: the first with its rows and a sample, then the count and a few."""
    keys = list(KEYS[table])
    dup = frame.duplicated(keys, keep=False).to_numpy()
    if not dup.any():
        return
    groups = list(frame.loc[dup].groupby(keys, sort=False).indices.items())
    dup_rows = np.flatnonzero(dup)

    def shown(key: Any) -> str:
        values = key if isinstance(key, tuple) else (key,)
        text = ", ".join(str(_plain(v)) for v in values)
        return text if len(keys) == 1 else f"({text})"

    def rows(positions: np.ndarray) -> list[int]:
        return [int(dup_rows[p]) for p in positions]

    key, first = groups[0]
    same = rows(first)
    text = (
        f"{source.where()}: duplicated key {'/'.join(keys)} = {shown(key)} in rows "
        f"{', '.join(str(r + 1) for r in same[:3])} ({source.sample(same[1])})"
    )
    if len(groups) > 1:
        more = ", ".join(
            f"{shown(k)} (rows {', '.join(str(r + 1) for r in rows(p)[:3])})"
            for k, p in groups[1:SHOWN]
        )
        etc = ", ..." if len(groups) > SHOWN else ""
        text += f"; {len(groups):,} duplicated keys in all, also {more}{etc}"
    problems.add(text, table)


def _id_map(
    customers: pd.DataFrame, source: _Source, key: bytes, problems: _Problems
) -> pd.DataFrame | None:
    """The pseudonym of each string id of the customers table and the id; None (and a problem
    for each) when two ids have the same pseudonym, which would merge two customers."""
    bank_ids = [str(b) for b in pd.unique(customers[KEY].dropna())]
    keys = pseudonyms(bank_ids, key)
    clashes = collisions(bank_ids, keys.tolist())
    for k, same in clashes:
        problems.add(
            f"{source.where()}: customer ids {' and '.join(map(repr, same))} have the same "
            f"pseudonym ({k}) under {ID_KEY_ENV}, so retain cannot tell them apart: ingest with "
            f"another {ID_KEY_ENV}",
            source.table,
        )
    if clashes:
        return None
    return pd.DataFrame({KEY: keys, BANK_ID: pd.array(bank_ids, dtype=object)})


def _check_known_customers(
    frame: pd.DataFrame, customers: pd.DataFrame, source: _Source, problems: _Problems
) -> None:
    unknown = ~frame["customer_id"].isin(customers["customer_id"])
    problems.rows(
        source,
        source.where(),
        unknown,
        frame["customer_id"],
        lambda v: f"customer {v} has no row in the customers table",
    )


def _label(
    mapping: Mapping, sources: dict[str, _Source], problems: _Problems
) -> tuple[pd.Series | None, list[tuple[str, int, int]]]:
    """In snapshot mode, which rows of the label's table are positive, and the label's values
    with the label each gives and its count; problems reported (a blank label, a value outside
    the declared ones, no positive or no negative row)."""
    if mapping.snapshot is None:
        return None, []
    spec = mapping.snapshot.label
    source = sources.get(spec.table)
    if source is None:
        return None, []
    where = f"snapshot.label (table {spec.table}, {source.path.name}, column {spec.column!r})"
    if spec.column not in source.rows.columns:
        cols = ", ".join(map(str, source.rows.columns[:30]))
        problems.add(f"{where}: the column is not in the file; its columns: {cols}")
        return None, []
    text = _text(_blank_to_null(source.rows[spec.column]))
    keys = text.map(label_key, na_action="ignore")
    default = spec.positive is None and spec.negative is None
    positive = {"true"} if default else {label_key(v) for v in spec.positive or []}
    negative = {"false"} if default else {label_key(v) for v in spec.negative or []}
    if spec.positive is None and not default:  # negative: given: the other values are positive
        is_pos = keys.notna() & ~keys.isin(negative)
    else:
        is_pos = keys.isin(positive)
    is_neg = (
        keys.notna() & ~is_pos if spec.negative is None and not default else keys.isin(negative)
    )
    label = pd.Series(np.where(is_pos, 1, np.where(is_neg, 0, -1)), index=text.index)
    counted = pd.DataFrame({"value": text, "label": label}).dropna(subset=["value"])
    values = [(str(v), int(lab), int(n)) for (v, lab), n in counted.value_counts(sort=True).items()]
    shown = ", ".join(f"{v!r} {n:,}" for v, _, n in values[:10])
    if len(values) > 10:
        shown += f", ... ({len(values):,} values)"
    blank = int(text.isna().sum())
    if blank:
        shown += f", blank {blank:,}"
    declared = (
        "the boolean words (" + ", ".join(f"{t}/{f}" for t, f in BOOLEAN_WORDS) + ")"
        if default
        else " and ".join(
            f"{k}: [{', '.join(_declared(x) for x in v)}]"
            for k, v in (("positive", spec.positive), ("negative", spec.negative))
            if v is not None
        )
    )
    ctx = _Field(source, problems, spec.column, "snapshot.label", np.zeros(len(text), dtype=bool))
    ctx.bad(text.isna(), None, lambda _: "the label is empty")
    outside = int((label == -1).sum() - blank)
    if outside:
        hint = (
            "give positive: (and negative:) under snapshot.label"
            if default
            else "add them to positive: or negative:"
        )
        problems.add(
            f"{where}: {_rows(outside)} a value outside {declared} (compared ignoring case "
            f"and spaces): {hint}; values seen: {shown}"
        )
    else:
        for name, rows in (("positive", is_pos), ("negative", is_neg)):
            if not rows.any():
                problems.add(
                    f"{where}: no row is {name} by {declared} (compared ignoring case and "
                    f"spaces); values seen: {shown}"
                )
    return (is_pos if not problems.found else None), values


def _rows(n: int) -> str:
    return "1 row has" if n == 1 else f"{n:,} rows have"


def _declared(value: Any) -> str:
    """A declared label value as written (YAML reads an unquoted yes/no as a boolean)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return repr(value)


def _labels(mapping: Mapping, tables: dict[str, pd.DataFrame], positive: pd.Series) -> pd.DataFrame:
    """The snapshot's known outcome per customer (the first row of each)."""
    assert mapping.snapshot is not None
    spec = mapping.snapshot.label
    labels = pd.DataFrame(
        {
            "customer_id": tables[spec.table]["customer_id"].astype("int64").to_numpy(),
            "event_timestamp": pd.Series([mapping.as_of] * len(positive)).to_numpy(),
            "label": positive.astype("int8").to_numpy(),
        }
    )
    labels["event_timestamp"] = pd.to_datetime(labels["event_timestamp"], utc=True)
    return labels.drop_duplicates("customer_id", keep="first", ignore_index=True)


def _unused(mapping: Mapping, sources: dict[str, _Source]) -> dict[str, list[str]]:
    """Each source file's columns that no table of the mapping reads."""
    used: dict[Path, set[str]] = {}
    for table, source in sources.items():
        spec = mapping.tables[table]
        specs = [spec.field(f) for f in spec.columns] + [spec.extra(e) for e in spec.extras]
        used.setdefault(source.path, set()).update(c.column for c in specs if c and c.column)
    if mapping.snapshot is not None and mapping.snapshot.label.table in sources:
        label = mapping.snapshot.label
        used[sources[label.table].path].add(label.column)
    out: dict[str, list[str]] = {}
    for source in sources.values():
        if source.path.name not in out:
            out[source.path.name] = [c for c in source.rows.columns if c not in used[source.path]]
    return out
