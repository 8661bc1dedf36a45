"""Campaign audiences: which customers ``retain recommend --audience SPEC`` decides for.

A SPEC is one of:

- ``segment:<column>=<value>``: the customers of a segment in the latest scores table
  (``retain score``); ``column`` is ``value_tier``, ``lifecycle_stage``, ``behaviour_segment`` or
  ``branch``;
- ``file:<path>``: the bank's ids in a file, one per line, or a CSV file with a ``customer_id``
  column;
- ``all``: every customer with a monthly snapshot at the latest month end of the sources (the
  base ``retain score`` scores).

The audience is resolved, checked and de-duplicated (first occurrence kept) before any decision
is made, so a bad SPEC changes nothing. Parsing and selection are pure; reading is at the edges.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from features.segments import BEHAVIOUR_SEGMENTS, LIFECYCLE_STAGES, UNKNOWN
from retain.core.errors import ConfigError, DataError
from retain.core.ids import BankId
from retain.core.settings import Settings
from serving.actions import NO_ACTION
from serving.schemas import BatchDecision

SEGMENT_COLUMNS: dict[str, str] = {
    "value_tier": "value_tier",
    "lifecycle_stage": "lifecycle_stage",
    "behaviour_segment": "behaviour_segment",
    "branch": "branch_id",
}
"""Segment name in a SPEC -> its column in the scores table."""

ID_COLUMN = "customer_id"


@dataclass(frozen=True)
class AudienceSpec:
    """A parsed SPEC: ``kind`` is ``segment`` (``column`` = ``value``), ``file`` (``path``) or
    ``all``."""

    kind: str
    column: str | None = None
    value: str | None = None
    path: Path | None = None

    def __str__(self) -> str:
        if self.kind == "segment":
            return f"segment:{self.column}={self.value}"
        if self.kind == "file":
            return f"file:{self.path}"
        return "all"


@dataclass(frozen=True)
class Audience:
    """The customers to decide for (the bank's ids, each once, in order) and where they came
    from; ``duplicates``: ids named again and dropped."""

    spec: AudienceSpec
    ids: list[BankId]
    duplicates: int = 0


def parse_spec(text: str) -> AudienceSpec:
    """Raises ConfigError: not ``segment:<column>=<value>``, ``file:<path>`` or ``all``."""
    kind, sep, rest = text.strip().partition(":")
    if kind == "all" and not sep:
        return AudienceSpec("all")
    if kind == "file" and sep and rest.strip():
        return AudienceSpec("file", path=Path(rest.strip()))
    if kind == "segment" and sep:
        column, eq, value = rest.partition("=")
        column, value = column.strip(), value.strip()
        if column not in SEGMENT_COLUMNS:
            raise ConfigError(
                f"--audience {text}: unknown segment {column!r}: use one of "
                f"{', '.join(SEGMENT_COLUMNS)} (segment:value_tier=affluent)"
            )
        if not eq or not value:
            raise ConfigError(f"--audience {text}: give a value, e.g. segment:{column}=<value>")
        return AudienceSpec("segment", column=column, value=value)
    raise ConfigError(
        f"--audience {text!r}: use segment:<column>=<value>, file:<path> or all "
        f"(columns: {', '.join(SEGMENT_COLUMNS)})"
    )


def segment_ids(frame: pd.DataFrame, column: str, value: str, tiers: Sequence[str]) -> list[BankId]:
    """The bank ids of the scored customers whose ``column`` (a SPEC segment name) is ``value``,
    in the table's order.

    Raises:
        DataError: the value is not one the segment can take (the known ones are named), or no
            scored customer has it.
    """
    from serving.at_risk import table_tiers

    known: Sequence[str]
    if column == "value_tier":
        known = (*table_tiers(frame, tiers), UNKNOWN)
    elif column == "lifecycle_stage":
        known = LIFECYCLE_STAGES
    elif column == "behaviour_segment":
        known = BEHAVIOUR_SEGMENTS
    else:
        branches = frame[SEGMENT_COLUMNS[column]].dropna().astype("int64").astype(str)
        known = sorted(set(branches), key=lambda b: (len(b), b))
    if value not in known:
        shown = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "")
        raise DataError(f"unknown {column} {value!r}: use one of {shown}")
    values = frame[SEGMENT_COLUMNS[column]]
    if column == "branch":
        values = values.astype("Int64").astype("string")
    chosen = frame.loc[(values == value).fillna(False).to_numpy(dtype=bool), ID_COLUMN]
    if chosen.empty:
        raise DataError(f"no scored customer has {column} {value!r}: the audience is empty")
    return list(chosen.tolist())  # Python ints or strs, as the bank writes its ids


def ids_in_text(text: str, where: str) -> list[str]:
    """The ids of a file's text: one per line, or a CSV table with a ``customer_id`` column
    (recognised by its header). Blank lines and cells are skipped.

    Raises:
        DataError: a CSV header without ``customer_id``, or no id at all.
    """
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        raise DataError(f"{where} names no customer: the audience is empty")
    header = [c.strip().lower() for c in next(csv.reader([lines[0]]))]
    if len(header) > 1 or header[0] == ID_COLUMN:
        if ID_COLUMN not in header:
            raise DataError(
                f"{where} is a table without a {ID_COLUMN} column (its columns: "
                f"{', '.join(header[:10])}): name the ids' column {ID_COLUMN}"
            )
        column = header.index(ID_COLUMN)
        reader = csv.reader(io.StringIO("\n".join(lines[1:])))
        ids = [row[column].strip() for row in reader if len(row) > column and row[column].strip()]
    else:
        ids = lines
    if not ids:
        raise DataError(f"{where} names no customer: the audience is empty")
    return ids


def read_id_file(path: Path) -> list[str]:
    """Raises DataError: the file is missing or unreadable, or names no customer."""
    if not path.is_file():
        raise DataError(f"no audience file {path}: give the path of a file of customer ids")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read the audience file {path}: {e}") from e
    return ids_in_text(text, f"the audience file {path}")


def unique(
    ids: Sequence[BankId], key_of: Callable[[BankId], int | None]
) -> tuple[list[BankId], int]:
    """``ids`` with each customer once (first kept; ids no customer can have, by their text),
    and how many were dropped."""
    seen: set[object] = set()
    out: list[BankId] = []
    for i in ids:
        key = key_of(i)
        mark: object = ("text", str(i)) if key is None else key
        if mark in seen:
            continue
        seen.add(mark)
        out.append(i)
    return out, len(ids) - len(out)


def resolve(
    settings: Settings, spec: AudienceSpec, key_of: Callable[[BankId], int | None]
) -> Audience:
    """The audience of a SPEC (``key_of``: the bank id -> store key, to drop repeats).

    Raises:
        NotReadyError: a segment audience and no scores yet, or ``all`` and no features built.
        DataError: an unknown segment value or branch, a missing or empty file, an empty
            audience.
    """
    ids: list[BankId]
    if spec.kind == "segment":
        from features.segments import ValueConfig
        from serving.at_risk import latest_scores

        assert spec.column is not None and spec.value is not None
        scores = latest_scores(settings)
        tiers = ValueConfig.load(settings).tiers
        ids = segment_ids(scores.frame, spec.column, spec.value, tiers)
    elif spec.kind == "file":
        assert spec.path is not None
        ids = list(read_id_file(spec.path))
    else:
        ids = base_ids(settings)
    kept, dropped = unique(ids, key_of)
    return Audience(spec, kept, dropped)


def base_ids(settings: Settings) -> list[BankId]:
    """The bank ids of every customer with a snapshot at the latest month end of the sources.

    Raises:
        NotReadyError: the features were not built. DataError: nobody is active.
    """
    from features.store import latest_month_end
    from retain.core.ids import load_customer_ids
    from serving.batch import active_keys

    latest = pd.Timestamp(latest_month_end(settings)).tz_convert("UTC")
    keys = [int(k) for _, part in active_keys(settings, latest) for k in part]
    if not keys:
        raise DataError(f"no customer has a snapshot at {latest.date()}: the base is empty")
    return load_customer_ids(settings).bank_ids(keys)


TABLE_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "status",
    "message",
    "decision_id",
    "rank",
    "action_id",
    "kind",
    "channel",
    "expected_value",
    "propensity",
    "reasons",
    "churn_probability",
    "customer_value",
    "value_tier",
    "lifecycle_stage",
    "behaviour_segment",
    "segments_version",
    "placement",
    "at",
)
"""The table ``retain recommend --audience --out`` writes: one row per recommended action (rank
1 first; ``no_action`` alone when nothing is worth doing), one row per customer with no decision
(``status`` not_found or inactive, no action). The segments are the answer's (``segments``: the
``customer_segments`` view, as in the scores table)."""


def decision_rows(items: Iterable[BatchDecision]) -> list[dict[str, Any]]:
    """The rows of ``TABLE_COLUMNS`` of batch answers (reasons joined by ``; ``)."""
    rows: list[dict[str, Any]] = []
    for item in items:
        r = item.recommendation
        if r is None:
            rows.append(
                {"customer_id": item.customer_id, "status": item.status, "message": item.message}
            )
            continue
        for a in r.actions:
            rows.append(
                {
                    "customer_id": item.customer_id,
                    "status": item.status,
                    "message": None,
                    "decision_id": r.decision_id,
                    "rank": a.rank,
                    "action_id": a.action_id,
                    "kind": a.kind,
                    "channel": a.channel,
                    "expected_value": a.expected_value,
                    "propensity": a.propensity,
                    "reasons": "; ".join(x.text for x in a.reasons),
                    "churn_probability": r.churn_probability,
                    "customer_value": r.customer_value,
                    "value_tier": r.segments.value_tier,
                    "lifecycle_stage": r.segments.lifecycle_stage,
                    "behaviour_segment": r.segments.behaviour_segment,
                    "segments_version": r.segments.version,
                    "placement": r.placement,
                    "at": r.at,
                }
            )
    return rows


def decision_table(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """``decision_rows`` as a frame with ``TABLE_COLUMNS``' types (ids as text when mixed)."""
    frame = pd.DataFrame(list(rows), columns=list(TABLE_COLUMNS))
    ids = frame["customer_id"]
    if not all(isinstance(v, int) for v in ids):
        frame["customer_id"] = ids.astype("string")
    frame["rank"] = frame["rank"].astype("Int64")
    for column in ("expected_value", "propensity", "churn_probability", "customer_value"):
        frame[column] = frame[column].astype("float64")
    for column in (
        "status",
        "message",
        "decision_id",
        "action_id",
        "kind",
        "channel",
        "reasons",
        "value_tier",
        "lifecycle_stage",
        "behaviour_segment",
        "segments_version",
        "placement",
    ):
        frame[column] = frame[column].astype("string")
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    return frame


@dataclass
class Summary:
    """Counts over an audience's answers: customers by status, and by their first action."""

    customers: int = 0
    decided: int = 0
    not_found: int = 0
    inactive: int = 0
    first_actions: dict[str, int] = field(default_factory=dict)

    def add(self, items: Iterable[BatchDecision]) -> None:
        for item in items:
            self.customers += 1
            if item.status == "not_found":
                self.not_found += 1
            elif item.status == "inactive":
                self.inactive += 1
            elif item.recommendation is not None:
                self.decided += 1
                first = item.recommendation.actions[0].action_id
                self.first_actions[first] = self.first_actions.get(first, 0) + 1

    @property
    def no_action(self) -> int:
        return self.first_actions.get(NO_ACTION, 0)
