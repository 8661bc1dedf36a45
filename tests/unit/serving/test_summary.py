"""The retention manager's one-page summary: breakdowns, reason counts, the page."""

from __future__ import annotations

import pandas as pd

from serving.summary import breakdown, reason_counts, render_html


def scores() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "branch_id": pd.array([101, 102, 101, None], dtype="Int64"),
            "value_tier": ["mass", "affluent", "mass", "private"],
            "lifecycle_stage": ["declining", "mature", "declining", "new"],
            "behaviour_segment": ["digital", "branch", "digital", "mixed"],
            "churn_probability": [0.3, 0.1, 0.5, 0.05],
            "risk_band": ["high", "medium", "high", "medium"],
            "value": [1000.0, 9000.0, 100.0, 40000.0],
            "value_at_stake": [300.0, 900.0, 50.0, 2000.0],
        }
    )


def test_a_breakdown_sums_value_at_stake_per_group_the_largest_first():
    table = breakdown(scores(), "lifecycle_stage")
    assert table.index.tolist() == ["new", "mature", "declining"]
    assert table.loc["declining"].tolist() == [2, 0.4, 2, 1100.0, 350.0]
    assert breakdown(scores(), "branch_id").index.tolist() == ["unknown", "102", "101"]


def test_reasons_count_once_per_customer_whatever_their_numbers():
    counts = reason_counts(
        [
            ["Total balance down 74% over 3 months", "Only 2 transactions last month"],
            ["Total balance down 52% over 3 months"],
            ["Only 1,024 transactions last month", "Only 1,024 transactions last month"],
        ]
    )
    assert counts.to_dict() == {
        "Total balance down # over # months": 2,
        "Only # transactions last month": 2,
    }


def test_the_page_holds_every_breakdown_and_its_charts():
    page = render_html(
        scores(),
        {"as_of": "2024-12-31", "model_name": "retain-churn", "model_version": "3"},
        reason_counts([["Only 2 transactions last month"]]),
        1,
        "",
    )
    for heading in ("Lifecycle stage", "Behavioural segment", "Value tier", "Branch", "Why"):
        assert f"<h2>{heading}" in page
    assert page.count("data:image/png;base64,") == 5
    assert "4 customers" in page and "retain-churn v3" in page
