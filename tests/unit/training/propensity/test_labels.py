"""Product propensity labels from a hand-written monthly holdings table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.propensity.data import month_ends_within, product_labels
from training.ranking import top_k_metrics

PRODUCTS = ("savings", "credit_card", "mortgage")


def month_end(month: str) -> pd.Timestamp:
    """The last second of a month, UTC, as the raw tables stamp snapshots."""
    return pd.Period(month, "M").to_timestamp(how="end").floor("s").tz_localize("UTC")


def holdings(rows: list[tuple[int, str, str]]) -> pd.DataFrame:
    """(customer, month, products held as 's', 'c', 'm' letters) -> a monthly holdings frame."""
    return pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "month_end": [month_end(r[1]) for r in rows],
            "has_savings": ["s" in r[2] for r in rows],
            "has_credit_card": ["c" in r[2] for r in rows],
            "has_mortgage": ["m" in r[2] for r in rows],
        }
    )


def as_of(pairs: list[tuple[int, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [p[0] for p in pairs],
            "event_timestamp": [month_end(p[1]) for p in pairs],
        }
    )


MONTHLY = holdings(
    [
        # Customer 1 holds savings, opens a card in April (within 90 days of January's end) and a
        # mortgage in June (after the horizon).
        (1, "2024-01", "s"),
        (1, "2024-02", "s"),
        (1, "2024-03", "s"),
        (1, "2024-04", "sc"),
        (1, "2024-05", "sc"),
        (1, "2024-06", "scm"),
        # Customer 2 opens savings in February and leaves after March.
        (2, "2024-01", ""),
        (2, "2024-02", "s"),
        (2, "2024-03", "s"),
    ]
)


def labels_of(frame: pd.DataFrame, row: int) -> dict[str, float]:
    return {p: frame[f"label_{p}"].iloc[row] for p in PRODUCTS}


def test_a_product_opened_within_the_horizon_is_1_and_later_is_0():
    """January's end: the card (April) is within 90 days, the mortgage (June) is not."""
    out = product_labels(as_of([(1, "2024-01")]), MONTHLY, PRODUCTS)
    got = labels_of(out, 0)
    assert got["credit_card"] == 1.0
    assert got["mortgage"] == 0.0


def test_products_held_at_the_as_of_time_are_not_candidates():
    """Savings held in January: NaN, not 0 or 1."""
    out = product_labels(as_of([(1, "2024-01"), (1, "2024-04")]), MONTHLY, PRODUCTS)
    assert np.isnan(out["label_savings"]).all()
    assert np.isnan(out["label_credit_card"].iloc[1])  # held from April on


def test_the_label_moves_with_the_as_of_time():
    """The June mortgage is 0 at February's and March's end (March 31 + 90 days is June 29,
    before June's snapshot) and 1 at April's and May's."""
    out = product_labels(
        as_of([(1, m) for m in ("2024-02", "2024-03", "2024-04", "2024-05")]), MONTHLY, PRODUCTS
    )
    assert list(out["label_mortgage"]) == [0.0, 0.0, 1.0, 1.0]
    assert list(out["label_credit_card"].iloc[:2]) == [1.0, 1.0]


def test_no_snapshot_after_the_horizon_reaches_the_label():
    """Dropping every snapshot after the horizon changes nothing; adding an opening there
    changes nothing either."""
    rows = as_of([(1, "2024-01"), (2, "2024-01")])
    base = product_labels(rows, MONTHLY, PRODUCTS)
    horizon_end = month_end("2024-01") + pd.Timedelta(days=90)
    cut = MONTHLY[MONTHLY["month_end"] <= horizon_end]
    pd.testing.assert_frame_equal(product_labels(rows, cut, PRODUCTS), base)
    later = holdings([(2, "2024-06", "scm")])
    pd.testing.assert_frame_equal(
        product_labels(rows, pd.concat([MONTHLY, later], ignore_index=True), PRODUCTS), base
    )


def test_an_opening_before_leaving_counts_and_a_customer_without_a_snapshot_is_not_labelled():
    """Customer 2 opened savings in February, then left; customer 3 has no snapshot at all."""
    out = product_labels(as_of([(2, "2024-01"), (3, "2024-01")]), MONTHLY, PRODUCTS)
    assert labels_of(out, 0) == {"savings": 1.0, "credit_card": 0.0, "mortgage": 0.0}
    assert all(np.isnan(v) for v in labels_of(out, 1).values())


def test_rows_keep_their_order_and_extra_columns():
    rows = as_of([(2, "2024-01"), (1, "2024-01")]).assign(extra=["a", "b"])
    out = product_labels(rows, MONTHLY, PRODUCTS)
    assert list(out["customer_id"]) == [2, 1]
    assert list(out["extra"]) == ["a", "b"]


@pytest.mark.parametrize(
    ("month", "expected"),
    [("2024-01", 3), ("2024-03", 2), ("2022-11", 3), ("2023-11", 2), ("2024-06", 2)],
)
def test_a_90_day_horizon_covers_two_or_three_month_ends(month, expected):
    assert month_ends_within(month_end(month), 90) == expected


def test_hit_rate_and_map_at_3():
    """Row 0: the opened product ranks 2nd (AP 1/2); row 1: opened ranks 4th (a miss); row 2
    opened nothing and is not counted; a held product never ranks."""
    scores = np.array([[0.9, 0.5, 0.1, 0.0], [0.9, 0.8, 0.7, 0.6], [0.5, 0.4, 0.3, 0.2]])
    opened = np.array([[0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]], dtype=bool)
    candidates = np.ones_like(opened)
    got = top_k_metrics(scores, opened, candidates, k=3)
    assert got == {"hit_rate_at_3": 0.5, "map_at_3": 0.25, "rows": 2.0}
    candidates[1, 0] = False  # row 1 holds the top product: its opening moves up to 3rd
    got = top_k_metrics(scores, opened, candidates, k=3)
    assert got["hit_rate_at_3"] == 1.0
    assert got["map_at_3"] == pytest.approx((1 / 2 + 1 / 3) / 2)
