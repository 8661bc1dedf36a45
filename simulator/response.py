"""How customers answer offers: the ground-truth response model.

Each customer has a latent response type (``population.RESPONSE_TYPES``):

- persuadable: accepts retention offers readily, and an accepted offer cuts their churn hazard,
  most when the offer fixes their own problem (a fee waiver after a fee shock, a rate boost when the
  market pays more and they care, an RM call about an open complaint);
- sure thing: loyal anyway (lower hazard); accepts offers, which barely change anything;
- lost cause: rarely accepts, and an accepted offer does not change their hazard;
- sleeping dog: any contact (retention or cross-sell) reminds them to shop around and raises their
  hazard by CONTACT_EFFECT_SLEEPING_DOG for EFFECT_MONTHS months.

Offer and contact effects multiply the churn intensity in the contact month and the two after it.
Acceptance does not depend on the channel. An accepted cross-sell offer opens the product at once.
"""

from __future__ import annotations

import numpy as np

from retain.core.tables import RETENTION_ACTIONS
from simulator.adoption import eligible, needs
from simulator.population import PERSUADABLE, SLEEPING_DOG, SURE_THING, Population
from simulator.state import ENGAGED, LEAVING, P, State

EFFECT_MONTHS = 3
"""Months an offer's or a contact's effect on the hazard lasts, the contact month included."""
CONTACT_EFFECT_SLEEPING_DOG = 1.8
RETENTION_BASE_LOGIT = {
    "fee_waiver": -2.1,
    "rate_boost": -2.1,
    "rm_call": -1.7,
    "loyalty_bonus": -1.9,
}
RELEVANCE_LOGIT = 1.3
TYPE_LOGIT = np.array([0.6, 0.2, -1.4, -0.9])  # by response type
XSELL_INTERCEPT = -3.6
XSELL_NEED = 2.6


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def relevance(s: State, profile: Population, rate_gap: float) -> np.ndarray:
    """How well each retention action fits the customer's problem now, [n, 4] in 0 .. 1."""
    deposits = s.has[:, [P["savings"], P["time_deposit"]]].any(1) | (s.bal_wealth > 0)
    return np.stack(
        [
            profile.fee_sensitivity * np.where(s.fee_shock, 1.0, 0.3),
            profile.rate_sensitivity * np.clip(rate_gap / 1.5, 0, 1) * deposits,
            np.where(s.complaints_open > 0, 1.0, 0.1),
            np.full(len(s.age), 0.4),
        ],
        1,
    )


def retention_acceptance(s: State, profile: Population, rate_gap: float) -> np.ndarray:
    """P(accept | offered) for each retention action, [n, len(RETENTION_ACTIONS)]."""
    base = np.array([RETENTION_BASE_LOGIT[a] for a in RETENTION_ACTIONS])
    logit = (
        base
        + RELEVANCE_LOGIT * relevance(s, profile, rate_gap)
        + TYPE_LOGIT[profile.response_type][:, None]
        + profile.offer_affinity[:, None]
        - 0.8 * (s.stage == LEAVING)[:, None]
    )
    return _sigmoid(logit)


def retention_effect(s: State, profile: Population, rate_gap: float) -> np.ndarray:
    """Factor on the churn intensity once a retention offer is accepted, [n, 4] (1 = no effect)."""
    rel = relevance(s, profile, rate_gap)
    kind = profile.response_type[:, None]
    return np.select(
        [kind == PERSUADABLE, kind == SURE_THING],
        [np.exp(-(0.4 + 1.4 * rel)), np.full_like(rel, np.exp(-0.1))],
        1.0,
    )


def contact_effect(profile: Population) -> np.ndarray:
    """Factor on the churn intensity from being contacted at all, whatever the offer or answer."""
    return np.where(profile.response_type == SLEEPING_DOG, CONTACT_EFFECT_SLEEPING_DOG, 1.0)


def cross_sell_acceptance(s: State, profile: Population) -> np.ndarray:
    """P(accept | offered) for ``xsell_<product>``, [n, len(PRODUCTS)]; 0 where not eligible."""
    logit = (
        XSELL_INTERCEPT
        + XSELL_NEED * (needs(s, profile) + s.boost.clip(0, 1))
        + TYPE_LOGIT[profile.response_type][:, None] * 0.6
        + profile.offer_affinity[:, None]
        - 1.5 * (s.stage != ENGAGED)[:, None]
    )
    return np.where(eligible(s, profile), _sigmoid(logit), 0.0)
