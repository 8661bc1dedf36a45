"""Segments in every answer and list: the ``customer_segments`` columns of a read become the
``segments`` object of /churn_score, /customers and /recommend, the audience table's columns, and
the scores table's (stored, not recomputed); filters accept the tiers the table holds."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from features.segments import ValueConfig, definition_version, segment_columns
from retain.core.errors import DataError
from serving.at_risk import Filters, select, table_tiers
from serving.audience import decision_rows, decision_table, segment_ids
from serving.batch import computed_segments, stored_segments
from serving.config import ServingConfig
from serving.customer import customer_score, customer_view
from serving.schemas import (
    BatchDecision,
    ChurnScoreResponse,
    CustomerView,
    RecommendedAction,
    RecommendResponse,
    Segments,
)
from serving.scoring import UNKNOWN_SEGMENTS, ScoredCustomer, segments_of

VALUES = {
    "value_tier": "affluent",
    "lifecycle_stage": "declining",
    "behaviour_segment": "digital",
    "segments_version": "abc123def456",
    "monthly_margin": 12.5,
    "bal_total": 48210.456,
    "region": "capital",
    "has_current_account": True,
    "tx_total": 24,
}
SEGMENTS = {
    "value_tier": "affluent",
    "lifecycle_stage": "declining",
    "behaviour_segment": "digital",
    "version": "abc123def456",
}


def test_segments_of_a_read_are_the_views_columns_and_none_when_absent():
    assert segments_of(VALUES) == SEGMENTS
    assert segments_of({"value_tier": "mass"}) == {**UNKNOWN_SEGMENTS, "value_tier": "mass"}
    assert segments_of({}) == UNKNOWN_SEGMENTS == dict.fromkeys(SEGMENTS)


def test_a_score_and_the_customer_view_carry_the_same_segments():
    scored = ScoredCustomer(1, "ok", probability=0.2, band="high", segments=segments_of(VALUES))
    score = customer_score(scored, "retain-churn", "3")
    assert score.segments.model_dump() == SEGMENTS
    view = customer_view(scored, VALUES, ServingConfig(), "retain-churn", "3")
    assert view.segments == score.segments and view.churn.segments == score.segments
    assert view.total_balance == 48210.46
    assert "segment" not in CustomerView.model_fields  # value_segment is gone


def test_an_unknown_customer_has_null_segments():
    score = customer_score(ScoredCustomer(9, "not_found", "no customer 9"), "retain-churn", "3")
    assert score.segments == Segments()
    body = ChurnScoreResponse(scores=[score]).model_dump(mode="json")
    assert body["scores"][0]["segments"] == dict.fromkeys(SEGMENTS)


def test_the_response_schemas_declare_the_segments_object():
    """OpenAPI: every answer names ``segments`` with the four nullable fields, described."""
    for model in (RecommendResponse, CustomerView):
        schema = model.model_json_schema()
        assert "segments" in schema["properties"], model.__name__
        fields = schema["$defs"]["Segments"]["properties"]
        assert set(fields) == set(SEGMENTS)
        assert all(f.get("description") and f.get("examples") for f in fields.values())


def test_the_audience_table_has_the_answers_segments():
    response = RecommendResponse(
        decision_id="d1",
        customer_id=1,
        channel="mobile",
        placement="default",
        at=datetime(2025, 1, 1, tzinfo=UTC),
        actions=[
            RecommendedAction(
                rank=1,
                action_id="no_action",
                kind="none",
                description="Nothing",
                channel="mobile",
                expected_value=0.0,
            )
        ],
        churn_probability=0.1,
        segments=Segments(**SEGMENTS),
        customer_value=1.0,
        trace=[],
        models={},
        catalogue_version="1",
    )
    items = [
        BatchDecision(customer_id=1, status="ok", recommendation=response),
        BatchDecision(customer_id=2, status="inactive", message="left"),
    ]
    table = decision_table(decision_rows(items))
    assert table["value_tier"].iloc[0] == "affluent" and pd.isna(table["value_tier"].iloc[1])
    assert table["segments_version"].iloc[0] == "abc123def456"


FEATURES = pd.DataFrame(
    {
        "customer_id": [3, 1, 2],
        "bal_total": [300_000.0, 10.0, 30_000.0],
        "bal_total_chg_3m": [0.0, -0.5, 0.2],
        **{f"bal_{b}": [0.0, 0.0, 0.0] for b in ("current", "savings", "time_deposit")},
        **{f"bal_{b}": [0.0, 0.0, 0.0] for b in ("wealth", "loans")},
        "tenure_months": [60, 60, 5],
        "n_products_chg_3m": [0.0, 0.0, 0.0],
        "tx_total": [20, 2, 30],
        "tx_total_chg_3m": [0.0, 0.0, 0.0],
        "tx_branch": [15, 0, 0],
        "digital_share": [0.1, 0.0, 0.9],
        "days_since_login": [3.0, 3.0, 3.0],
    }
)


def _features() -> pd.DataFrame:
    from retain.core.tables import PRODUCTS

    frame = FEATURES.copy()
    for p in PRODUCTS:
        frame[f"has_{p}"] = p == "current_account"
    return frame


def test_the_batch_takes_the_stored_segments_in_the_frames_order():
    """The stored rows win over what value.toml would give now: a tier the build wrote is kept."""
    frame = _features()
    stored = pd.DataFrame(
        {
            "customer_id": [1, 2, 3],
            "value_tier": ["gold", "mass", "mass"],
            "lifecycle_stage": ["mature", "new", "mature"],
            "behaviour_segment": ["low_activity", "digital", "branch"],
            "monthly_margin": [1.0, 2.0, 3.0],
            "segments_version": ["v0", "v0", "v0"],
        }
    )
    got = stored_segments(frame, stored)
    assert list(got["value_tier"]) == ["mass", "gold", "mass"]
    np.testing.assert_array_equal(got["monthly_margin"], [3.0, 1.0, 2.0])
    assert set(got["segments_version"]) == {"v0"}
    with pytest.raises(DataError, match="customer 3 has no customer_segments row"):
        stored_segments(frame, stored[stored["customer_id"] != 3])


def test_without_the_view_the_batch_computes_what_the_build_would_store():
    frame = _features()
    config = ValueConfig.defaults()
    got = computed_segments(frame, config)
    expected = segment_columns(frame, config)
    assert (
        list(got["value_tier"]) == list(expected["value_tier"]) == ["private", "mass", "affluent"]
    )
    assert set(got["segments_version"]) == {definition_version(config)}


def test_a_tier_the_scores_hold_but_value_toml_no_longer_names_can_be_filtered():
    """The table's segments come from the features' build: its tiers stay valid filters."""
    frame = pd.DataFrame(
        {
            "customer_id": [1, 2],
            "customer_key": [1, 2],
            "customer_value": [1.0, 1.0],
            "branch_id": pd.array([1, 1], dtype="Int64"),
            "value_tier": ["gold", "mass"],
            "lifecycle_stage": ["mature", "mature"],
            "behaviour_segment": ["mixed", "mixed"],
            "value": [1.0, 1.0],
            "value_at_stake": [1.0, 2.0],
            "expected_saved_value": [np.nan, np.nan],
        }
    )
    tiers = ("mass", "affluent", "private")
    assert table_tiers(frame, tiers) == (*tiers, "gold")
    assert select(frame, Filters(value_tiers=("gold",)), tiers)["customer_id"].tolist() == [1]
    assert segment_ids(frame, "value_tier", "gold", tiers) == [1]
    with pytest.raises(DataError, match="unknown value tier 'platinum'"):
        select(frame, Filters(value_tiers=("platinum",)), tiers)
