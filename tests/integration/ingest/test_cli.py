"""``retain ingest``: a bank's own CSV files, with its own column names, types and units, become
the raw tables; the feature build then runs on them unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from retain.core.settings import Settings
from retain.core.tables import PRODUCTS, RAW_TABLES
from tests.conftest import CliRunner
from tests.integration.conftest import write_raw_tables

pytestmark = pytest.mark.integration


def _raw(raw_dir: Path, table: str) -> pd.DataFrame:
    parts = sorted((raw_dir / table).glob("*.parquet"))
    return pd.concat([pq.read_table(p).to_pandas() for p in parts], ignore_index=True)


def _yn(s: pd.Series) -> pd.Series:
    return s.map({True: "Y", False: "N"})


def write_csv_bank(folder: Path, customers: int = 120, months: int = 8) -> dict:
    """A small bank exported as CSV with its own names and units; returns its mapping."""
    raw = folder / "raw"
    write_raw_tables(raw, customers=customers, months=months, seed=5, parts=2)
    cust = _raw(raw, "customers")
    pd.DataFrame(
        {
            "CUST_NO": cust["customer_id"],
            "SEX": cust["gender"].str.upper(),
            "BORN": cust["birth_year"],
            "REGION": cust["region"],
            "OPENED": cust["join_date"].dt.strftime("%d/%m/%Y"),
            "INCOME_BAND": cust["income_band"],
            "JOB": cust["occupation"],
            "CONSENT": _yn(cust["marketing_consent"]),
            "CHANNEL": cust["preferred_channel"].str.upper(),
            "SCORE": (cust["digital_adoption"] * 100).round(),
        }
    ).to_csv(folder / "customers.csv", index=False)
    monthly = _raw(raw, "monthly")
    snap = pd.DataFrame(
        {
            "CUST_NO": monthly["customer_id"],
            "PERIOD": monthly["month_end"].dt.strftime("%Y-%m"),
            "AGE": monthly["age"],
            "CURRENT_CENTS": (monthly["bal_current"] * 100).round(),
            "SAVINGS": monthly["bal_savings"],
            "INFLOW": monthly["inflow"],
            "OUTFLOW": monthly["outflow"],
            "LOGINS": monthly["app_logins"],
            "LAST_LOGIN": monthly["last_login_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "SALARY": _yn(monthly["salary_credited"]),
        }
    )
    for p in PRODUCTS[:4]:
        snap[f"HAS_{p.upper()}"] = monthly[f"has_{p}"].astype(int)
    snap.to_csv(folder / "snapshots.csv", index=False)
    churn = _raw(raw, "churn")
    pd.DataFrame(
        {"CUST_NO": churn["customer_id"], "CLOSED_ON": churn["churned_at"].dt.strftime("%Y-%m-%d")}
    ).to_csv(folder / "closures.csv", index=False)
    camp = _raw(raw, "campaigns")
    pd.DataFrame(
        {
            "ID": camp["contact_id"],
            "CUST_NO": camp["customer_id"],
            "SENT": camp["sent_at"].dt.strftime("%Y-%m-%d %H:%M:%S"),
            "OFFER": camp["action_id"],
            "RESULT": camp["outcome"].str[0].str.upper(),
        }
    ).to_csv(folder / "contacts.csv", index=False)
    return {
        "version": 1,
        "tables": {
            "customers": {
                "path": "customers.csv",
                "columns": {
                    "customer_id": "CUST_NO",
                    "gender": {"column": "SEX", "values": {"F": "f", "M": "m"}},
                    "birth_year": "BORN",
                    "region": "REGION",
                    "join_date": {"column": "OPENED", "format": "%d/%m/%Y"},
                    "income_band": "INCOME_BAND",
                    "occupation": "JOB",
                    "marketing_consent": "CONSENT",
                    "preferred_channel": {
                        "column": "CHANNEL",
                        "values": {c.upper(): c for c in ("branch", "mobile", "phone")}
                        | {"SMS_EMAIL": "sms_email"},
                    },
                    "digital_adoption": {"column": "SCORE", "scale": 0.01},
                },
            },
            "monthly": {
                "path": "snapshots.csv",
                "columns": {
                    "customer_id": "CUST_NO",
                    "month_end": {"column": "PERIOD", "format": "%Y-%m"},
                    "age": "AGE",
                    "bal_current": {"column": "CURRENT_CENTS", "scale": 0.01},
                    "bal_savings": "SAVINGS",
                    "inflow": "INFLOW",
                    "outflow": "OUTFLOW",
                    "app_logins": "LOGINS",
                    "last_login_at": "LAST_LOGIN",
                    "salary_credited": "SALARY",
                    **{f"has_{p}": f"HAS_{p.upper()}" for p in PRODUCTS[:4]},
                },
            },
            "churn": {
                "path": "closures.csv",
                "columns": {"customer_id": "CUST_NO", "churned_at": "CLOSED_ON"},
            },
            "campaigns": {
                "path": "contacts.csv",
                "columns": {
                    "contact_id": "ID",
                    "customer_id": "CUST_NO",
                    "sent_at": "SENT",
                    "action_id": "OFFER",
                    "outcome": {
                        "column": "RESULT",
                        "values": {"A": "accepted", "D": "declined", "I": "ignored"},
                    },
                },
            },
        },
    }


@pytest.fixture
def csv_bank(tmp_path: Path) -> Path:
    """A bank's CSV export and its mapping file ``bank.yaml``."""
    folder = tmp_path / "bank"
    folder.mkdir()
    mapping = write_csv_bank(folder)
    (folder / "bank.yaml").write_text(yaml.safe_dump(mapping, sort_keys=False))
    return folder / "bank.yaml"


def test_ingest_then_features_build(run_cli: CliRunner, settings: Settings, csv_bank: Path):
    """A bank's CSV files become raw tables in the contract's types and units, and the feature
    build runs on them unchanged."""
    result = run_cli("ingest", "--mapping", str(csv_bank))
    assert result.returncode == 0, result.stderr
    assert "customers" in result.stdout
    original = csv_bank.parent / "raw"
    for table, schema in RAW_TABLES.items():
        ingested = _raw(settings.raw_dir, table)
        assert pq.read_schema(next((settings.raw_dir / table).glob("*.parquet"))) == schema
        assert len(ingested) == len(_raw(original, table))
    monthly = _raw(settings.raw_dir, "monthly").sort_values(["customer_id", "month_end"])
    expected = _raw(original, "monthly").sort_values(["customer_id", "month_end"])
    assert monthly["month_end"].tolist() == expected["month_end"].tolist()  # month-end stamps
    assert monthly["bal_current"].to_numpy() == pytest.approx(
        expected["bal_current"].to_numpy(), abs=0.006
    )  # cents -> currency
    assert monthly["has_time_deposit"].tolist() == expected["has_time_deposit"].tolist()
    assert monthly["bal_loans"].isna().all()  # not mapped: null
    manifest = json.loads((settings.data_dir / "manifest.json").read_text())
    assert manifest["source"] == "ingest"

    built = run_cli("features", "build")
    assert built.returncode == 0, built.stderr
    for source in ("customer_profile", "balances_flows", "contact_history"):
        assert list((settings.sources_dir / source).glob("*.parquet"))


def test_check_writes_nothing(run_cli: CliRunner, settings: Settings, csv_bank: Path):
    """``--check`` validates the mapping and the data and writes nothing."""
    result = run_cli("ingest", "--mapping", str(csv_bank), "--check")
    assert result.returncode == 0, result.stderr
    assert not settings.raw_dir.exists()


def _broken(csv_bank: Path, file: str, change) -> None:
    path = csv_bank.parent / file
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    change(frame)
    frame.to_csv(path, index=False)


def _set(column: str, row: int, value: str):
    def change(frame: pd.DataFrame) -> None:
        frame.loc[row, column] = value

    return change


def _copy_row(source: int, target: int, columns: list[str]):
    def change(frame: pd.DataFrame) -> None:
        frame.loc[target, columns] = frame.loc[source, columns].to_numpy()

    return change


@pytest.mark.parametrize(
    ("file", "change", "expected"),
    [
        (
            "snapshots.csv",
            lambda f: f.drop(columns="AGE", inplace=True),
            ["table monthly", "'AGE'", "monthly.age", "not in the file"],
        ),
        (
            "snapshots.csv",
            _set("AGE", 4, "forty"),
            ["table monthly", "'AGE'", "'forty' is not an integer", "row 5"],
        ),
        (
            "customers.csv",
            _set("OPENED", 2, "2021-02-30"),
            ["table customers", "'OPENED'", "is not a date", "'%d/%m/%Y'", "row 3"],
        ),
        (
            "snapshots.csv",
            _copy_row(0, 1, ["CUST_NO", "PERIOD"]),
            ["table monthly", "duplicated key customer_id/month_end", "rows 1, 2"],
        ),
        (
            "contacts.csv",
            _set("RESULT", 0, "X"),
            ["table campaigns", "'RESULT'", "'X' is not one of accepted, declined, ignored"],
        ),
    ],
    ids=["missing-column", "wrong-type", "unparseable-date", "duplicated-key", "bad-value"],
)
def test_data_errors_are_one_line_and_keep_previous_data(
    run_cli: CliRunner, settings: Settings, csv_bank: Path, file, change, expected
):
    """A data mistake is one ``error:`` line naming the table, column and a sample row, exit 2,
    and the previously ingested tables stay as they were."""
    assert run_cli("ingest", "--mapping", str(csv_bank)).returncode == 0
    before = {p: p.stat().st_mtime_ns for p in settings.raw_dir.rglob("*.parquet")}
    _broken(csv_bank, file, change)
    result = run_cli("ingest", "--mapping", str(csv_bank))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for part in expected:
        assert part in lines[0]
    assert {p: p.stat().st_mtime_ns for p in settings.raw_dir.rglob("*.parquet")} == before
    assert not list(settings.home.glob(".ingest-*"))


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda m: m["tables"]["monthly"]["columns"].__setitem__("balance", "SAVINGS"),
            "tables.monthly.columns: unknown field 'balance' of table monthly",
        ),
        (
            lambda m: m["tables"]["customers"].__setitem__("colums", {}),
            "tables.customers.colums: unknown key",
        ),
        (
            lambda m: m["tables"]["churn"].__setitem__("path", "missing.csv"),
            "table churn: file",
        ),
        (
            lambda m: m["tables"]["customers"]["columns"].pop("customer_id"),
            "required field 'customer_id' is not mapped",
        ),
    ],
    ids=["unknown-field", "unknown-key", "missing-file", "required-field"],
)
def test_mapping_errors(run_cli: CliRunner, csv_bank: Path, edit, expected):
    """A mapping mistake is one ``error:`` line naming the table and field."""
    mapping = yaml.safe_load(csv_bank.read_text())
    edit(mapping)
    csv_bank.write_text(yaml.safe_dump(mapping))
    result = run_cli("ingest", "--mapping", str(csv_bank))
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and expected in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_mapping_file(run_cli: CliRunner, tmp_path: Path):
    result = run_cli("ingest", "--mapping", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: mapping file {tmp_path / 'nope.yaml'} not found"


def test_every_problem_at_once_and_unused_columns(
    run_cli: CliRunner, settings: Settings, csv_bank: Path
):
    """Source columns the mapping does not use are listed in the summary; the problems of
    several tables come in one run: a count, then one line each, exit 2, nothing written."""
    _broken(csv_bank, "customers.csv", lambda f: f.insert(1, "NOTES", "x"))
    checked = run_cli("ingest", "--mapping", str(csv_bank), "--check")
    assert checked.returncode == 0, checked.stderr
    assert "not used from customers.csv: NOTES" in checked.stdout

    _broken(csv_bank, "snapshots.csv", _set("AGE", 4, "forty"))
    _broken(csv_bank, "snapshots.csv", _set("AGE", 9, "?"))
    _broken(csv_bank, "contacts.csv", _set("RESULT", 0, "X"))
    result = run_cli("ingest", "--mapping", str(csv_bank))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "error: 2 problems in the tables of bank.yaml:", result.stderr
    assert lines[1].startswith("  table monthly (snapshots.csv), column 'AGE' -> monthly.age: ")
    assert "2 rows in all, also '?' (row 10)" in lines[1]
    assert "'X' is not one of accepted, declined, ignored" in lines[2]
    assert not settings.raw_dir.exists()
