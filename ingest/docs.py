"""The README's table of the contract's fields, rendered from the contract so that it cannot drift.

``fields_table`` renders every field of ``retain.core.tables.RAW_TABLES`` with its type, whether a
mapping must give it (``ingest.mapping.REQUIRED``), the values reading accepts
(``ingest.read``) and what an unmapped one becomes (``ingest.mapping.DEFAULTS``). The README holds
its output between two markers; a unit test checks that it is the same. To regenerate it::

    .venv/bin/python -m ingest.docs README.md
"""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow as pa

from ingest.mapping import BOOLEAN_WORDS, DEFAULTS, KEYS, REQUIRED, TIME_FIELDS
from ingest.read import ENUMS, INT_RANGES
from retain.core.columns import KEY
from retain.core.tables import FIELD_NOTES, PRODUCTS, RAW_TABLES

BEGIN = (
    "<!-- fields: generated from retain/core/tables.py and ingest/; "
    "regenerate with `.venv/bin/python -m ingest.docs README.md` -->"
)
END = "<!-- /fields -->"


def _type(t: pa.DataType) -> str:
    if pa.types.is_integer(t):
        return "integer"
    if pa.types.is_floating(t):
        return "number"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_timestamp(t):
        return "date and time"
    return "text"


def _allowed(table: str, name: str, t: pa.DataType) -> str:
    target = f"{table}.{name}"
    if name == KEY:
        return "whole numbers, or any text with `customer_ids: string`"
    if target in ENUMS:
        return ", ".join(f"`{v}`" for v in ENUMS[target])
    if pa.types.is_integer(t):
        lo, hi = INT_RANGES[str(t)]
        return "any" if str(t) == "int64" else f"{lo}..{hi}"
    if pa.types.is_boolean(t):
        return ", ".join(f"{t}/{f}" for t, f in BOOLEAN_WORDS) + " (any case)"
    if pa.types.is_timestamp(t):
        return "ISO 8601 or `format:`; with a snapshot, `ago:` too"
    return "any"


def _required(table: str, name: str) -> str:
    keys = KEYS[table]
    key = ""
    if name in keys:
        key = (
            " (key)" if len(keys) == 1 else f" (key with {', '.join(k for k in keys if k != name)})"
        )
    return ("yes" if name in REQUIRED[table] else "no") + key


def _missing(table: str, name: str) -> str:
    if name in REQUIRED[table]:
        snapshot = name == TIME_FIELDS[table]
        return "refused" + ("; with a snapshot, the snapshot time" if snapshot else "")
    return DEFAULTS.get(f"{table}.{name}", DEFAULTS["*"])


def _plain_text(text: str) -> str:
    """Text safe in a Markdown table cell: no column break, no HTML tag."""
    return text.replace("|", "\\|").replace("<", "&lt;")


def fields_table() -> str:
    """The Markdown table of every field of the raw tables (``has_<product>`` on one row)."""
    lines = [
        "| table | field | type | required | allowed values | when not mapped | meaning |",
        "|---|---|---|---|---|---|---|",
    ]
    holdings = [f"has_{p}" for p in PRODUCTS]
    for table, schema in RAW_TABLES.items():
        for f in schema:
            if f.name in holdings[1:]:
                continue
            name = f"`{f.name}`"
            if f.name == holdings[0]:
                name = "`has_<product>`"
            row = [
                f"`{table}`",
                name,
                "integer or text" if f.name == KEY else _type(f.type),
                _required(table, f.name),
                _allowed(table, f.name, f.type),
                _missing(table, f.name),
                _plain_text(FIELD_NOTES.get(f"{table}.{f.name}", ""))
                or (
                    f"holds the product; one field for each of {', '.join(PRODUCTS)}"
                    if f.name == holdings[0]
                    else ""
                ),
            ]
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def replace_in(text: str) -> str:
    """``text`` (the README) with the table between the markers replaced by ``fields_table()``."""
    head, sep, rest = text.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not sep or not end:
        raise ValueError(f"the markers {BEGIN!r} and {END!r} are not in the text")
    return f"{head}{BEGIN}\n{fields_table()}\n{END}{tail}"


def main(argv: list[str]) -> None:
    """Print the table, or with a path, rewrite it in that file (between the markers)."""
    if not argv:
        print(fields_table())
        return
    path = Path(argv[0])
    path.write_text(replace_in(path.read_text(encoding="utf-8")), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
