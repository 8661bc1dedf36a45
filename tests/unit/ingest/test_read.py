"""Reading a bank's files through a mapping: types, units, dates, defaults, and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from features.frames import label_table
from ingest import read_bank, write_bank
from ingest.mapping import parse_mapping
from retain.core.errors import ConfigError, DataError
from retain.core.settings import Settings
from retain.core.tables import RAW_TABLES

CUSTOMERS = (
    "id;opened;consent;channel\n1;2020-01-15;yes;App\n2;2021-06-30;no;\n3;2019-03-01;;Branch\n"
)
MONTHLY = (
    "id,period,cents,age\n1,2024-01,12345,40\n1,2024-02,100,40\n2,2024-02,5,33\n3,2024-01,,70\n"
)


def _bank(tmp_path: Path, customers: str = CUSTOMERS, monthly: str = MONTHLY, **extra) -> dict:
    (tmp_path / "customers.csv").write_text(customers)
    (tmp_path / "monthly.csv").write_text(monthly)
    tables = {
        "customers": {
            "path": "customers.csv",
            "delimiter": ";",
            "columns": {
                "customer_id": "id",
                "join_date": "opened",
                "marketing_consent": "consent",
                "preferred_channel": {
                    "column": "channel",
                    "values": {"App": "mobile", "Branch": "branch"},
                },
            },
        },
        "monthly": {
            "path": "monthly.csv",
            "columns": {
                "customer_id": "id",
                "month_end": {"column": "period", "format": "%Y-%m"},
                "bal_current": {"column": "cents", "scale": 0.01},
                "age": "age",
            },
        },
    }
    return {"timezone": "Europe/Lisbon", "tables": tables, **extra}


def _read(tmp_path: Path, data: dict):
    return read_bank(parse_mapping(data, base=tmp_path, name="bank.yaml"))


def test_types_units_and_defaults(tmp_path: Path):
    """Values are typed, scaled and recoded; month stamps move to the month's last second UTC;
    dates in the bank's time zone become UTC; unmapped fields are null."""
    bank = _read(tmp_path, _bank(tmp_path))
    c, m = bank.tables["customers"], bank.tables["monthly"]
    assert c["join_date"].iloc[1] == pd.Timestamp("2021-06-29 23:00:00", tz="UTC")  # Lisbon +1
    assert c["marketing_consent"].tolist() == [True, False, pd.NA]
    assert c["preferred_channel"].tolist() == ["mobile", None, "branch"]
    assert c["region"].isna().all()
    assert m["month_end"].iloc[0] == pd.Timestamp("2024-01-31 23:59:59", tz="UTC")
    assert m["bal_current"].iloc[:3].tolist() == pytest.approx([123.45, 1.0, 0.05])
    assert pd.isna(m["bal_current"].iloc[3])
    for table, schema in RAW_TABLES.items():
        assert bank.arrow(table).schema == schema  # empty tables too
    assert bank.labels is None


@pytest.mark.parametrize(
    ("customers", "monthly", "message"),
    [
        (CUSTOMERS, MONTHLY.replace("12345", "12x3"), "column 'cents' -> monthly.bal_current"),
        (CUSTOMERS, MONTHLY.replace(",40\n1,", ",forty\n1,"), "'forty' is not an integer"),
        (CUSTOMERS, MONTHLY.replace(",40\n1,", ",40000\n1,"), "'40000' is outside -32768..32767"),
        (CUSTOMERS, MONTHLY.replace("2024-02,5", "2024-13,5"), "'2024-13' is not a date"),
        (CUSTOMERS.replace("2021-06-30", "30.06.2021"), MONTHLY, "is not a date (an ISO 8601"),
        (CUSTOMERS.replace(";no;", ";maybe;"), MONTHLY, "'maybe' is not a boolean"),
        (CUSTOMERS.replace("Branch", "Post"), MONTHLY, "'Post' is not one of branch, mobile"),
        (
            CUSTOMERS.replace("\n2;", "\n1;"),
            MONTHLY.replace("2,2024-02", "1,2024-03"),
            "duplicated key customer_id = 1 in rows 1, 2",
        ),
        (CUSTOMERS, MONTHLY.replace("1,2024-02", "1,2024-01"), "duplicated key customer_id/month"),
        (CUSTOMERS, MONTHLY.replace("3,2024-01", "4,2024-01"), "customer 4 has no row in the"),
        (CUSTOMERS.replace("2020-01-15", ""), MONTHLY, "a required field is empty"),
    ],
    ids=[
        "not-a-number",
        "not-an-integer",
        "out-of-range",
        "bad-month",
        "bad-date",
        "bad-boolean",
        "bad-enum",
        "duplicated-customer",
        "duplicated-month",
        "unknown-customer",
        "empty-required",
    ],
)
def test_data_mistakes(tmp_path: Path, customers: str, monthly: str, message: str):
    """Each mistake is one line naming the table, the file and a sample row."""
    with pytest.raises(DataError) as e:
        _read(tmp_path, _bank(tmp_path, customers, monthly))
    text = str(e.value)
    assert message in text
    assert text.startswith("table ") and "row " in text and "\n" not in text


def test_missing_column_lists_the_file_columns(tmp_path: Path):
    data = _bank(tmp_path)
    data["tables"]["monthly"]["columns"]["inflow"] = "credits"
    with pytest.raises(DataError, match=r"column 'credits' \(mapped to monthly.inflow\) is not in"):
        _read(tmp_path, data)


def test_missing_file(tmp_path: Path):
    data = _bank(tmp_path)
    data["tables"]["monthly"]["path"] = "nowhere.csv"
    with pytest.raises(DataError, match="table monthly: file .*nowhere.csv not found"):
        _read(tmp_path, data)


def test_parquet_source_with_native_types(tmp_path: Path):
    """A Parquet file's own types are used; naive timestamps are read in the mapping's zone."""
    data = _bank(tmp_path)
    pd.DataFrame(
        {
            "id": [1, 2, 3],
            "opened": pd.to_datetime(["2020-01-15 10:00", "2021-01-01 00:00", "2019-03-01 00:00"]),
            "consent": [True, False, True],
            "channel": ["App", "App", "Branch"],
        }
    ).to_parquet(tmp_path / "customers.parquet")
    data["tables"]["customers"] = {**data["tables"]["customers"], "path": "customers.parquet"}
    c = _read(tmp_path, data).tables["customers"]
    assert c["join_date"].iloc[0] == pd.Timestamp("2020-01-15 10:00", tz="UTC")  # WET = UTC
    assert c["marketing_consent"].tolist() == [True, False, True]


def test_snapshot_mode_labels_extras_and_defaults(tmp_path: Path, settings: Settings):
    """One snapshot with a known outcome: the label table, the as-of time for unmapped time
    fields, durations counted back from the snapshot, extras; ``label_table`` then serves the
    snapshot's labels."""
    (tmp_path / "snap.csv").write_text(
        "id,tenure,score,left,offer,answer\n"
        "10,2,600,1,xsell_savings,yes\n20,0,710,0,fee_waiver,no\n30,5,,0,fee_waiver,no\n"
    )
    data = {
        "snapshot": {"as_of": "2024-06-30", "label": {"table": "customers", "column": "left"}},
        "tables": {
            "customers": {
                "path": "snap.csv",
                "columns": {"customer_id": "id", "join_date": {"column": "tenure", "ago": "years"}},
                "extras": {"credit_score": {"column": "score", "type": "int"}},
            },
            "campaigns": {
                "path": "snap.csv",
                "columns": {
                    "customer_id": "id",
                    "action_id": "offer",
                    "outcome": {
                        "column": "answer",
                        "values": {"yes": "accepted", "no": "declined"},
                    },
                },
            },
        },
    }
    bank = _read(tmp_path, data)
    as_of = pd.Timestamp("2024-06-30 23:59:59", tz="UTC")
    c, m, k = bank.tables["customers"], bank.tables["monthly"], bank.tables["campaigns"]
    assert c["join_date"].iloc[1] == as_of
    assert (as_of - c["join_date"].iloc[0]).days == 730
    assert c["credit_score"].tolist() == [600, 710, pd.NA]
    assert m["customer_id"].tolist() == [10, 20, 30] and (m["month_end"] == as_of).all()
    assert k["contact_id"].tolist() == [1, 2, 3]
    assert k["kind"].tolist() == ["cross_sell", "retention", "retention"]
    assert k["sent_at"].eq(as_of).all() and not k["randomized"].any()
    assert bank.labels is not None
    assert bank.labels["label"].tolist() == [1, 0, 0]

    summary = write_bank(bank, settings)
    assert summary.labels == 3 and summary.extras == {"customers": ["credit_score"]}
    extras = pq.read_table(next((settings.raw_dir / "extras" / "customers").glob("*"))).to_pandas()
    assert extras.columns.tolist() == ["customer_id", "join_date", "credit_score"]
    labels = label_table(settings)
    assert labels["label"].tolist() == [1, 0, 0]
    assert labels["event_timestamp"].eq(as_of).all()
    with pytest.raises(DataError, match="is not the snapshot's"):
        label_table(settings, as_of=[pd.Timestamp("2024-05-31 23:59:59", tz="UTC")])


def test_write_replaces_raw_atomically(tmp_path: Path, settings: Settings, monkeypatch):
    """A failed write leaves the previous raw tables in place and no staging folder."""
    bank = _read(tmp_path, _bank(tmp_path))
    write_bank(bank, settings)
    before = sorted(p.relative_to(settings.raw_dir) for p in settings.raw_dir.rglob("*.parquet"))

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("ingest.write._commit", fail)
    with pytest.raises(OSError):
        write_bank(bank, settings)
    after = sorted(p.relative_to(settings.raw_dir) for p in settings.raw_dir.rglob("*.parquet"))
    assert after == before
    assert not list(settings.home.glob(".ingest-*"))


def test_every_problem_of_every_table_at_once(tmp_path: Path):
    """All the problems of all the tables come in one error: a first line with their count, then
    one line each; a problem in many rows shows the first in full, the count of all and the
    next rows, five rows at most."""
    customers = CUSTOMERS.replace(";no;", ";maybe;").replace("Branch", "Post")
    monthly = "id,period,cents,age\n" + "".join(f"1,2024-{m:02d},1,x{m}\n" for m in range(1, 8))
    with pytest.raises(DataError) as e:
        _read(tmp_path, _bank(tmp_path, customers, monthly))
    first, *lines = str(e.value).splitlines()
    assert first == "3 problems in the tables of bank.yaml:"
    assert len(lines) == 3 and all(line.startswith("  table ") for line in lines)
    assert "'maybe' is not a boolean" in lines[0] and "(row 2: " in lines[0]
    assert "'Post' is not one of branch, mobile" in lines[1]
    assert lines[2].endswith(
        "7 rows in all, also 'x2' (row 2), 'x3' (row 3), 'x4' (row 4), 'x5' (row 5), ..."
    )
    assert "'x1' is not an integer (row 1: " in lines[2]


def test_blank_cells_are_null_and_required_ones_refused(tmp_path: Path):
    """A cell of spaces only is null in a nullable field of any type, without ``values:``; in a
    required field it is refused."""
    customers = CUSTOMERS.replace(";no;", ";  ;").replace(";Branch", "; ")
    monthly = MONTHLY.replace(",40\n1,", ", \n1,").replace(",12345,", ",   ,")
    bank = _read(tmp_path, _bank(tmp_path, customers, monthly))
    c, m = bank.tables["customers"], bank.tables["monthly"]
    assert c["marketing_consent"].isna().tolist() == [False, True, True]
    assert c["preferred_channel"].tolist() == ["mobile", None, None]
    assert pd.isna(m["age"].iloc[0]) and pd.isna(m["bal_current"].iloc[0])
    with pytest.raises(DataError, match="customers.join_date: a required field is empty"):
        _read(tmp_path, _bank(tmp_path, CUSTOMERS.replace("2020-01-15", "   "), MONTHLY))


def test_unused_source_columns_are_listed(tmp_path: Path):
    data = _bank(tmp_path, CUSTOMERS.replace("channel\n", "channel;notes\n"))
    data["tables"]["customers"]["columns"].pop("marketing_consent")
    bank = _read(tmp_path, data)
    assert bank.unused == {"customers.csv": ["consent", "notes"], "monthly.csv": []}


def _snapshot(tmp_path: Path, values: list[str], **label) -> dict:
    rows = "".join(f"{i},{v}\n" for i, v in enumerate(values, start=1))
    (tmp_path / "snap.csv").write_text("id,Churn\n" + rows)
    return {
        "snapshot": {
            "as_of": "2024-06-30",
            "label": {"table": "customers", "column": "Churn", **label},
        },
        "tables": {"customers": {"path": "snap.csv", "columns": {"customer_id": "id"}}},
    }


@pytest.mark.parametrize(
    ("values", "label", "expected"),
    [
        (["Yes", "No", " no ", "YES"], {"positive": ["yes"]}, [1, 0, 0, 1]),
        (["Yes", "No", "No", "Yes"], {"positive": [True]}, [1, 0, 0, 1]),  # YAML's unquoted yes
        (["Left", "Stayed", "Moved"], {"negative": ["stayed"]}, [1, 0, 1]),
        (["Y", "N", "N"], {}, [1, 0, 0]),
        (["1", "0", "1.0"], {"positive": [1], "negative": [0]}, [1, 0, 1]),
    ],
    ids=["case-and-spaces", "yaml-boolean", "negative-only", "default-yes-no", "numbers"],
)
def test_labels_ignore_case_and_spaces(tmp_path: Path, values, label, expected):
    bank = _read(tmp_path, _snapshot(tmp_path, values, **label))
    assert bank.labels is not None
    assert bank.labels["label"].tolist() == expected


def test_label_counts_by_value(tmp_path: Path):
    """The label's values as found, with the label each gives and its count, for the summary."""
    bank = _read(tmp_path, _snapshot(tmp_path, ["No", "Yes", "No", "No "], positive=["No"]))
    assert bank.label_values == [("No", 1, 3), ("Yes", 0, 1)]


@pytest.mark.parametrize(
    ("values", "label", "message"),
    [
        (
            ["Yes", "No", "No"],
            {"positive": ["churned"]},
            "no row is positive by positive: ['churned'] (compared ignoring case and spaces); "
            "values seen: 'No' 2, 'Yes' 1",
        ),
        (["Yes", " yes"], {"positive": ["yes"]}, "no row is negative"),
        (
            ["Yes", "No", "Maybe", "Yes"],
            {"positive": ["yes"], "negative": ["no"]},
            "1 row has a value outside positive: ['yes'] and negative: ['no']",
        ),
        (
            ["Churned", "Stayed"],
            {},
            "2 rows have a value outside the boolean words (true/false, t/f, yes/no, y/n, 1/0) "
            "(compared ignoring case and spaces): give positive: (and negative:) under "
            "snapshot.label; values seen: 'Churned' 1, 'Stayed' 1",
        ),
        (["1", "", "0"], {}, "column 'Churn' -> snapshot.label: the label is empty (row 2: "),
    ],
    ids=["no-positive", "no-negative", "outside-declared", "not-boolean", "blank"],
)
def test_label_mistakes_are_refused_with_counts(tmp_path: Path, values, label, message):
    with pytest.raises(DataError) as e:
        _read(tmp_path, _snapshot(tmp_path, values, **label))
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_months_are_the_banks_own(tmp_path: Path):
    """A month given in the bank's time zone stays that month, even where its first instant is
    still the previous month in UTC (Lisbon is UTC+1 in April)."""
    monthly = "id,period,cents,age\n1,2024-03,1,40\n1,2024-04,1,40\n"
    m = _read(tmp_path, _bank(tmp_path, monthly=monthly)).tables["monthly"]
    assert m["month_end"].tolist() == [
        pd.Timestamp("2024-03-31 23:59:59", tz="UTC"),
        pd.Timestamp("2024-04-30 23:59:59", tz="UTC"),
    ]


# --- string customer ids ----------------------------------------------------------------------

ID_KEY = b"a-test-key-of-32-characters-long"
TEXT_CUSTOMERS = (
    "id;opened;consent;channel\n7590-VHVEG;2020-01-15;yes;App\n007;2021-06-30;no;\n"
    " 3x ;2019-03-01;;Branch\n"
)
TEXT_MONTHLY = (
    "id,period,cents,age\n7590-VHVEG,2024-01,12345,40\n7590-VHVEG,2024-02,100,40\n"
    "007,2024-02,5,33\n3x,2024-01,,70\n"
)


def _read_text_ids(tmp_path: Path, customers: str = TEXT_CUSTOMERS, monthly: str = TEXT_MONTHLY):
    data = _bank(tmp_path, customers, monthly, customer_ids="string")
    return read_bank(parse_mapping(data, base=tmp_path, name="bank.yaml"), ID_KEY)


def test_string_ids_are_keyed_by_their_pseudonyms(tmp_path: Path, settings: Settings):
    """With ``customer_ids: string`` every table is keyed by the ids' keyed hashes (trimmed
    text, leading zeros kept); the map back to the bank's ids is written beside the raw tables,
    readable by retain's user only, and the manifest records the mode and the key's check."""
    import json

    from retain.core.ids import load_customer_ids, pseudonym

    bank = _read_text_ids(tmp_path)
    keys = {b: pseudonym(b, ID_KEY) for b in ("7590-VHVEG", "007", "3x")}
    assert bank.tables["customers"]["customer_id"].tolist() == list(keys.values())
    assert bank.tables["monthly"]["customer_id"].tolist() == [
        keys["7590-VHVEG"],
        keys["7590-VHVEG"],
        keys["007"],
        keys["3x"],
    ]
    assert bank.arrow("monthly").schema == RAW_TABLES["monthly"]
    assert bank.id_map is not None and dict(bank.id_map.values.tolist()) == {
        k: b for b, k in keys.items()
    }

    write_bank(bank, settings)
    raw = pq.read_table(settings.raw_dir / "customers").to_pandas()
    assert sorted(raw["customer_id"]) == sorted(keys.values())  # no bank id in the raw tables
    manifest = json.loads((settings.data_dir / "manifest.json").read_text())
    assert manifest["customer_ids"]["mode"] == "string"
    assert (settings.data_dir / "customer_ids.parquet").stat().st_mode & 0o077 == 0
    ids = load_customer_ids(settings, {"RETAIN_ID_KEY": ID_KEY.decode()})
    assert ids.bank_ids(raw["customer_id"]) == [
        {k: b for b, k in keys.items()}[k] for k in raw["customer_id"]
    ]

    # Integer ids next: the map of the string ids goes with the data it described.
    write_bank(_read(tmp_path, _bank(tmp_path)), settings)
    assert not (settings.data_dir / "customer_ids.parquet").exists()
    assert load_customer_ids(settings, {}).mode == "integer"


@pytest.mark.parametrize(
    ("customers", "monthly", "message"),
    [
        (
            TEXT_CUSTOMERS.replace("\n007;", "\n7590-VHVEG;"),
            TEXT_MONTHLY.replace("007,", "7590-VHVEG,").replace(",2024-02,5,", ",2024-03,5,"),
            "duplicated key customer_id = 7590-VHVEG in rows 1, 2",
        ),
        (TEXT_CUSTOMERS, TEXT_MONTHLY.replace("3x,", "3y,"), "customer 3y has no row in the"),
        (TEXT_CUSTOMERS.replace("\n007;", "\n  ;"), TEXT_MONTHLY, "a required field is empty"),
    ],
    ids=["duplicated", "unknown", "blank"],
)
def test_string_id_mistakes_name_the_bank_s_ids(tmp_path: Path, customers, monthly, message):
    with pytest.raises(DataError, match=message):
        _read_text_ids(tmp_path, customers, monthly)


def test_two_ids_with_one_pseudonym_are_refused(tmp_path: Path, monkeypatch):
    """A collision would merge two customers: refused, naming both ids and what to do. (With 63
    bits one is all but impossible; a stand-in hash, the id's length, makes one here.)"""
    import ingest.read

    monkeypatch.setattr(
        ingest.read, "pseudonyms", lambda ids, key: np.array([len(i) for i in ids], "int64")
    )
    with pytest.raises(DataError) as e:
        _read_text_ids(
            tmp_path, TEXT_CUSTOMERS.replace(" 3x ", "abc"), TEXT_MONTHLY.replace("3x", "abc")
        )
    assert str(e.value).startswith(
        "table customers (customers.csv): customer ids '007' and 'abc' have the same pseudonym "
        "(3) under RETAIN_ID_KEY, so retain cannot tell them apart: ingest with another "
        "RETAIN_ID_KEY"
    )
    assert len(_read_text_ids(tmp_path).tables["customers"]) == 3  # lengths 10, 3, 2: no clash


def test_string_ids_without_a_key_say_to_set_it(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("RETAIN_ID_KEY", raising=False)
    data = _bank(tmp_path, TEXT_CUSTOMERS, TEXT_MONTHLY, customer_ids="string")
    with pytest.raises(ConfigError, match="RETAIN_ID_KEY is not set"):
        read_bank(parse_mapping(data, base=tmp_path, name="bank.yaml"))


def test_text_where_ids_are_integers_says_how_to_take_strings(tmp_path: Path):
    with pytest.raises(
        DataError, match="'7590-VHVEG' is not an integer .*set customer_ids: string"
    ):
        _read(tmp_path, _bank(tmp_path, TEXT_CUSTOMERS, TEXT_MONTHLY))


def test_numbers_in_a_parquet_file_are_string_ids_by_their_digits(tmp_path: Path):
    """With string ids, a numeric id column (a Parquet file's own type) is read as its digits,
    so that ``12345`` in one file and ``"12345"`` in another are the same customer."""
    from retain.core.ids import pseudonym

    data = _bank(tmp_path, customer_ids="string")
    pd.DataFrame(
        {"id": [1.0, 2.0, 3.0], "opened": ["2020-01-15"] * 3, "consent": ["y"] * 3, "channel": ""}
    ).to_parquet(tmp_path / "customers.parquet")
    data["tables"]["customers"] = {**data["tables"]["customers"], "path": "customers.parquet"}
    bank = read_bank(parse_mapping(data, base=tmp_path, name="bank.yaml"), ID_KEY)
    assert bank.tables["customers"]["customer_id"].tolist() == [
        pseudonym(b, ID_KEY) for b in ("1", "2", "3")
    ]
    assert bank.id_map is not None and sorted(bank.id_map["bank_customer_id"]) == ["1", "2", "3"]
