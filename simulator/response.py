"""How customers answer offers: the ground-truth response model.

Who is helped, unmoved or pushed away by an offer depends partly on what the bank can see and
partly on hidden traits (see the README's "The simulated bank" for the sources):

- **What the bank sees: the reason the customer is drifting** (``reason``). An offer works when
  it fixes the customer's own problem: a fee waiver after a fee shock, a rate boost for a deposit
  holder when the market pays more (most when deposits are already leaving), a relationship
  manager's call about an open complaint or a salary paid elsewhere, a loyalty bonus a little for
  anyone whose deposits fall. A customer whose salary is already paid elsewhere has moved the
  relationship, and any offer but the call does half as much.
- **What the bank does not see: how much the customer cares** (``hidden_weight``): the fee and
  rate sensitivities scale the fit of the fee waiver and the rate boost by 0.5 .. 1.5, so the
  seen reason and the hidden sensitivity weigh about equally in how well an offer fits.
- **The latent response type** (``population.RESPONSE_TYPES``), hidden but revealed over time by
  how the customer answers offers (the type and a persistent ``offer_affinity`` move acceptance):
  a persuadable's accepted offer cuts the churn hazard by its fit; a sure thing is loyal anyway
  and barely moved; a lost cause is not moved; a sleeping dog is pushed away by any contact
  (retention or cross-sell), which breaks their inertia, the more so when the bank can see a
  grievance it reminds them of (a fee shock, a rate gap on their deposits, an open complaint).
- **A contact that recalls a grievance** (``grievance``, seen by the bank) raises anyone's churn
  intensity by up to SALIENCE unless the customer accepts a retention offer (which settles it):
  the contact makes the grievance salient and lowers the inertia that kept the customer.

Offer and contact effects multiply the churn intensity in the contact month and the two after it.
Acceptance does not depend on the channel. An accepted cross-sell offer opens the product at once.
"""

from __future__ import annotations

import numpy as np

from retain.core.tables import RETENTION_ACTIONS
from simulator.adoption import eligible, needs
from simulator.hazard import RATE_GAP_TOLERANCE
from simulator.population import PERSUADABLE, SLEEPING_DOG, SURE_THING, Population
from simulator.state import ENGAGED, LEAVING, P, State

EFFECT_MONTHS = 3
"""Months an offer's or a contact's effect on the hazard lasts, the contact month included."""
CONTACT_EFFECT_SLEEPING_DOG = 1.8
"""A sleeping dog's factor on the churn intensity after a contact, at a middling grievance."""
SALIENCE = 0.5
"""Excess factor on anyone's churn intensity after a contact that recalls a full grievance, unless
a retention offer is accepted: Ascarza, Iyengar and Schleicher (2016) measured 10.0% churn among
contacted customers who overpaid against 6.4% in their control group (x1.56)."""
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


def _deposit_holder(s: State) -> np.ndarray:
    return s.has[:, [P["savings"], P["time_deposit"]]].any(1) | (s.bal_wealth > 0)


def reason(s: State, rate_gap: float) -> np.ndarray:
    """How well each retention action fits the reason the customer is drifting, as the bank can
    see it in the month-end snapshot, [n, 4] in 0 .. 1."""
    gap = np.clip(rate_gap / 1.5, 0, 1) * _deposit_holder(s) * np.where(s.deposits_fell, 1.0, 0.5)
    moved = np.where(s.salary_gone, 0.5, 1.0)
    return np.stack(
        [
            np.where(s.fee_shock, 1.0, 0.15) * moved,
            gap * moved,
            np.maximum(np.where(s.complaints_open > 0, 1.0, 0.15), 0.6 * s.salary_gone),
            np.where(s.deposits_fell, 0.5, 0.3) * moved,
        ],
        1,
    )


def hidden_weight(profile: Population) -> np.ndarray:
    """How much the customer cares about what each retention action fixes, [n, 4]: the latent
    fee and rate sensitivities (0 .. 1) as 0.5 .. 1.5; 1 for the call and the bonus."""
    one = np.ones(len(profile))
    return np.stack([0.5 + profile.fee_sensitivity, 0.5 + profile.rate_sensitivity, one, one], 1)


def relevance(s: State, profile: Population, rate_gap: float) -> np.ndarray:
    """How well each retention action fits the customer's problem now, [n, 4] in 0 .. 1.5: the
    seen reason times the hidden weight."""
    return reason(s, rate_gap) * hidden_weight(profile)


def grievance(s: State, rate_gap: float) -> np.ndarray:
    """A grievance the bank can see that a contact reminds the customer of, 0 .. 1: a fee shock,
    an open complaint, or deposits earning less than the market by more than customers put up
    with (a point above the tolerance is a full grievance)."""
    gap = np.clip(rate_gap - RATE_GAP_TOLERANCE, 0, 1) * _deposit_holder(s)
    return np.maximum.reduce(
        [s.fee_shock.astype(float), gap, np.where(s.complaints_open > 0, 1.0, 0.0)]
    )


def salience(s: State, rate_gap: float) -> np.ndarray:
    """Factor on the churn intensity of a contact that recalls the customer's grievance."""
    return 1 + SALIENCE * grievance(s, rate_gap)


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
    """Factor on the churn intensity once a retention offer is accepted, [n, 4] (1 = no effect),
    on top of the contact's: an accepted offer settles the grievance the contact recalled."""
    rel = relevance(s, profile, rate_gap)
    kind = profile.response_type[:, None]
    accepted = np.select(
        [kind == PERSUADABLE, kind == SURE_THING],
        [np.exp(-(0.4 + 1.4 * rel)), np.full_like(rel, np.exp(-0.1))],
        1.0,
    )
    return accepted / salience(s, rate_gap)[:, None]


def contact_effect(s: State, profile: Population, rate_gap: float) -> np.ndarray:
    """Factor on the churn intensity from being contacted at all, whatever the offer: the
    grievance's salience, times a sleeping dog's factor (CONTACT_EFFECT_SLEEPING_DOG at a
    middling grievance, its excess from 0.5 x to 1.5 x with the grievance the contact recalls)."""
    g = grievance(s, rate_gap)
    dog = 1 + (CONTACT_EFFECT_SLEEPING_DOG - 1) * (0.5 + g)
    return np.where(profile.response_type == SLEEPING_DOG, dog, 1.0) * (1 + SALIENCE * g)


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
