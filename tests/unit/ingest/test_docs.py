"""The README's table of the contract's fields is generated from the contract."""

from __future__ import annotations

from pathlib import Path

from ingest.docs import BEGIN, END, fields_table, replace_in
from retain.core.tables import FIELD_NOTES, PRODUCTS, RAW_TABLES

README = Path(__file__).resolve().parents[3] / "README.md"


def test_readme_holds_the_generated_table():
    """The README's table is exactly what ``fields_table`` renders from the contract."""
    text = README.read_text(encoding="utf-8")
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    assert replace_in(text) == text, (
        "the README's table of fields is out of date: regenerate it with "
        "`.venv/bin/python -m ingest.docs README.md`"
    )


def test_table_has_every_field_once():
    rows = fields_table().splitlines()[2:]
    cells = [[c.strip() for c in row.strip("|").split(" | ")] for row in rows]
    assert all(len(c) == 7 for c in cells)
    named = {(c[0].strip("`"), c[1].strip("`")) for c in cells}
    holdings = {f"has_{p}" for p in PRODUCTS}
    expected = {(t, f) for t, s in RAW_TABLES.items() for f in s.names if f not in holdings}
    assert named == expected | {("monthly", "has_<product>")}
    assert cells[0][:4] == ["`customers`", "`customer_id`", "integer or text", "yes (key)"]


def test_notes_are_about_real_fields():
    for key in FIELD_NOTES:
        table, field = key.split(".")
        assert field in RAW_TABLES[table].names, key
