"""The mapping file: where a bank's tables are and which of their columns feed retain's fields.

A mapping is YAML, validated here before any data is read::

    version: 1
    timezone: Europe/Lisbon        # naive timestamps in the files are local times of this zone
    tables:
      customers:
        path: exports/customers.csv          # relative to the mapping file; .csv or .parquet
        columns:
          customer_id: cust_no               # short form: the source column
          join_date: {column: opened, format: "%d/%m/%Y"}
          gender: {column: sex, values: {F: f, M: m}}
        extras:                              # bank-specific columns kept beside the contract
          credit_score: {column: score, type: int}
      monthly:
        path: exports/snapshots.parquet
        columns:
          customer_id: cust_no
          month_end: {column: period, format: "%Y-%m"}   # any date of the month -> month end
          bal_current: {column: current_cents, scale: 0.01}

Each field of a table is one of: a source ``column`` (with ``format`` for dates, ``scale`` for
numbers, ``values`` to recode source values, ``ago`` for a count of days/months/years before the
snapshot date), a constant ``value``, or ``row_number`` (1, 2, ... in file order). Fields of
``retain.core.tables`` that are not mapped get null (or the default in ``DEFAULTS``); the keys in
``REQUIRED`` must be mapped.

``customer_ids: string`` takes the bank's customer ids as text (``7590-VHVEG``); the stores are
then keyed by their keyed hash (``retain.core.ids``, the key in ``RETAIN_ID_KEY``). The default,
``integer``, takes whole numbers and keeps them as they are.

``snapshot`` switches to single-snapshot mode: a bank with one snapshot and a known outcome. The
as-of time is the end of the snapshot day (23:59:59 UTC); monthly rows, contacts and join dates that
are not mapped are stamped then, and the label is read from ``snapshot.label``: its ``positive``
(and optionally ``negative``) values, compared ignoring case and surrounding spaces.

A blank cell (empty or spaces only) is null; a required field may not be blank.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from retain.core.columns import KEY
from retain.core.errors import ConfigError
from retain.core.ids import IdMode
from retain.core.tables import RAW_TABLES

REQUIRED: dict[str, tuple[str, ...]] = {
    "customers": ("customer_id", "join_date"),
    "monthly": ("customer_id", "month_end"),
    "churn": ("customer_id", "churned_at"),
    "campaigns": ("customer_id", "sent_at", "action_id", "outcome"),
}
"""Fields a mapping must give (in snapshot mode, time fields default to the snapshot time)."""

KEYS: dict[str, tuple[str, ...]] = {
    "customers": ("customer_id",),
    "monthly": ("customer_id", "month_end"),
    "churn": ("customer_id",),
    "campaigns": ("contact_id",),
}
"""Each table's key: a duplicated key is an error."""

DEFAULTS: dict[str, str] = {
    "campaigns.contact_id": "the row number in the file",
    "campaigns.kind": "cross_sell for an action_id starting with xsell_, else retention",
    "campaigns.randomized": "false",
    "campaigns.holdout": "false",
    "*": "null",
}
"""What an unmapped field becomes (documented for the README)."""

TIME_FIELDS: dict[str, str] = {
    "customers": "join_date",
    "monthly": "month_end",
    "churn": "churned_at",
    "campaigns": "sent_at",
}

BOOLEAN_WORDS: tuple[tuple[str, str], ...] = (
    ("true", "false"),
    ("t", "f"),
    ("yes", "no"),
    ("y", "n"),
    ("1", "0"),
)
"""How a boolean may be written (any case); 1.0 and 0.0 too."""

FEATURE_TABLES: tuple[str, ...] = ("customers", "monthly")
"""Tables whose extras become features under their own name (``features.extras.TABLES``); a
timestamp extra becomes ``<name>_epoch_s``."""

ExtraType = Literal["int", "float", "bool", "string", "timestamp"]
Unit = Literal["days", "months", "years"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Column(_Strict):
    """Where one field's values come from, and how to read them."""

    column: str | None = None
    value: Any = None
    row_number: bool = False
    format: str | None = None  # strptime format of a date column (default: ISO 8601)
    ago: Unit | None = None  # the value counts days/months/years before the snapshot date
    scale: float | None = None  # multiply numbers by this (cents -> currency: 0.01)
    values: dict[str, Any] | None = None  # recode source values, given as text

    @model_validator(mode="after")
    def _one_source(self) -> Column:
        sources = [self.column is not None, self.value is not None, self.row_number]
        if sum(sources) != 1:
            raise ValueError("give exactly one of column, value or row_number")
        return self


class Extra(Column):
    """A bank-specific column kept beside the contract's fields."""

    type: ExtraType = "string"


class Table(_Strict):
    """One source file and how its columns map onto a raw table."""

    path: str
    format: Literal["csv", "parquet"] | None = None
    delimiter: str = ","
    encoding: str = "utf-8"
    columns: dict[str, Column | str]
    extras: dict[str, Extra | str] = Field(default_factory=dict)

    def field(self, name: str) -> Column | None:
        spec = self.columns.get(name)
        return Column(column=spec) if isinstance(spec, str) else spec

    def extra(self, name: str) -> Extra:
        spec = self.extras[name]
        return Extra(column=spec) if isinstance(spec, str) else spec

    @property
    def kind(self) -> str:
        return self.format or ("parquet" if self.path.lower().endswith(".parquet") else "csv")


class Label(_Strict):
    """Where the known outcome of a snapshot is: a column of one of the mapped tables."""

    table: str
    column: str
    positive: list[Any] | None = None  # values meaning 1 (default: the column is 1/0, yes/no)
    negative: list[Any] | None = None  # values meaning 0 (default: every value not positive)


class Snapshot(_Strict):
    as_of: dt.date
    label: Label


class Mapping(_Strict):
    """A validated mapping; ``base`` is the folder that relative paths start from."""

    version: Literal[1] = 1
    timezone: str = "UTC"
    customer_ids: IdMode = "integer"  # string: any text, stored under a keyed hash (core.ids)
    snapshot: Snapshot | None = None
    tables: dict[str, Table]
    base: Path = Path(".")
    name: str = "mapping"

    def table_path(self, table: str) -> Path:
        path = Path(self.tables[table].path).expanduser()
        return path if path.is_absolute() else self.base / path

    @property
    def as_of(self) -> Any:
        """The snapshot time (end of the snapshot day, UTC); None in monthly mode."""
        import pandas as pd

        if self.snapshot is None:
            return None
        return pd.Timestamp(self.snapshot.as_of, tz="UTC") + pd.Timedelta(
            hours=23, minutes=59, seconds=59
        )


def load_mapping(path: Path, feature_names: Collection[str] = ()) -> Mapping:
    """Read and check a mapping file.

    Args:
        path: the YAML file.
        feature_names: retain's own feature names (``features.schema.feature_names()``, passed by
            the entrance): an extra of ``customers`` or ``monthly`` becomes a feature under its
            own name, so one named like these is refused here rather than at the feature build.

    Raises:
        ConfigError: the file is missing or not YAML, or the mapping is invalid (an unknown table
            or field, a required field not mapped, a bad option); the message names them.
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ConfigError(f"mapping file {path} not found") from e
    except yaml.MarkedYAMLError as e:
        raise ConfigError(f"cannot read the mapping file {path}: {_yaml_problem(e)}") from e
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"cannot read the mapping file {path}: {first}") from e
    return parse_mapping(
        data, base=path.parent.absolute(), name=path.name, feature_names=feature_names
    )


def _yaml_problem(e: yaml.MarkedYAMLError) -> str:
    """A YAML syntax error as ``line L, column C: problem (context)`` (1-based, like editors)."""
    mark = e.problem_mark or e.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    problem = e.problem or "not valid YAML"
    context = (
        f" ({e.context} at line {e.context_mark.line + 1})" if e.context and e.context_mark else ""
    )
    return f"YAML syntax error at {where}{problem}{context}"


def parse_mapping(
    data: Any,
    base: Path = Path("."),
    name: str = "mapping",
    feature_names: Collection[str] = (),
) -> Mapping:
    """Check a mapping given as plain data (what the YAML holds).

    Raises:
        ConfigError: see ``load_mapping``.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{name}: a mapping is a YAML dictionary with a 'tables' key")
    try:
        mapping = Mapping.model_validate({**data, "base": base, "name": name})
    except ValidationError as e:
        err = e.errors()[0]
        # Union members and validators show up in the location: keep the mapping's own keys.
        where = ".".join(str(p) for p in err["loc"] if not str(p).startswith(("function-", "str")))
        what = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        what = what.removeprefix("Value error, ")
        raise ConfigError(f"{name}: {where}: {what}") from e
    _check(mapping, frozenset(feature_names))
    return mapping


def _check(m: Mapping, feature_names: frozenset[str]) -> None:
    """The checks pydantic cannot express: tables, fields and types of retain's contract. Every
    problem is found, then raised together: one line for one, else a count and one line each."""
    found = _problems(m, feature_names)
    if len(found) == 1:
        raise ConfigError(f"{m.name}: {found[0]}")
    if found:
        lines = "\n".join(f"  {p}" for p in found)
        raise ConfigError(f"{m.name}: {len(found)} problems in the mapping:\n{lines}")


def _problems(m: Mapping, feature_names: frozenset[str]) -> list[str]:
    found: list[str] = []
    try:
        ZoneInfo(m.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        found.append(f"timezone: unknown time zone {m.timezone!r}")
    for table in sorted(set(m.tables) - set(RAW_TABLES)):
        found.append(f"tables: unknown table {table!r}; known: {', '.join(RAW_TABLES)}")
    needed = ["customers"] if m.snapshot else ["customers", "monthly"]
    for table in needed:
        if table not in m.tables:
            found.append(f"tables: the {table} table must be mapped")
    for table, spec in m.tables.items():
        if table not in RAW_TABLES:
            continue
        schema = RAW_TABLES[table]
        for field in spec.columns:
            if field not in schema.names:
                found.append(
                    f"tables.{table}.columns: unknown field {field!r} of table {table}; "
                    f"known: {', '.join(schema.names)} (bank-specific columns go under extras)"
                )
                continue
            col = spec.field(field)
            assert col is not None
            type_ = str(schema.field(field).type)
            if field == KEY and m.customer_ids == "string":
                type_ = "string"  # the bank's ids as text, hashed when read
            found += _column_problems(m, f"tables.{table}.columns.{field}", type_, col)
        for field in REQUIRED[table]:
            snapshot_time = m.snapshot is not None and field == TIME_FIELDS[table]
            if field not in spec.columns and not snapshot_time:
                found.append(f"tables.{table}.columns: required field {field!r} is not mapped")
        for extra in spec.extras:
            if extra in schema.names:
                found.append(
                    f"tables.{table}.extras.{extra}: {extra!r} is a field of the contract: "
                    "map it under columns"
                )
                continue
            col = spec.extra(extra)
            found += _column_problems(m, f"tables.{table}.extras.{extra}", col.type, col)
    found += _extra_name_problems(m, feature_names)
    if m.snapshot:
        label = m.snapshot.label
        if label.table not in m.tables:
            found.append(f"snapshot.label.table: table {label.table!r} is not mapped")
        negative = {label_key(v) for v in label.negative or []}
        both = [v for v in label.positive or [] if label_key(v) in negative]
        if both:
            found.append(
                f"snapshot.label: {both[0]!r} is both positive and negative "
                "(values are compared ignoring case and spaces)"
            )
    return found


def label_key(value: Any) -> str:
    """A label value as compared: trimmed and case-folded, with one spelling for the usual
    boolean words (``BOOLEAN_WORDS``) and for whole numbers (2.0 = 2)."""
    if isinstance(value, bool):  # YAML reads an unquoted yes/no/true/false as a boolean
        return "true" if value else "false"
    text = str(value).strip().casefold()
    if text in {t for t, _ in BOOLEAN_WORDS} | {"1.0"}:
        return "true"
    if text in {f for _, f in BOOLEAN_WORDS} | {"0.0"}:
        return "false"
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


def _extra_name_problems(m: Mapping, feature_names: frozenset[str]) -> list[str]:
    """Extras of the tables that become features take their own names as feature names: one
    taken by retain's features or by another such extra would be refused by the feature build."""
    found: list[str] = []
    seen: dict[str, str] = {}
    for table in FEATURE_TABLES:
        if table not in m.tables:
            continue
        spec = m.tables[table]
        for extra in spec.extras:
            if extra in RAW_TABLES[table].names:
                continue  # a field of the contract: reported as such
            feature = extra + ("_epoch_s" if spec.extra(extra).type == "timestamp" else "")
            where = f"tables.{table}.extras.{extra}"
            if feature in feature_names:
                found.append(
                    f"{where}: {feature!r} is the name of one of retain's features; "
                    f"rename the extra (for example bank_{extra})"
                )
            elif feature in seen:
                found.append(
                    f"{where}: the feature {feature!r} is also made by extra {seen[feature]}; "
                    "rename one of them"
                )
            seen[feature] = f"{table}.{extra}"
    return found


def _column_problems(m: Mapping, where: str, type_: str, col: Column) -> list[str]:
    is_time = type_.startswith("timestamp")
    is_number = type_.startswith(("int", "float")) or type_ in ("double",)
    found: list[str] = []
    if col.format is not None and not is_time:
        found.append(f"{where}: format applies to dates only")
    if col.ago is not None and not is_time:
        found.append(f"{where}: ago applies to dates only")
    if col.ago is not None and m.snapshot is None:
        found.append(f"{where}: ago counts back from the snapshot date: set snapshot")
    if col.scale is not None and not is_number:
        found.append(f"{where}: scale applies to numbers only")
    if col.row_number and not type_.startswith("int"):
        found.append(f"{where}: row_number gives integers only")
    return found
