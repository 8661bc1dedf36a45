"""The pure parts of ``retain evaluate nba``: the experiment's design probabilities, true values of
actions, and the policies' choices."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from evaluation.nba import (
    POLICIES,
    Scored,
    choices,
    evaluation_catalogue,
    experiment_probability,
    policy_values,
    true_values,
)
from retain.core.tables import PRODUCTS, RETENTION_ACTIONS
from serving.actions import NO_ACTION, ActionCatalogue

CUSTOMER = {
    "age": 40,
    "income_band": 3,
    "risk_tolerance": 5,
    "marketing_consent": True,
    "preferred_channel": "mobile",
    **{f"has_{p}": p in ("current_account", "savings") for p in PRODUCTS},
}


def test_experiment_probabilities_sum_to_one() -> None:
    actions = [*RETENTION_ACTIONS, *(f"xsell_{p}" for p in PRODUCTS)]
    total = sum(experiment_probability(CUSTOMER, a) for a in actions)
    assert total == pytest.approx(1.0)
    assert experiment_probability(CUSTOMER, "rm_call") == 0.125
    assert experiment_probability(CUSTOMER, "xsell_savings") == 0.0  # held
    old = {**CUSTOMER, "age": 66}  # no mortgage, no pension at 66
    assert experiment_probability(old, "xsell_mortgage") == 0.0
    assert sum(experiment_probability(old, a) for a in actions) == pytest.approx(1.0)


def test_true_values_follow_the_effects() -> None:
    catalogue = evaluation_catalogue(ActionCatalogue.load())
    assert all(a.kind != "service" for a in catalogue.actions)
    effects = pd.DataFrame(
        {
            "contact": [0.0, 0.02],
            **{a: [-0.1, 0.0] for a in RETENTION_ACTIONS},
            **{f"xsell_{p}": [0.05, 0.0] for p in PRODUCTS},
        }
    )
    values = true_values(catalogue, effects, np.array([1000.0, 1000.0]))
    fee = catalogue["fee_waiver"]
    card = catalogue["xsell_credit_card"]
    assert values.loc[0, "fee_waiver"] == pytest.approx(100 - fee.cost)
    assert values.loc[1, "xsell_credit_card"] == pytest.approx(-20 - card.cost)  # a sleeping dog
    assert values.loc[0, "xsell_credit_card"] == pytest.approx(0.05 * card.value - card.cost)
    assert (values[NO_ACTION] == 0).all()
    chosen = policy_values(values, ["fee_waiver", NO_ACTION])
    assert chosen.tolist() == pytest.approx([100 - fee.cost, 0.0])


def test_policies_choose_within_the_rules() -> None:
    catalogue = evaluation_catalogue(ActionCatalogue.load())
    n = 40
    rng = np.random.default_rng(0)
    scored = Scored(
        records=[dict(CUSTOMER) for _ in range(n)],
        p_churn=rng.uniform(0, 0.5, n),
        p_open=rng.uniform(0, 0.6, (n, len(PRODUCTS))),
        products=PRODUCTS,
        effects=None,  # no uplift model: retain makes no retention offer
        actions=(),
    )
    at = [datetime(2024, 9, 30, tzinfo=UTC)] * n
    chosen = choices(catalogue, scored, ["mobile"] * n, at, {"credit_card": 0.9}, seed=1)
    assert set(chosen) == set(POLICIES)
    assert not any(catalogue[a].kind == "retention" for a in chosen["retain"])
    assert all(a in ("xsell_credit_card", NO_ACTION) for a in chosen["most_popular"])
    targeted = [a for a in chosen["churn_only"] if a != NO_ACTION]
    assert len(targeted) == 4 and all(catalogue[a].kind == "retention" for a in targeted)
    for policy in POLICIES:
        for a in chosen[policy]:
            assert a == NO_ACTION or "mobile" in catalogue[a].channels
            assert a not in ("xsell_current_account", "xsell_savings")  # already held
