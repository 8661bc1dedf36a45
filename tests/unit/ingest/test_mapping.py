"""The mapping file: every mistake is a ConfigError naming the place in the mapping."""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path

import pytest

from ingest.mapping import Column, load_mapping, parse_mapping
from retain.core.errors import ConfigError

MINIMAL = {
    "version": 1,
    "tables": {
        "customers": {
            "path": "customers.csv",
            "columns": {"customer_id": "id", "join_date": "opened"},
        },
        "monthly": {
            "path": "monthly.parquet",
            "columns": {"customer_id": "id", "month_end": {"column": "period", "format": "%Y-%m"}},
        },
    },
}


def _with(change) -> dict:
    m = copy.deepcopy(MINIMAL)
    change(m)
    return m


def test_minimal_mapping_reads_short_and_long_forms():
    """A column may be given as its name or as a dictionary; the format follows the suffix."""
    m = parse_mapping(MINIMAL, base=Path("/data"))
    assert m.tables["customers"].field("customer_id") == Column(column="id")
    assert m.tables["monthly"].field("month_end") == Column(column="period", format="%Y-%m")
    assert m.tables["monthly"].kind == "parquet" and m.tables["customers"].kind == "csv"
    assert m.table_path("customers") == Path("/data/customers.csv")
    assert m.as_of is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda m: m["tables"]["customers"]["columns"].__setitem__("score", "s"),
            "tables.customers.columns: unknown field 'score' of table customers",
        ),
        (
            lambda m: m["tables"].__setitem__("accounts", {"path": "a.csv", "columns": {}}),
            "tables: unknown table 'accounts'",
        ),
        (
            lambda m: m["tables"]["customers"].__setitem__("delimter", ";"),
            "tables.customers.delimter: unknown key",
        ),
        (
            lambda m: m["tables"]["monthly"]["columns"].pop("month_end"),
            "tables.monthly.columns: required field 'month_end' is not mapped",
        ),
        (
            lambda m: m["tables"].pop("monthly"),
            "tables: the monthly table must be mapped",
        ),
        (
            lambda m: m["tables"]["customers"]["columns"].__setitem__(
                "region", {"column": "r", "value": "north"}
            ),
            "tables.customers.columns.region",
        ),
        (
            lambda m: m["tables"]["customers"]["columns"].__setitem__(
                "region", {"column": "r", "format": "%Y"}
            ),
            "tables.customers.columns.region: format applies to dates only",
        ),
        (
            lambda m: m["tables"]["customers"]["columns"].__setitem__(
                "join_date", {"column": "tenure", "ago": "years"}
            ),
            "ago counts back from the snapshot date",
        ),
        (
            lambda m: m["tables"]["customers"].__setitem__("extras", {"region": "r"}),
            "tables.customers.extras.region: 'region' is a field of the contract",
        ),
        (lambda m: m.__setitem__("timezone", "Mars/Olympus"), "unknown time zone"),
        (lambda m: m.__setitem__("version", 2), "version"),
        (
            lambda m: m.__setitem__(
                "snapshot", {"as_of": "2024-06-30", "label": {"table": "churn", "column": "x"}}
            ),
            "snapshot.label.table: table 'churn' is not mapped",
        ),
        (
            lambda m: m.__setitem__("snapshot", {"as_of": "30/06/2024", "label": {}}),
            "snapshot.as_of",
        ),
    ],
    ids=[
        "unknown-field",
        "unknown-table",
        "unknown-key",
        "required-field",
        "required-table",
        "two-sources",
        "format-on-text",
        "ago-without-snapshot",
        "extra-named-like-a-field",
        "bad-timezone",
        "bad-version",
        "label-table-not-mapped",
        "bad-as-of",
    ],
)
def test_mapping_mistakes(change, message):
    """It names the place of each kind of mistake in the mapping."""
    with pytest.raises(ConfigError, match="bank.yaml: ") as e:
        parse_mapping(_with(change), name="bank.yaml")
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_snapshot_mode_needs_no_monthly_table_nor_time_fields():
    """With a snapshot, the customers table alone is enough; time fields default to the
    snapshot time, the end of the snapshot day in UTC."""
    m = parse_mapping(
        {
            "snapshot": {"as_of": "2024-06-30", "label": {"table": "customers", "column": "y"}},
            "tables": {"customers": {"path": "c.csv", "columns": {"customer_id": "id"}}},
        }
    )
    assert str(m.as_of) == "2024-06-30 23:59:59+00:00"


def test_missing_and_invalid_files(tmp_path: Path):
    with pytest.raises(ConfigError, match="not found"):
        load_mapping(tmp_path / "bank.yaml")
    (tmp_path / "bank.yaml").write_text("tables: [unclosed\n")
    with pytest.raises(ConfigError, match="cannot read the mapping file"):
        load_mapping(tmp_path / "bank.yaml")
    (tmp_path / "bank.yaml").write_text("- a list\n")
    with pytest.raises(ConfigError, match="a YAML dictionary"):
        load_mapping(tmp_path / "bank.yaml")


@pytest.mark.parametrize("name", ["churn_modelling", "bank_marketing", "hillstrom"])
def test_packaged_public_mappings_are_valid(name: str):
    """The mappings of the public data sets ship with the package and validate."""
    with resources.as_file(resources.files("ingest") / "public" / f"{name}.yaml") as path:
        m = load_mapping(path)
    assert m.snapshot is not None
