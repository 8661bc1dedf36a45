"""A holding the bank did not give (null) never becomes a propensity label: unknown at the as-of
time, or unknown later with no known opening, the row is not labelled for that product."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.propensity.data import product_labels

PRODUCTS = ("savings", "credit_card")


def month_end(month: str) -> pd.Timestamp:
    return pd.Period(month, "M").to_timestamp(how="end").floor("s").tz_localize("UTC")


def snapshots(rows: list[tuple[int, str, bool | None, bool | None]]) -> pd.DataFrame:
    """(customer, month, has_savings, has_credit_card); None: the bank did not say."""
    return pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "month_end": [month_end(r[1]) for r in rows],
            "has_savings": pd.array([r[2] for r in rows], dtype="boolean"),
            "has_credit_card": pd.array([r[3] for r in rows], dtype="boolean"),
        }
    )


def as_of(customers: list[int], month: str = "2024-01") -> pd.DataFrame:
    return pd.DataFrame(
        {"customer_id": customers, "event_timestamp": [month_end(month)] * len(customers)}
    )


def label(out: pd.DataFrame, row: int, product: str) -> float:
    return float(out[f"label_{product}"].iloc[row])


def test_a_holding_unknown_at_the_as_of_time_is_not_labelled():
    """Savings unknown in January: no savings label (not 0, not 1); the card, known, is."""
    monthly = snapshots([(1, "2024-01", None, False), (1, "2024-02", True, True)])
    out = product_labels(as_of([1]), monthly, PRODUCTS)
    assert np.isnan(label(out, 0, "savings"))
    assert label(out, 0, "credit_card") == 1.0


def test_an_unknown_later_month_without_a_known_opening_is_not_a_0():
    """Not held in January; February unknown, March not held: it may have opened in February
    and closed, so no label. With a known opening in March it is 1."""
    monthly = snapshots(
        [
            (1, "2024-01", False, False),
            (1, "2024-02", None, None),
            (1, "2024-03", False, True),
        ]
    )
    out = product_labels(as_of([1]), monthly, PRODUCTS)
    assert np.isnan(label(out, 0, "savings"))
    assert label(out, 0, "credit_card") == 1.0


def test_a_holding_the_bank_did_not_map_labels_no_row():
    """The whole column null (the field not mapped): every row's label for it is NaN; the other
    product is labelled as usual, and a customer who leaves keeps its 0."""
    monthly = snapshots(
        [
            (1, "2024-01", None, False),
            (1, "2024-02", None, False),
            (1, "2024-03", None, False),
            (1, "2024-04", None, False),
            (2, "2024-01", None, False),
        ]
    )
    out = product_labels(as_of([1, 2]), monthly, PRODUCTS)
    assert out["label_savings"].isna().all()
    assert list(out["label_credit_card"]) == [0.0, 0.0]


def test_known_holdings_are_labelled_as_before():
    """Plain booleans, no null: 0 and 1 where not held at the as-of time, NaN where held."""
    monthly = snapshots(
        [(1, "2024-01", True, False), (1, "2024-02", True, False), (2, "2024-01", False, False)]
    )
    monthly["has_savings"] = monthly["has_savings"].astype(bool)
    monthly["has_credit_card"] = monthly["has_credit_card"].astype(bool)
    out = product_labels(as_of([1, 2]), monthly, PRODUCTS)
    assert np.isnan(label(out, 0, "savings")) and label(out, 0, "credit_card") == 0.0
    assert label(out, 1, "savings") == 0.0
