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


def test_the_page_shows_a_plan_when_given_one():
    """The plan section: both plans' values side by side, the curve, the break-even budget."""
    from serving.summary import PlanSection

    compared = pd.DataFrame(
        {"contacts": [12, 40], "spent": [900.0, 990.0], "true_value": [350.0, -420.0]},
        index=pd.Index(["retain", "riskiest_first"], name="plan"),
    )
    section = PlanSection(
        budget=1000.0,
        break_even=1234.0,
        method="exact",
        gap=0.0,
        compared=compared,
        by_action=pd.Series({"rm_call": 7, "xsell_savings": 5}),
        curve_png="QUJD",
        notes=("no retain-uplift champion",),
    )
    run = {"as_of": "2024-12-31", "model_name": "retain-churn", "model_version": "3"}
    page = render_html(scores(), run, pd.Series(dtype="int64"), 0, "", plan=section)
    assert "<h2>The campaign plan" in page and "1,234" in page and "riskiest_first" in page
    assert "-420" in page and "data:image/png;base64,QUJD" in page
    assert "no retain-uplift champion" in page
    assert "campaign plan" not in render_html(scores(), run, pd.Series(dtype="int64"), 0, "")
