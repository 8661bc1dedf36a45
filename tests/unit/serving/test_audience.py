"""Campaign audiences: the SPEC parsed, a segment selected from the scores table, ids read from a
file, repeats dropped, and the batch answers turned into the output table and the summary."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from retain.core.errors import ConfigError, DataError
from retain.core.ids import integer_id
from serving.audience import (
    TABLE_COLUMNS,
    AudienceSpec,
    Summary,
    decision_rows,
    decision_table,
    ids_in_text,
    parse_spec,
    read_id_file,
    segment_ids,
    unique,
)
from serving.schemas import BatchDecision, ReasonOut, RecommendedAction, RecommendResponse

TIERS = ("mass", "affluent", "private")
SCORES = pd.DataFrame(
    {
        "customer_id": [101, 102, 103, 104],
        "branch_id": pd.array([7, 12, 7, None], dtype="Int64"),
        "value_tier": ["mass", "affluent", "mass", "unknown"],
        "lifecycle_stage": ["mature", "declining", "declining", "new"],
        "behaviour_segment": ["digital", "branch", "digital", "mixed"],
    }
)


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("all", AudienceSpec("all")),
        ("file:ids.txt", AudienceSpec("file", path=Path("ids.txt"))),
        ("file: /tmp/a b.csv", AudienceSpec("file", path=Path("/tmp/a b.csv"))),
        ("segment:value_tier=affluent", AudienceSpec("segment", "value_tier", "affluent")),
        ("segment:branch=12", AudienceSpec("segment", "branch", "12")),
    ],
)
def test_a_spec_is_parsed(text: str, spec: AudienceSpec) -> None:
    assert parse_spec(text) == spec


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("everyone", "use segment:<column>=<value>, file:<path> or all"),
        ("file:", "use segment"),
        ("segment:colour=red", "unknown segment 'colour'"),
        ("segment:value_tier", "give a value"),
        ("segment:value_tier=", "give a value"),
        ("all:now", "use segment"),
    ],
)
def test_a_bad_spec_says_what_to_write(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_spec(text)


@pytest.mark.parametrize(
    ("column", "value", "ids"),
    [
        ("value_tier", "mass", [101, 103]),
        ("value_tier", "unknown", [104]),
        ("lifecycle_stage", "declining", [102, 103]),
        ("behaviour_segment", "digital", [101, 103]),
        ("branch", "7", [101, 103]),
    ],
)
def test_a_segment_selects_its_scored_customers(column: str, value: str, ids: list[int]) -> None:
    chosen = segment_ids(SCORES, column, value, TIERS)
    assert chosen == ids and all(type(i) is int for i in chosen)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("value_tier", "gold", "unknown value_tier 'gold': use one of mass, affluent, private"),
        ("lifecycle_stage", "teen", "unknown lifecycle_stage"),
        ("branch", "99", "unknown branch '99': use one of 7, 12"),
        ("value_tier", "private", "no scored customer has value_tier 'private'"),
        ("behaviour_segment", "low_activity", "the audience is empty"),
    ],
)
def test_an_unknown_or_empty_segment_is_refused(column: str, value: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        segment_ids(SCORES, column, value, TIERS)


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("101\n102\n\n 103 \n", ["101", "102", "103"]),
        ("customer_id\n101\n102\n", ["101", "102"]),
        ("name,customer_id\nann,101\nbob,\ncid,7590-VHVEG\n", ["101", "7590-VHVEG"]),
        ("Customer_ID;x\n", None),  # one column, not named customer_id: ids one per line
    ],
)
def test_ids_are_read_one_per_line_or_from_a_customer_id_column(text: str, ids) -> None:
    assert ids_in_text(text, "f") == (ids if ids is not None else ["Customer_ID;x"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "names no customer"),
        ("\n \n", "names no customer"),
        ("customer_id\n", "names no customer"),
        ("id,name\n1,ann\n", "without a customer_id column"),
    ],
)
def test_a_file_without_ids_is_refused(text: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        ids_in_text(text, "f")


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no audience file"):
        read_id_file(tmp_path / "nope.csv")
    (tmp_path / "bom.txt").write_text("\ufeff101\n102\n", encoding="utf-8")
    assert read_id_file(tmp_path / "bom.txt") == ["101", "102"]


def test_repeats_are_dropped_by_customer_keeping_the_first() -> None:
    kept, dropped = unique([7, "7", "007", 8, "x", "x", "y"], integer_id)
    assert kept == [7, 8, "x", "y"] and dropped == 3


def _response(customer: int, actions: list[tuple[str, str]]) -> RecommendResponse:
    return RecommendResponse(
        decision_id=f"d{customer}",
        customer_id=customer,
        channel="mobile",
        placement="app",
        at=datetime(2025, 1, 15, tzinfo=UTC),
        actions=[
            RecommendedAction(
                rank=r,
                action_id=a,
                kind=kind,  # type: ignore[arg-type]
                description=a,
                channel="mobile",
                expected_value=10.0 / r,
                reasons=[
                    ReasonOut(text="Salary stopped", feature="f", value=1, direction="up", weight=1)
                ],
            )
            for r, (a, kind) in enumerate(actions, start=1)
        ],
        churn_probability=0.1,
        customer_value=500.0,
        trace=[],
        models={"retain-churn": "1"},
        catalogue_version="1",
    )


ITEMS = [
    BatchDecision(
        customer_id=1,
        status="ok",
        recommendation=_response(1, [("xsell_card", "cross_sell"), ("fee_waiver", "retention")]),
    ),
    BatchDecision(customer_id=2, status="ok", recommendation=_response(2, [("no_action", "none")])),
    BatchDecision(customer_id=3, status="not_found", message="no customer 3"),
    BatchDecision(customer_id=4, status="inactive", message="customer 4 left"),
    BatchDecision(
        customer_id=5, status="ok", recommendation=_response(5, [("xsell_card", "cross_sell")])
    ),
]


def test_the_table_has_a_row_per_action_and_per_undecided_customer() -> None:
    table = decision_table(decision_rows(ITEMS))
    assert list(table.columns) == list(TABLE_COLUMNS)
    assert table["customer_id"].tolist() == [1, 1, 2, 3, 4, 5]
    assert table["rank"].tolist()[:3] == [1, 2, 1] and pd.isna(table["rank"].iloc[3])
    assert table["status"].tolist() == ["ok", "ok", "ok", "not_found", "inactive", "ok"]
    assert table.loc[0, "reasons"] == "Salary stopped"
    assert str(table["at"].dt.tz) == "UTC"


def test_the_table_keeps_text_ids_as_text(tmp_path: Path) -> None:
    item = BatchDecision(customer_id="7590-VHVEG", status="not_found", message="no customer")
    table = decision_table(decision_rows([ITEMS[0], item]))
    table.to_parquet(tmp_path / "t.parquet")
    back = pd.read_parquet(tmp_path / "t.parquet")
    assert back["customer_id"].tolist() == ["1", "1", "7590-VHVEG"]


def test_the_summary_counts_statuses_and_first_actions() -> None:
    summary = Summary()
    summary.add(ITEMS[:3])
    summary.add(ITEMS[3:])
    assert (summary.customers, summary.decided, summary.not_found, summary.inactive) == (5, 3, 1, 1)
    assert summary.first_actions == {"xsell_card": 2, "no_action": 1}
    assert summary.no_action == 1


@pytest.mark.parametrize("bad", [0, -5, 1.5, True, "1000"])
def test_max_audience_must_be_a_whole_number_from_1(bad: object) -> None:
    from serving.config import ServingConfig

    assert ServingConfig.from_dict({"max_audience": 20}).max_audience == 20
    with pytest.raises(ConfigError, match="max_audience must be an integer >= 1"):
        ServingConfig.from_dict({"max_audience": bad})


def test_the_batch_endpoint_needs_the_recommend_scope() -> None:
    from serving.keys import scope_of

    assert scope_of("POST", "/recommend/batch") == "recommend"
    assert scope_of("POST", "/recommend/batch/") == "recommend"
