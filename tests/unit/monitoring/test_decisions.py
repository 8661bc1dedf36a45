"""The decision log as monitoring reads it: first-ranked actions and their mix."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from monitoring.config import MonitoringConfig
from monitoring.decisions import action_mix, read_decisions, split_windows
from serving.decision_log import decisions, metadata


def _log(path: Path, rows: list[tuple[int, datetime, list[str]]], project: str = "p") -> str:
    url = f"sqlite:///{path}"
    engine = sa.create_engine(url)
    metadata.create_all(engine)
    with engine.begin() as conn:
        for k, (customer, at, actions) in enumerate(rows):
            conn.execute(
                decisions.insert().values(
                    project_id=project,
                    decision_id=f"d{k}",
                    customer_id=customer,
                    at=at,
                    channel="mobile",
                    placement="default",
                    actions=json.dumps(actions),
                    record="{}",
                    logged_at=at,
                )
            )
    engine.dispose()
    return url


def test_a_log_that_does_not_exist_reads_empty_and_is_not_created(tmp_path: Path):
    path = tmp_path / "decisions" / "log.db"
    assert read_decisions(f"sqlite:///{path}", "p").empty
    assert not path.exists() and not path.parent.exists()


def test_it_reads_the_first_action_of_each_decision_of_its_project(tmp_path: Path):
    at = datetime(2024, 3, 5, tzinfo=UTC)
    url = _log(
        tmp_path / "log.db",
        [(1, at, ["xsell_savings", "fee_waiver"]), (2, at, []), (3, at.replace(month=4), [])],
    )
    _log(tmp_path / "log.db", [(9, at, ["rm_call"])], project="other")
    out = read_decisions(url, "p", end=datetime(2024, 3, 31, tzinfo=UTC))
    assert out["customer_id"].tolist() == [1, 2]
    assert out["action"].tolist() == ["xsell_savings", "no_action"]
    assert out["offered"].tolist() == [True, False]
    assert str(out["at"].dt.tz) == "UTC"


def _decisions(months: list[str], actions: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "at": pd.to_datetime([f"{m}-15" for m in months], utc=True),
            "action": actions,
            "offered": [a != "no_action" for a in actions],
        }
    )


def test_windows_follow_the_as_of_windows_where_both_hold_decisions():
    log = _decisions(["2024-01", "2024-02", "2024-05", "2024-06"], ["a", "a", "b", "b"])
    ts = pd.Timestamp
    ref = (ts("2023-12-31 23:59:59", tz="UTC"), ts("2024-02-29 23:59:59", tz="UTC"))
    cur = (ts("2024-04-30 23:59:59", tz="UTC"), ts("2024-06-30 23:59:59", tz="UTC"))
    r, c, basis = split_windows(log, ref, cur, months=3)
    assert (len(r), len(c), basis) == (2, 2, "as-of windows")


def test_a_service_deciding_at_the_wall_clock_is_compared_with_its_own_past():
    """Decisions long after the data's windows: the latest months against the ones before."""
    log = _decisions(["2026-01", "2026-05", "2026-10", "2026-12"], ["a", "a", "b", "b"])
    ts = pd.Timestamp
    ref = (ts("2023-01-01", tz="UTC"), ts("2023-12-31", tz="UTC"))
    cur = (ts("2024-10-01", tz="UTC"), ts("2024-12-31", tz="UTC"))
    r, c, basis = split_windows(log, ref, cur, months=3)
    assert r["action"].tolist() == ["a", "a"] and c["action"].tolist() == ["b", "b"]
    assert basis == "the log's latest months"


def test_a_changed_mix_alerts_and_a_steady_one_does_not():
    config = MonitoringConfig()
    ref = _decisions(["2024-01"] * 3000, ["a"] * 2000 + ["no_action"] * 1000)
    same = _decisions(["2024-06"] * 3000, ["no_action"] * 1010 + ["a"] * 1990)
    moved = _decisions(["2024-06"] * 3000, ["a"] * 1000 + ["b"] * 1000 + ["no_action"] * 1000)
    steady = action_mix(ref, same, config)
    assert steady.drift is not None and steady.drift.status == "ok"
    assert steady.shares.set_index("action").loc["a", "reference_share"] == 2000 / 3000
    shifted = action_mix(ref, moved, config)
    assert shifted.drift is not None and shifted.drift.status == "alert"
    assert shifted.shares["action"].tolist()[0] in ("a", "b", "no_action")
    assert action_mix(ref.iloc[:0], moved, config).drift is None
