"""Campaign plans valued on a ground truth: each contact by the simulator's true effects."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from evaluation.plan import EFFECTS, plan_values
from retain.core.columns import AS_OF, KEY
from serving.actions import ActionCatalogue

AS_OF_TIME = pd.Timestamp("2024-12-31 23:59:59", tz="UTC")


class Truth:
    """A ground truth with fixed effects per customer; records what it was asked."""

    def __init__(self, effects: dict[int, dict[str, float]]) -> None:
        self.effects = effects
        self.asked: list[pd.DataFrame] = []

    def churn_probability(self, rows: pd.DataFrame) -> np.ndarray:
        return np.full(len(rows), 0.1)

    def adoption(self, rows: pd.DataFrame, products: Sequence[str]) -> np.ndarray:
        return np.zeros((len(rows), len(products)))

    def offer_effects(self, rows: pd.DataFrame, actions: Sequence[str]) -> np.ndarray:
        self.asked.append(rows)
        return np.array(
            [[self.effects.get(int(k), {}).get(a, np.nan) for a in actions] for k in rows[KEY]]
        )


def test_each_contact_is_worth_its_true_effect_minus_its_cost():
    """Retention: -effect x customer value - cost; a cross-sell: its acceptance x the product's
    value, less the churn a contact causes, less the cost; an unknown customer: just the cost."""
    catalogue = ActionCatalogue.load()
    truth = Truth(
        {
            1: {"rm_call": -0.2},
            2: {"xsell_savings": 0.1, "contact": 0.01},
        }
    )
    retain = pd.DataFrame(
        {
            "customer_key": [1, 2, 3],
            "action": ["rm_call", "xsell_savings", "fee_waiver"],
            "cost": [45.0, 8.0, 60.0],
            "expected_value": [10.0, 2.0, 1.0],
            "value": [1000.0, 500.0, 700.0],
        }
    )
    baseline = retain.head(1).assign(expected_value=np.nan)
    table = plan_values(
        {"retain": retain, "riskiest_first": baseline}, truth, AS_OF_TIME, catalogue
    )
    rm_call = 0.2 * 1000 - 45
    xsell = 0.1 * catalogue["xsell_savings"].value - 0.01 * 500 - 8
    assert table.loc["retain", "true_value"] == pytest.approx(rm_call + xsell - 60)
    assert table.loc["retain", "expected_value"] == pytest.approx(13.0)
    assert np.isnan(table.loc["riskiest_first", "expected_value"])
    assert table.loc["riskiest_first", "true_value"] == pytest.approx(rm_call)
    assert table["contacts"].tolist() == [3, 1]
    asked = truth.asked[0]
    assert (asked[AS_OF] == AS_OF_TIME).all() and asked[KEY].tolist() == [1, 2, 3]
    assert "contact" in EFFECTS


def test_an_empty_plan_is_worth_nothing():
    empty = pd.DataFrame(columns=["customer_key", "action", "cost", "expected_value", "value"])
    table = plan_values({"retain": empty}, Truth({}), AS_OF_TIME, ActionCatalogue.load())
    assert table.loc["retain"].tolist() == [0, 0.0, 0.0, 0.0]
