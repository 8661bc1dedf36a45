"""Why customers leave: the monthly churn hazard and the latent drift towards leaving.

The hazard of leaving during month t+1 is a function of the state at the end of month t (so it is
known one month ahead, exactly):

    intensity = BASE_INTENSITY * frailty * exp(sum of cause terms) [* offer and contact effects]
    hazard    = 1 - exp(-intensity)

Documented causes (log-scale terms in ``CAUSES``): the latent stage (drifting, leaving), unresolved
complaints, salary paid elsewhere, deposits falling, a fee shock, the gap between the market's
deposit rate and the bank's (for rate-sensitive customers with deposits), low engagement, few
products, short tenure; a mortgage anchors. ``frailty`` is each customer's own noise.

Most customers leave through the latent stage: the same causes first push an engaged customer into
*drifting* (salary moves away, balances drain, activity falls), then into *leaving*; the hazard
rises with the stage, so the warning signs come months before the exit.
"""

from __future__ import annotations

import numpy as np

from retain.core.tables import LIFE_EVENTS
from simulator.population import LOST_CAUSE, SURE_THING, Population
from simulator.state import DEPOSIT_PRODUCTS, DRIFTING, ENGAGED, LEAVING, P, State

HOME_PURCHASE = LIFE_EVENTS.index("home_purchase")

BASE_INTENSITY = 0.005
CAUSES: dict[str, float] = {
    "drifting": np.log(3.5),
    "leaving": np.log(30.0),
    "complaint_open": 0.9,
    "salary_gone": 0.6,
    "deposits_fell": 0.4,
    "fee_shock": 0.55,
    "rate_gap": 1.1,  # per point of gap above RATE_GAP_TOLERANCE, times rate sensitivity
    "low_engagement": 0.5,
    "per_product": -0.2,  # per product above two
    "tenure_under_12m": 0.7,
    "tenure_under_24m": 0.35,
    "mortgage": -0.5,
    "sure_thing": -0.5,
    "lost_cause": 0.4,
}
"""Log-scale effect of each cause on the churn intensity."""
RATE_GAP_TOLERANCE = 0.5
"""Points of rate gap customers put up with before it matters."""

DRIFT_CAUSES: dict[str, float] = {
    "intercept": -5.0,
    "complaint_open": 1.0,
    "fee_shock": 0.7,
    "rate_gap": 1.0,
    "low_engagement": 0.5,
    "per_product": -0.15,
    "tenure_under_12m": 0.5,
    "log_frailty": 0.5,
    "home_bought_elsewhere": 2.0,
}
"""Log-odds of an engaged customer starting to drift away in a month."""
RECOVER = 0.08
"""Monthly chance a drifting customer settles back."""
DECIDE = 0.15
"""Monthly chance a drifting customer decides to leave."""


def rate_pressure(s: State, profile: Population, rate_gap: float) -> np.ndarray:
    """Rate sensitivity times the gap above tolerance, for customers holding deposit products."""
    deposit_holder = s.has[:, DEPOSIT_PRODUCTS].any(1) | (s.bal_wealth > 0)
    return profile.rate_sensitivity * max(rate_gap - RATE_GAP_TOLERANCE, 0.0) * deposit_holder


def tenure_months(profile: Population, t: int) -> np.ndarray:
    return t - profile.join_month


def churn_intensity(s: State, profile: Population, rate_gap: float, t: int) -> np.ndarray:
    """Churn intensity for month ``t`` from the state at the end of month ``t-1``, before offers.

    Args:
        s: state at the end of month ``t-1``.
        profile: the customers.
        rate_gap: market minus bank rate in month ``t``, in points.
        t: month index of the month at risk.
    """
    c = CAUSES
    tenure = tenure_months(profile, t)
    x = (
        c["drifting"] * (s.stage == DRIFTING)
        + c["leaving"] * (s.stage == LEAVING)
        + c["complaint_open"] * (s.complaints_open > 0)
        + c["salary_gone"] * s.salary_gone
        + c["deposits_fell"] * s.deposits_fell
        + c["fee_shock"] * s.fee_shock
        + c["rate_gap"] * rate_pressure(s, profile, rate_gap)
        + c["low_engagement"] * s.low_engagement
        + c["per_product"] * (s.n_products - 2)
        + c["tenure_under_12m"] * (tenure < 12)
        + c["tenure_under_24m"] * ((tenure >= 12) & (tenure < 24))
        + c["mortgage"] * s.has[:, P["mortgage"]]
        + c["sure_thing"] * (profile.response_type == SURE_THING)
        + c["lost_cause"] * (profile.response_type == LOST_CAUSE)
    )
    return BASE_INTENSITY * profile.frailty * np.exp(x)


def hazard(intensity: np.ndarray) -> np.ndarray:
    """Probability of leaving within the month for a given intensity."""
    return -np.expm1(-intensity)


def drift_probability(s: State, profile: Population, rate_gap: float, t: int) -> np.ndarray:
    """P(an engaged customer starts drifting in month ``t``), from the state at the end of t-1."""
    c = DRIFT_CAUSES
    bought_elsewhere = (s.life_event == HOME_PURCHASE) & ~s.has[:, P["mortgage"]]
    x = (
        c["intercept"]
        + c["complaint_open"] * (s.complaints_open > 0)
        + c["fee_shock"] * s.fee_shock
        + c["rate_gap"] * rate_pressure(s, profile, rate_gap)
        + c["low_engagement"] * s.low_engagement
        + c["per_product"] * (s.n_products - 2)
        + c["tenure_under_12m"] * (tenure_months(profile, t) < 12)
        + c["log_frailty"] * np.log(profile.frailty)
        + c["home_bought_elsewhere"] * bought_elsewhere
    )
    return 1.0 / (1.0 + np.exp(-x))


def next_stage(s: State, profile: Population, rate_gap: float, t: int, u: np.ndarray) -> np.ndarray:
    """The latent stage at the end of month ``t``, given uniform draws ``u``."""
    p_drift = drift_probability(s, profile, rate_gap, t)
    return np.select(
        [
            (s.stage == ENGAGED) & (u < p_drift),
            (s.stage == DRIFTING) & (u < RECOVER),
            (s.stage == DRIFTING) & (u > 1 - DECIDE),
        ],
        [DRIFTING, ENGAGED, LEAVING],
        s.stage,
    ).astype(np.int8)


def dormant_share(s: State) -> np.ndarray:
    """Of the customers who leave, the share whose relationship goes dormant rather than closed."""
    return np.where(s.low_engagement | (s.deposits < 500), 0.7, 0.2)
