"""Needs for products and the chance of opening each one: products open for reasons, not at random.

A need (0 .. 1) follows from the customer's life stage and income; life events raise it for a
while (``State.boost``). The organic monthly chance of opening a product rises with need and is
small for a customer who is drifting away.
"""

from __future__ import annotations

import numpy as np

from retain.core.tables import LIFE_EVENTS, PRODUCTS
from simulator.population import Population
from simulator.state import ENGAGED, P, State

ADOPTION_INTERCEPT = -7.0
NEED_WEIGHT = 4.0
BOOST_WEIGHT = 3.0
BOOST_DECAY = 0.7
EVENT_BOOSTS: dict[str, dict[str, float]] = {
    "new_job": {"personal_loan": 0.4, "car_loan": 0.5, "credit_card": 0.5, "pension": 0.6},
    "marriage": {"insurance": 0.8, "savings": 0.6, "mortgage": 0.5},
    "child": {"insurance": 1.0, "savings": 0.8, "pension": 0.3},
    "home_purchase": {"mortgage": 2.0, "insurance": 0.8},
    "retirement": {"wealth_funds": 1.0, "time_deposit": 1.0},
}
"""How much each life event raises the need for each product (decays by BOOST_DECAY a month)."""

EVENT_BOOST_MATRIX = np.zeros((len(LIFE_EVENTS), len(PRODUCTS)))
for _e, _boosts in EVENT_BOOSTS.items():
    for _p, _b in _boosts.items():
        EVENT_BOOST_MATRIX[LIFE_EVENTS.index(_e), P[_p]] = _b


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def needs(s: State, profile: Population) -> np.ndarray:
    """Need for each product, [n, len(PRODUCTS)], from life stage and income (boosts excluded)."""
    n = len(s.age)
    age, band = s.age, profile.income_band.astype(float)
    kids = (s.children > 0).astype(float)
    married = s.married.astype(float)
    prime = ((age >= 28) & (age <= 50)).astype(float)
    out = np.empty((n, len(PRODUCTS)))
    out[:, P["current_account"]] = 0.9
    out[:, P["savings"]] = 0.35 + 0.07 * (band - 1) + 0.2 * kids
    out[:, P["time_deposit"]] = 0.1 + 0.07 * (band - 1) + 0.2 * (age > 55) + 0.2 * s.retired
    out[:, P["credit_card"]] = 0.5 + 0.06 * (band - 1) - 0.3 * (age > 72) - 0.2 * (age < 21)
    out[:, P["personal_loan"]] = 0.15 + 0.1 * (band <= 2) + 0.1 * kids
    out[:, P["mortgage"]] = 0.05 + 0.3 * prime * (band >= 2) + 0.15 * married
    out[:, P["car_loan"]] = 0.1 + 0.12 * ((age >= 25) & (age <= 60))
    out[:, P["wealth_funds"]] = (
        0.05 + 0.08 * (band - 1) * (profile.risk_tolerance - 1) / 4 + 0.2 * s.retired
    )
    out[:, P["insurance"]] = 0.15 + 0.25 * kids + 0.15 * married + 0.15 * s.has[:, P["mortgage"]]
    out[:, P["pension"]] = 0.1 + 0.3 * ((age >= 30) & (age < 60)) * (band >= 3)
    out[:, P["fx_remittance"]] = 0.05 + 0.7 * profile.fx_need
    out[:, P["green_deposit"]] = 0.1 + 0.25 * (age < 40)
    return out.clip(0, 1)


def eligible(s: State, profile: Population) -> np.ndarray:
    """Products a customer may open now: not held, and allowed for their age, income, holdings."""
    ok = ~s.has
    ok[:, P["mortgage"]] &= (profile.income_band >= 2) & (s.age < 65)
    ok[:, P["personal_loan"]] &= s.age < 70
    ok[:, P["car_loan"]] &= s.age < 70
    ok[:, P["pension"]] &= s.age < 62
    ok[:, P["green_deposit"]] &= s.has[:, P["savings"]]
    return ok


def adoption_probs(s: State, profile: Population) -> np.ndarray:
    """P(the customer opens each product, unprompted, during the next month | state at month end).

    0 for products held or not allowed. This is the exact chance the monthly step uses.
    """
    logit = ADOPTION_INTERCEPT + NEED_WEIGHT * needs(s, profile) + BOOST_WEIGHT * s.boost
    q = _sigmoid(logit) * np.where(s.stage == ENGAGED, 1.0, 0.15)[:, None]
    return np.where(eligible(s, profile), q, 0.0)
