"""Who the customers are: their profiles at joining, and latent traits only the simulator has."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulator.calendar import US_PER_SECOND

GENDERS: tuple[str, ...] = ("female", "male")
REGIONS: tuple[str, ...] = ("capital", "north", "south", "east", "west", "central")
REGION_WEIGHTS = np.array([0.24, 0.18, 0.18, 0.14, 0.14, 0.12])
BRANCHES_PER_REGION = 25
OCCUPATIONS: tuple[str, ...] = (
    "salaried",
    "civil_servant",
    "self_employed",
    "student",
    "retired",
    "unemployed",
)
SALARY_OCCUPATIONS = np.array([True, True, False, False, True, False])
"""Occupations whose income arrives as a monthly salary (or pension) credit."""
INCOME_BY_BAND = np.array([0.0, 900.0, 1500.0, 2300.0, 3500.0, 6000.0])
"""Median monthly net income of each income band (index 1..5), in the bank's currency."""
RESPONSE_TYPES: tuple[str, ...] = ("persuadable", "sure_thing", "lost_cause", "sleeping_dog")
PERSUADABLE, SURE_THING, LOST_CAUSE, SLEEPING_DOG = range(4)

NEW_JOINER_MONTHLY_RATE = 0.0125
"""Acquisition rate, a share of the base a month; about replaces the customers who leave."""


@dataclass(frozen=True)
class Population:
    """Static facts about each customer in a chunk, one array element per customer."""

    customer_id: np.ndarray  # int64, pseudonymous
    gender: np.ndarray  # index into GENDERS
    birth_year: np.ndarray
    birth_month: np.ndarray  # 0..11, latent (only the year is published)
    region: np.ndarray  # index into REGIONS
    branch_id: np.ndarray
    city_tier: np.ndarray
    income_band: np.ndarray
    occupation: np.ndarray  # index into OCCUPATIONS, at joining
    join_month: np.ndarray  # month index of joining, <= 0 for customers who joined before the start
    join_date: np.ndarray  # int64 microseconds UTC
    risk_tolerance: np.ndarray
    consent: np.ndarray
    channel: np.ndarray  # index into retain.core.tables.CHANNELS
    digital: np.ndarray  # 0 .. 1
    # Latent traits: the simulator's causes, never published in the raw tables.
    income: np.ndarray  # monthly net income at the start
    salaried: np.ndarray  # income arrives as a salary credit
    frailty: np.ndarray  # multiplies the churn hazard: the customer's own noise
    rate_sensitivity: np.ndarray  # 0 .. 1
    fee_sensitivity: np.ndarray  # 0 .. 1
    complaint_propensity: np.ndarray
    offer_affinity: np.ndarray  # shifts the log-odds of accepting any offer
    savings_propensity: np.ndarray  # share of income put aside
    spend_ratio: np.ndarray  # card spend as a share of income
    activity: np.ndarray  # transactions a month
    fx_need: np.ndarray  # sends money abroad
    response_type: np.ndarray  # index into RESPONSE_TYPES

    def __len__(self) -> int:
        return len(self.customer_id)


def pseudonymous_ids(index: np.ndarray) -> np.ndarray:
    """Unique, scrambled 13-digit ids for customer numbers 0, 1, ... (odd-multiplier bijection)."""
    mixed = (index.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) & np.uint64((1 << 40) - 1)
    return (mixed + np.uint64(1 << 40)).astype(np.int64)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def draw_profiles(
    rng: np.random.Generator,
    index: np.ndarray,
    first: pd.Period,
    months: int,
    month_starts: np.ndarray,
) -> Population:
    """Draw the customers numbered ``index`` (global numbers, for their ids).

    Args:
        rng: the chunk's generator.
        index: global customer numbers.
        first: the first simulated month.
        months: simulated months; joiners arrive in months 1 .. months-1.
        month_starts: start of each simulated month, int64 microseconds.
    """
    n = len(index)
    age0 = np.clip(rng.gamma(4.0, 7.0, n) + 18, 18, 92)
    birth_year = (first.year - age0).astype(np.int16)
    birth_month = rng.integers(0, 12, n)
    gender = (rng.random(n) < 0.49).astype(np.int8)
    region = rng.choice(len(REGIONS), n, p=REGION_WEIGHTS).astype(np.int8)
    branch_id = (region.astype(np.int32) + 1) * 100 + rng.integers(1, BRANCHES_PER_REGION + 1, n)
    tier_p = np.where(region[:, None] == 0, [[0.85, 0.12, 0.03]], [[0.25, 0.40, 0.35]])
    city_tier = (1 + (rng.random(n)[:, None] > np.cumsum(tier_p, 1)).sum(1)).astype(np.int8)
    age_curve = -(((age0 - 48) / 22) ** 2)
    income_score = 0.9 * age_curve + 0.45 * (2 - city_tier) + rng.normal(0, 1, n)
    income_band = np.digitize(income_score, [-1.6, -0.75, 0.1, 1.0]).astype(np.int8) + 1
    occupation = np.select(
        [age0 < 24, age0 >= 66],
        [np.where(rng.random(n) < 0.6, 3, 0), 4],
        rng.choice([0, 1, 2, 5], n, p=[0.6, 0.15, 0.15, 0.1]),
    ).astype(np.int8)
    occupation = np.where((occupation == 3) & (age0 >= 24), 0, occupation).astype(np.int8)
    income = INCOME_BY_BAND[income_band] * rng.lognormal(0, 0.25, n)
    income = np.where(occupation == 3, income * 0.4, income)
    income = np.where(occupation == 5, income * 0.5, income)
    salaried = SALARY_OCCUPATIONS[occupation] & (rng.random(n) < 0.8)

    # Joining: about a fifth of a 24-month bank arrive during the period; the rest earlier.
    joiner_share = NEW_JOINER_MONTHLY_RATE * (months - 1)
    joiner_share = joiner_share / (1 + joiner_share)
    joins_during = (rng.random(n) < joiner_share) & (months > 1)
    max_tenure = np.maximum((age0 - 18) * 12, 1)
    tenure = np.where(rng.random(n) < 0.3, rng.uniform(0, 24, n), rng.exponential(110, n)).clip(
        0, max_tenure
    )
    join_month = np.where(joins_during, rng.integers(1, max(months, 2), n), -np.floor(tenure))
    join_month = join_month.astype(np.int32)
    month_us = 30.436875 * 86400 * US_PER_SECOND
    offset = rng.random(n)
    inside = np.clip(join_month, 0, months - 1)
    join_date = np.where(
        join_month >= 0,
        month_starts[inside] + (offset * 27 * 86400 * US_PER_SECOND).astype(np.int64),
        month_starts[0] + ((join_month + offset) * month_us).astype(np.int64),
    )
    join_date = (join_date // US_PER_SECOND) * US_PER_SECOND

    digital = _sigmoid(2.2 - 0.065 * (age0 - 18) + 0.3 * (2 - city_tier) + rng.normal(0, 0.8, n))
    risk_tolerance = np.clip(
        np.round(3 + 0.5 * (income_band - 3) - 0.03 * (age0 - 45) + rng.normal(0, 0.9, n)), 1, 5
    ).astype(np.int8)
    consent = rng.random(n) < 0.72 - 0.002 * (age0 - 45)
    channel_logits = np.stack(
        [
            0.5 + 2.0 * (1 - digital),  # branch
            3.0 * digital,  # mobile
            0.2 + 0.8 * (age0 > 60),  # phone
            0.6 * np.ones(n),  # sms_email
        ],
        1,
    )
    channel_p = np.exp(channel_logits) / np.exp(channel_logits).sum(1, keepdims=True)
    channel = (rng.random(n)[:, None] > np.cumsum(channel_p, 1)[:, :-1]).sum(1).astype(np.int8)

    frailty = rng.lognormal(-0.125, 0.5, n)
    rate_sensitivity = _sigmoid(
        -0.8 + 0.4 * (income_band - 3) + 0.35 * (risk_tolerance - 3) + rng.normal(0, 1, n)
    )
    fee_sensitivity = _sigmoid(0.6 - 0.5 * (income_band - 3) + rng.normal(0, 1, n))
    complaint_propensity = rng.lognormal(-0.2, 0.6, n)
    offer_affinity = rng.normal(0, 0.6, n)
    savings_propensity = np.clip(rng.beta(2, 14, n) * (0.7 + 0.15 * income_band), 0, 0.5)
    spend_ratio = rng.beta(2, 8, n) * 1.2
    activity = rng.lognormal(np.log(16), 0.5, n)
    fx_need = (rng.random(n) < 0.08).astype(float)

    weights = np.stack(
        [
            0.9 * (0.6 + rate_sensitivity + fee_sensitivity),  # persuadable
            1.3 * (1.6 - frailty.clip(0, 1.5) / 1.5),  # sure thing
            0.55 * frailty.clip(0.2, 3),  # lost cause
            # sleeping dog: inert, long-standing customers who rarely deal with the bank, whom
            # a contact wakes (Ascarza, Iyengar and Schleicher 2016)
            0.4 * (1.5 - digital) * (1 + 2 * (join_month < -60)),
        ],
        1,
    )
    cum = np.cumsum(weights / weights.sum(1, keepdims=True), 1)
    response_type = (rng.random(n)[:, None] > cum[:, :-1]).sum(1).astype(np.int8)

    return Population(
        customer_id=pseudonymous_ids(index),
        gender=gender,
        birth_year=birth_year,
        birth_month=birth_month,
        region=region,
        branch_id=branch_id.astype(np.int32),
        city_tier=city_tier,
        income_band=income_band,
        occupation=occupation,
        join_month=join_month,
        join_date=join_date.astype(np.int64),
        risk_tolerance=risk_tolerance,
        consent=consent,
        channel=channel,
        digital=digital.astype(np.float32),
        income=income,
        salaried=salaried,
        frailty=frailty,
        rate_sensitivity=rate_sensitivity,
        fee_sensitivity=fee_sensitivity,
        complaint_propensity=complaint_propensity,
        offer_affinity=offer_affinity,
        savings_propensity=savings_propensity,
        spend_ratio=spend_ratio,
        activity=activity,
        fx_need=fx_need,
        response_type=response_type,
    )
