"""The bank's past contacts: a logging policy mixing a randomised experiment with targeting rules,
each with a randomised no-contact holdout.

Each month every consenting customer not contacted (nor held out) in the last COOLDOWN_MONTHS
months is eligible for at most one audience:

- with probability EXPERIMENT_RATE the month is part of a randomised experiment: half the time a
  retention action (each of the 4 equally likely), half the time a cross-sell offer for a product
  the customer may open (each equally likely); the channel is drawn at random;
- otherwise the bank's rules apply: a customer showing a risk sign (salary paid elsewhere, an open
  complaint, deposits falling, a fee shock, a low survey score) joins a retention audience with
  probability RULE_RETENTION_RATE, the action chosen by the sign; a customer without one joins the
  rule's next product audience with probability RULE_XSELL_RATE; the channel is the preferred one.

Inside every audience, experiment and rules alike, HOLDOUT_SHARE of the customers are held out at
random: not contacted, and logged as a ``holdout`` row with the offer their audience got, as a
bank's campaign system logs its control cells. A holdout counts as a contact for the cool-down
(held-out customers are kept out of other campaigns while the campaign is measured), so the
holdout and the contacted customers of an audience differ only by the coin. That makes the effect
of every offer identifiable from the log alone: within an audience, contacted minus held out.

``randomized`` says which part chose a row, and ``assignment_prob`` the probability of what the
row records under that part, given what the bank knew at the month end before, as a bank's
campaign system logs it:

- a contact: P(this action, contacted) = P(audience of this action) x (1 - HOLDOUT_SHARE); for a
  randomised contact this is the experiment's design probability that off-policy estimates need;
- a holdout: P(held out) = P(in an audience) x HOLDOUT_SHARE; the experiment puts every customer
  it draws in an audience, so its holdout rows log HOLDOUT_SHARE itself (the experiment's
  no-contact arm); a customer belongs to at most one rule audience, so a rule holdout row logs
  that audience's probability x HOLDOUT_SHARE.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from retain.core.tables import CHANNELS, PRODUCTS, RETENTION_ACTIONS
from simulator.adoption import eligible
from simulator.population import Population
from simulator.state import DEPOSIT_PRODUCTS, P, State

EXPERIMENT_RATE = 0.04
RULE_RETENTION_RATE = 0.5
RULE_XSELL_RATE = 0.04
COOLDOWN_MONTHS = 2
HOLDOUT_SHARE = 0.15
"""Share of every audience held out of the contact at random (banks keep 10-20%)."""
ACTIONS: tuple[str, ...] = (*RETENTION_ACTIONS, *(f"xsell_{p}" for p in PRODUCTS))
"""Action codes: 0..3 retention, 4 + product index for cross-sell."""
N_RETENTION = len(RETENTION_ACTIONS)
R = {a: i for i, a in enumerate(RETENTION_ACTIONS)}
RULE_PRODUCT_ORDER = ("mortgage", "credit_card", "savings", "wealth_funds", "insurance")
CH = {c: i for i, c in enumerate(CHANNELS)}


@dataclass(frozen=True)
class Contacts:
    """One entry per customer of the chunk; ``action`` is the offer of the customer's audience,
    -1 where the customer is in none; ``holdout`` marks the audience members held out."""

    action: np.ndarray
    randomized: np.ndarray
    holdout: np.ndarray
    assignment_prob: np.ndarray
    channel: np.ndarray

    @property
    def in_audience(self) -> np.ndarray:
        return self.action >= 0

    @property
    def contacted(self) -> np.ndarray:
        return (self.action >= 0) & ~self.holdout


def risk_signs(s: State) -> np.ndarray:
    """What the bank's rules treat as a warning sign."""
    low_score = np.nan_to_num(s.satisfaction, nan=10.0) <= 4
    return s.salary_gone | (s.complaints_open > 0) | s.deposits_fell | s.fee_shock | low_score


def rule_retention_action(s: State, rate_gap: float) -> np.ndarray:
    """The retention action the bank's rules pick for a customer with a warning sign."""
    deposit_holder = s.has[:, DEPOSIT_PRODUCTS].any(1)
    return np.select(
        [s.complaints_open > 0, s.fee_shock, deposit_holder & (rate_gap > 1.0)],
        [R["rm_call"], R["fee_waiver"], R["rate_boost"]],
        R["loyalty_bonus"],
    )


def rule_product(s: State, profile: Population, allowed: np.ndarray) -> np.ndarray:
    """The rules' next product (index into PRODUCTS), -1 when none fits."""
    out = np.full(len(s.age), -1)
    conditions = {
        "mortgage": (s.age >= 28) & (s.age <= 50) & (profile.income_band >= 3),
        "credit_card": np.ones(len(s.age), bool),
        "savings": np.ones(len(s.age), bool),
        "wealth_funds": profile.income_band >= 4,
        "insurance": np.ones(len(s.age), bool),
    }
    for name in reversed(RULE_PRODUCT_ORDER):
        out = np.where(allowed[:, P[name]] & conditions[name], P[name], out)
    return out


def choose_contacts(
    s: State,
    profile: Population,
    t: int,
    last_contact: np.ndarray,
    rate_gap: float,
    rng: np.random.Generator,
) -> Contacts:
    """Who the bank puts in which audience in month ``t``, who of them it holds out, on which
    channel the others are contacted, and how likely that was under the part of the policy that
    chose it (the experiment or the rules).

    Args:
        s: state at the end of month ``t-1`` (what the bank knows when it plans the month).
        profile: the customers.
        t: month index.
        last_contact: month index of each customer's last contact (very negative for none).
        rate_gap: market minus bank rate this month.
        rng: the chunk's generator.
    """
    n = len(s.age)
    can = profile.consent & (profile.join_month <= t - 1) & (t - last_contact > COOLDOWN_MONTHS)
    allowed = eligible(s, profile)
    n_allowed = allowed.sum(1)

    # Randomised arm: P(action) for every action, [n, len(ACTIONS)].
    p_rand = np.zeros((n, len(ACTIONS)))
    retention_share = np.where(n_allowed > 0, 0.5, 1.0)
    p_rand[:, :N_RETENTION] = (retention_share / N_RETENTION)[:, None]
    p_rand[:, N_RETENTION:] = allowed * ((1 - retention_share) / np.maximum(n_allowed, 1))[:, None]

    # Rules.
    p_rule = np.zeros((n, len(ACTIONS)))
    sign = risk_signs(s)
    rows = np.arange(n)
    p_rule[rows, rule_retention_action(s, rate_gap)] += np.where(sign, RULE_RETENTION_RATE, 0.0)
    product = rule_product(s, profile, allowed)
    p_rule[rows, N_RETENTION + np.maximum(product, 0)] += np.where(
        ~sign & (product >= 0), RULE_XSELL_RATE, 0.0
    )

    randomized = can & (rng.random(n) < EXPERIMENT_RATE)
    u = rng.random(n)
    pick_rand = (u[:, None] > np.cumsum(p_rand, 1)).sum(1)
    rule_cum = np.cumsum(p_rule, 1)
    pick_rule = np.where(u < rule_cum[:, -1], (u[:, None] > rule_cum).sum(1), -1)
    action = np.where(randomized, pick_rand, np.where(can, pick_rule, -1))
    holdout = (action >= 0) & (rng.random(n) < HOLDOUT_SHARE)
    safe = np.maximum(action, 0)
    audience = np.where(randomized, 1.0, p_rule[rows, safe])
    prob = np.where(
        holdout,
        audience * HOLDOUT_SHARE,
        np.where(randomized, p_rand[rows, safe], p_rule[rows, safe]) * (1 - HOLDOUT_SHARE),
    )

    rm_call = action == R["rm_call"]
    rule_channel = np.where(
        rm_call & (profile.channel != CH["branch"]), CH["phone"], profile.channel
    )
    random_channel = np.where(
        rm_call, rng.choice([CH["branch"], CH["phone"]], n), rng.integers(0, len(CHANNELS), n)
    )
    channel = np.where(randomized, random_channel, rule_channel)
    return Contacts(
        action=action.astype(np.int16),
        randomized=randomized & (action >= 0),
        holdout=holdout,
        assignment_prob=np.where(action >= 0, prob, np.nan),
        channel=channel.astype(np.int8),
    )
