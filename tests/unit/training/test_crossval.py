"""Folds of customers for cross-validation (scikit-learn's StratifiedKFold over customers): every
customer's rows in one fold, the churners spread evenly, the same folds whatever the row order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retain.core.errors import DataError
from training.split import customer_folds


def history(customers: int = 200, months: int = 6, seed: int = 0) -> pd.DataFrame:
    """Customer-months; a fifth of the customers churn in their last labelled month; the last
    month is unlabelled."""
    rng = np.random.default_rng(seed)
    ends = pd.date_range("2024-01-31", periods=months, freq="ME", tz="UTC")
    churner = rng.permutation(customers) < customers // 5
    rows = [
        {
            "customer_id": 1000 + c,
            "event_timestamp": m,
            "label": np.nan if i == months - 1 else float(churner[c] and i == months - 2),
        }
        for c in range(customers)
        for i, m in enumerate(ends)
    ]
    return pd.DataFrame(rows)


def test_each_customer_is_held_out_once_with_all_its_labelled_rows():
    frame = history()
    folds = customer_folds(frame, 5, seed=7)
    held = sum(f.astype(int) for f in folds)
    labelled = frame["label"].notna()
    assert (held[labelled] == 1).all() and (held[~labelled] == 0).all()
    for f in folds:
        ids = set(frame.loc[f, "customer_id"])
        assert frame.loc[frame["customer_id"].isin(ids) & labelled].index.equals(frame.loc[f].index)


def test_churning_customers_are_spread_within_one_of_their_share():
    """40 churners over 5 folds: 8 each; 200 customers: 40 each."""
    frame = history()
    for f in customer_folds(frame, 5, seed=3):
        per_customer = frame.loc[f].groupby("customer_id")["label"].max()
        assert len(per_customer) == 40 and abs(int(per_customer.sum()) - 8) <= 1


def test_the_folds_do_not_depend_on_the_order_of_the_rows():
    frame = history()
    shuffled = frame.sample(frac=1.0, random_state=1)
    for a, b in zip(customer_folds(frame, 4, 7), customer_folds(shuffled, 4, 7), strict=True):
        assert set(frame.loc[a, "customer_id"]) == set(shuffled.loc[b, "customer_id"])


def test_fewer_churning_customers_than_folds_is_refused_with_the_counts():
    frame = history(customers=20)  # 4 churners
    with pytest.raises(
        DataError, match="5 folds need at least 5 customers who churn.*has 4 and 16"
    ):
        customer_folds(frame, 5, seed=7)
