"""The mapping file: every mistake is a ConfigError naming the place in the mapping."""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path

import pytest

from features.extras import feature_names
from ingest.mapping import FEATURE_TABLES, Column, label_key, load_mapping, parse_mapping
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


def test_yaml_syntax_error_gives_line_and_column(tmp_path: Path):
    """A YAML mistake names its line and column (1-based, as editors count)."""
    (tmp_path / "bank.yaml").write_text(
        "tables:\n  customers:\n    path: c.csv\n    columns: {customer_id: id\n  monthly: {}\n"
    )
    with pytest.raises(ConfigError) as e:
        load_mapping(tmp_path / "bank.yaml")
    assert "YAML syntax error at line 5, column 10" in str(e.value)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("table", "extras", "message"),
    [
        ("customers", {"age": "a"}, "extras.age: 'age' is the name of one of retain's features"),
        ("monthly", {"n_products": {"column": "p", "type": "int"}}, "'n_products' is the name"),
        (
            "customers",
            {"join": {"column": "j", "type": "timestamp"}},
            "'join_epoch_s' is the name of one of retain's features",
        ),
    ],
    ids=["profile-field", "derived-feature", "timestamp-epoch-name"],
)
def test_extra_named_like_a_feature_is_refused(table: str, extras: dict, message: str):
    """An extra of a table whose extras become features may not take a feature's name."""
    data = _with(lambda m: m["tables"][table].__setitem__("extras", extras))
    with pytest.raises(ConfigError) as e:
        parse_mapping(data, name="bank.yaml", feature_names=feature_names())
    assert message in str(e.value) and "rename the extra" in str(e.value)


def test_extras_clashing_with_each_other_or_outside_features():
    """The same extra name in customers and monthly is refused (one feature view holds both);
    an extra of campaigns, never a feature, may be named like one."""
    data = _with(lambda m: m["tables"]["customers"].__setitem__("extras", {"score": "s"}))
    data["tables"]["monthly"]["extras"] = {"score": "s"}
    with pytest.raises(ConfigError, match="also made by extra customers.score"):
        parse_mapping(data, feature_names=feature_names())
    data = _with(
        lambda m: m["tables"].__setitem__(
            "campaigns",
            {
                "path": "c.csv",
                "columns": {"customer_id": "id", "sent_at": "t", "action_id": "a", "outcome": "o"},
                "extras": {"age": "a"},
            },
        )
    )
    parse_mapping(data, feature_names=feature_names())


def test_the_reserved_names_are_every_feature_of_the_repo():
    """What ingestion checks extras against is every feature of the views (the segments' too)
    and the request-time view; ``FEATURE_TABLES`` are the tables whose extras the feature build
    serves."""
    from features.extras import TABLES
    from features.request_time import FEATURES
    from features.schema import SEGMENT_FEATURES, VIEW_FEATURES

    names = {n for features in VIEW_FEATURES.values() for n, _, _ in features} | set(FEATURES)
    names |= {n for n, _, _ in SEGMENT_FEATURES}
    assert feature_names() == names and {"tenure_days", "bal_total", "value_tier"} <= names
    assert set(FEATURE_TABLES) == set(TABLES)


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("Yes", "true"),
        (" YES ", "true"),
        (True, "true"),
        (1, "true"),
        ("1.0", "true"),
        ("N", "false"),
        (0, "false"),
        ("Churned ", "churned"),
        (2.0, "2"),
        ("2.5", "2.5"),
    ],
)
def test_label_values_compare_ignoring_case_spaces_and_spelling(value, key):
    assert label_key(value) == key


def test_a_label_value_both_positive_and_negative_is_refused():
    data = {
        "snapshot": {
            "as_of": "2024-06-30",
            "label": {
                "table": "customers",
                "column": "y",
                "positive": ["Yes"],
                "negative": ["no", "yes "],
            },
        },
        "tables": {"customers": {"path": "c.csv", "columns": {"customer_id": "id"}}},
    }
    with pytest.raises(ConfigError, match="snapshot.label: 'Yes' is both positive and negative"):
        parse_mapping(data)


def test_every_mapping_mistake_at_once():
    """Mistakes in several places of a valid YAML mapping come together: a count, then one line
    each."""

    def change(m):
        m["tables"]["customers"]["columns"]["score"] = "s"
        m["tables"]["customers"]["extras"] = {"age": "a"}
        m["tables"]["monthly"]["columns"].pop("month_end")

    with pytest.raises(ConfigError) as e:
        parse_mapping(_with(change), name="bank.yaml", feature_names=feature_names())
    first, *lines = str(e.value).splitlines()
    assert first == "bank.yaml: 3 problems in the mapping:"
    assert [line.split(":")[0] for line in lines] == [
        "  tables.customers.columns",
        "  tables.monthly.columns",
        "  tables.customers.extras.age",
    ]
