"""A bank's campaign log with holdouts: held-out rows carry no outcome, contacted rows must."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest import read_bank
from ingest.mapping import parse_mapping
from retain.core.errors import DataError

CUSTOMERS = "id,opened\n1,2020-01-15\n2,2021-06-30\n"
MONTHLY = "id,period\n1,2024-01\n2,2024-01\n"


def _read(tmp_path: Path, campaigns: str, holdout: bool = True):
    (tmp_path / "customers.csv").write_text(CUSTOMERS)
    (tmp_path / "monthly.csv").write_text(MONTHLY)
    (tmp_path / "campaigns.csv").write_text(campaigns)
    columns = {
        "customer_id": "id",
        "sent_at": "sent",
        "action_id": "offer",
        "outcome": "answer",
        "randomized": "random",
    }
    if holdout:
        columns["holdout"] = "control"
    tables = {
        "customers": {
            "path": "customers.csv",
            "columns": {"customer_id": "id", "join_date": "opened"},
        },
        "monthly": {
            "path": "monthly.csv",
            "columns": {"customer_id": "id", "month_end": {"column": "period", "format": "%Y-%m"}},
        },
        "campaigns": {"path": "campaigns.csv", "columns": columns},
    }
    data = {"timezone": "UTC", "tables": tables}
    return read_bank(parse_mapping(data, base=tmp_path, name="bank.yaml"))


def test_a_holdout_row_needs_no_outcome(tmp_path: Path) -> None:
    """A control-cell row (held out at random, not contacted) is read with an empty outcome."""
    log = "id,sent,offer,answer,random,control\n1,2024-01-10,fee_waiver,accepted,yes,no\n"
    log += "2,2024-01-12,fee_waiver,,yes,yes\n"
    c = _read(tmp_path, log).tables["campaigns"]
    assert c["holdout"].tolist() == [False, True]
    assert c["outcome"].iloc[0] == "accepted" and c["outcome"].isna().iloc[1]


def test_a_contacted_row_without_an_outcome_is_refused(tmp_path: Path) -> None:
    """Without the holdout flag (or with it false) an empty outcome is an error, as before."""
    log = "id,sent,offer,answer,random,control\n1,2024-01-10,fee_waiver,,yes,no\n"
    with pytest.raises(DataError, match="outcome.*required field is empty"):
        _read(tmp_path, log)
    log = "id,sent,offer,answer,random\n1,2024-01-10,fee_waiver,,yes\n"
    with pytest.raises(DataError, match="required field is empty"):
        _read(tmp_path, log, holdout=False)
