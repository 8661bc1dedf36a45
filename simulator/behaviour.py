"""The monthly step: how a chunk of customers behaves during one month, as plain array maths.

``step`` takes the state at the end of month t-1 and returns it at the end of month t. Order within
the month: life events, the latent stage, salary, products (opened for needs and accepted offers,
closed for reasons: payoff, maturity, money drained, drifting away), balances, then the month's
flows, activity, complaints, surveys and fees. Churn is drawn outside, so the path of a customer
does not depend on whether they left (the simulator keeps following leavers without writing them:
that keeps the ground truth exact).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from retain.core.tables import LIFE_EVENTS, PRODUCTS
from simulator.adoption import BOOST_DECAY, EVENT_BOOST_MATRIX, needs
from simulator.hazard import next_stage, rate_pressure
from simulator.market import Market
from simulator.population import Population
from simulator.state import ENGAGED, LEAVING, LOAN_COLUMNS, P, State

E = {name: i for i, name in enumerate(LIFE_EVENTS)}
STAGE_ACTIVITY = np.array([1.0, 0.6, 0.25])
"""Activity (transactions, logins, card spend) by latent stage."""
STAGE_CURRENT = np.array([1.0, 0.6, 0.3])
"""Current account balance by latent stage, relative to an engaged customer's."""
SALARY_MOVES_WHEN_DRIFTING = 0.35
LOAN_TERMS = np.array([48, 300, 60])
LOAN_RATES = np.array([8.0, 4.0, 6.0])  # % a year
LOAN_SIZE = np.array([[2.0, 8.0], [40.0, 120.0], [5.0, 15.0]])  # times monthly income
TD_TERMS = np.array([6, 12, 24])


@dataclass(frozen=True)
class Month:
    """The calendar and market of one month."""

    t: int
    year_month: int  # year * 12 + month - 1
    start: int  # first instant, microseconds
    end: int  # last second, microseconds
    bank_rate: float
    rate_gap: float
    fee_level: float
    mobile_shift: float
    fund_return: float

    @classmethod
    def of(cls, t: int, first_year_month: int, starts: np.ndarray, ends: np.ndarray, m: Market):
        return cls(
            t=t,
            year_month=first_year_month + t,
            start=int(starts[t]),
            end=int(ends[t]),
            bank_rate=float(m.bank_rate[t]),
            rate_gap=float(m.rate_gap[t]),
            fee_level=float(m.fee_level[t]),
            mobile_shift=float(m.mobile_shift[t]),
            fund_return=float(m.fund_return[t]),
        )


def age_at(profile: Population, year_month: int) -> np.ndarray:
    born = profile.birth_year.astype(np.int64) * 12 + profile.birth_month
    return ((year_month - born) // 12).astype(np.int16)


def life_event_probs(s: State, profile: Population) -> np.ndarray:
    """Monthly chance of each life event, [n, len(LIFE_EVENTS)]."""
    age = s.age
    out = np.zeros((len(age), len(LIFE_EVENTS)))
    out[:, E["new_job"]] = 0.008 * (age < 60) * ~s.retired
    out[:, E["marriage"]] = 0.006 * ((age >= 25) & (age <= 40)) * ~s.married
    out[:, E["child"]] = 0.007 * s.married * ((age >= 25) & (age <= 44))
    out[:, E["home_purchase"]] = 0.004 * ((age >= 28) & (age <= 55)) * (profile.income_band >= 2)
    out[:, E["retirement"]] = 0.03 * (age >= 60) * ~s.retired
    return out


def _pick(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One category per row with the given probabilities (rows sum to <= 1), -1 for none."""
    u = rng.random(len(probs))[:, None]
    hit = u < np.cumsum(probs, 1)
    return np.where(hit.any(1), hit.argmax(1), -1).astype(np.int8)


def initial_state(
    rng: np.random.Generator, profile: Population, first_year_month: int, start_us: int
) -> State:
    """The chunk as of the end of the month before the first one, built from tenure and needs."""
    n = len(profile)
    age = age_at(profile, first_year_month - 1)
    tenure = np.maximum(-profile.join_month, 0)
    pre = profile.join_month <= 0
    stage = np.where(pre, _pick(rng, np.tile([0.035, 0.02], (n, 1))) + 1, ENGAGED).astype(np.int8)
    married = (age > 27) & (rng.random(n) < 0.55)
    children = np.where(married & (age < 56), rng.poisson(1.2, n), 0).astype(np.int8)
    retired = profile.occupation == 4
    dummy = np.zeros(n)
    base = State(
        age=age,
        stage=stage,
        income=profile.income.copy(),
        salaried=profile.salaried.copy(),
        salary_here=profile.salaried & (rng.random(n) < np.where(pre, 0.8, 0.6)),
        married=married,
        children=children,
        retired=retired,
        has=np.zeros((n, len(PRODUCTS)), bool),
        boost=np.zeros((n, len(PRODUCTS))),
        bal_current=dummy,
        bal_savings=dummy,
        bal_time_deposit=dummy,
        td_maturity=np.zeros(n, np.int32),
        bal_wealth=dummy,
        loans=np.zeros((n, 3)),
        loan_months_left=np.zeros((n, 3), np.int32),
        inflow=dummy,
        outflow=dummy,
        salary_amount=dummy,
        card_spend=dummy,
        tx=np.zeros((n, 4), np.int64),
        app_logins=np.zeros(n, np.int64),
        last_login=np.full(n, -1, np.int64),
        complaints_new=np.zeros(n, np.int64),
        complaints_open=np.zeros(n, np.int64),
        tickets_new=np.zeros(n, np.int64),
        tickets_open=np.zeros(n, np.int64),
        satisfaction=np.full(n, np.nan),
        fees=dummy,
        fee_ref=dummy,
        deposits_ref=dummy,
        life_event=np.full(n, -1, np.int8),
    )
    need = needs(base, profile)
    seasoning = 1 - np.exp(-(tenure + 3) / 30)
    penetration = np.array([3.0, 0.2, -1.2, 0.3, -1.0, -0.4, -1.5, -1.3, -0.6, -1.0, -2.5, -2.2])
    p_hold = seasoning[:, None] / (1 + np.exp(-(penetration + 5 * (need - 0.4))))
    p_hold[:, P["current_account"]] = 0.95
    has = rng.random((n, len(PRODUCTS))) < p_hold
    has[:, P["mortgage"]] &= (profile.income_band >= 2) & (age < 70)
    has[:, P["green_deposit"]] &= has[:, P["savings"]]
    has[:, P["current_account"]] |= ~has.any(1)  # a customer holds something
    inc = profile.income
    u = lambda lo, hi: rng.uniform(lo, hi, n)  # noqa: E731
    bal_current = np.where(has[:, P["current_account"]], inc * u(0.3, 1.5), 0.0)
    bal_savings = np.where(
        has[:, P["savings"]],
        inc * (u(0.5, 4) + profile.savings_propensity * np.minimum(tenure, 120)),
        0.0,
    )
    bal_td = np.where(has[:, P["time_deposit"]], inc * u(2, 12), 0.0)
    bal_wealth = np.where(has[:, P["wealth_funds"]], inc * u(3, 20), 0.0)
    left = np.ceil(rng.random((n, 3)) * LOAN_TERMS).astype(np.int32)
    size = inc[:, None] * rng.uniform(LOAN_SIZE[:, 0], LOAN_SIZE[:, 1], (n, 3))
    loans = np.where(has[:, LOAN_COLUMNS], size * left / LOAN_TERMS, 0.0)
    fees = 6.0 * has[:, P["current_account"]] + 3.0 * has[:, P["credit_card"]]
    deposits = bal_current + bal_savings + bal_td + bal_wealth
    d = profile.digital
    logins = rng.poisson(14 * d)
    last_login = np.where(
        logins > 0, start_us - (rng.exponential(6, n) * 86400e6).astype(np.int64), -1
    )
    return State(
        **{
            **base.__dict__,
            "has": has,
            "bal_current": bal_current,
            "bal_savings": bal_savings,
            "bal_time_deposit": bal_td,
            "td_maturity": rng.integers(0, 24, n).astype(np.int32),
            "bal_wealth": bal_wealth,
            "loans": loans,
            "loan_months_left": np.where(has[:, LOAN_COLUMNS], left, 0).astype(np.int32),
            "tx": rng.poisson(profile.activity[:, None] * [[0.3, 0.3, 0.3, 0.1]]),
            "app_logins": logins,
            "last_login": last_login.astype(np.int64),
            "complaints_open": (rng.random(n) < 0.02).astype(np.int64),
            "tickets_open": (rng.random(n) < 0.03).astype(np.int64),
            "fees": fees,
            "fee_ref": fees,
            "deposits_ref": deposits,
        }
    )


def step(
    s: State,
    profile: Population,
    month: Month,
    rng: np.random.Generator,
    adoption: np.ndarray,
    opened_by_offer: np.ndarray,
) -> State:
    """The state at the end of ``month`` from the state ``s`` at the end of the month before.

    Args:
        s: state at the end of the previous month.
        profile: the customers.
        month: calendar and market of the month simulated.
        rng: the chunk's generator.
        adoption: organic chance of opening each product this month (``adoption.adoption_probs``
            of ``s``), [n, len(PRODUCTS)].
        opened_by_offer: products opened this month by an accepted cross-sell offer.
    """
    n = len(s.age)
    t = month.t
    r = lambda: rng.random(n)  # noqa: E731
    new_join = profile.join_month == t

    # Life events and the latent stage.
    event = _pick(rng, life_event_probs(s, profile))
    is_event = {name: event == i for name, i in E.items()}
    stage = np.where(new_join, ENGAGED, next_stage(s, profile, month.rate_gap, t, r())).astype(
        np.int8
    )
    away = stage != ENGAGED
    married = s.married | is_event["marriage"]
    children = (s.children + is_event["child"]).astype(np.int8)
    retired = s.retired | is_event["retirement"]

    # Salary: drifting customers move it away first; a new job may bring it here or take it away.
    income = s.income * np.where(is_event["new_job"], rng.uniform(1.0, 1.35, n), 1.0)
    income = income * np.where(is_event["retirement"], 0.65, 1.0)
    salaried = s.salaried | is_event["new_job"] | is_event["retirement"]
    u = r()
    here = s.salary_here.copy()
    here &= ~(away & (u < SALARY_MOVES_WHEN_DRIFTING))
    here &= ~(~away & (u < 0.003))
    here |= ~away & salaried & (u > 0.98)
    here = np.where(is_event["new_job"], ~away & (r() < 0.7), here)
    here = np.where(new_join, r() < 0.6, here) & salaried

    boost = s.boost * BOOST_DECAY + np.where(event[:, None] >= 0, EVENT_BOOST_MATRIX[event], 0.0)

    # Products: open for needs and accepted offers.
    has = s.has.copy()
    opened = ((rng.random(adoption.shape) < adoption) | opened_by_offer) & ~has
    has |= opened
    need = needs(s, profile)

    # Balances.
    rp = rate_pressure(s, profile, month.rate_gap)
    salary = np.where(here, income * rng.uniform(0.97, 1.03, n), 0.0)
    target_current = income * np.where(here, 1.0, 0.35) * STAGE_CURRENT[stage]
    bal_current = np.where(
        has[:, P["current_account"]],
        np.maximum(
            5.0,
            np.where(opened[:, P["current_account"]], 1.0, 0.5)
            * target_current
            * rng.lognormal(0, 0.2, n)
            + np.where(opened[:, P["current_account"]], 0.0, 0.5) * s.bal_current,
        ),
        0.0,
    )

    interest = s.bal_savings * month.bank_rate / 1200
    contribution = (
        profile.savings_propensity
        * income
        * np.where(here, 1.0, 0.4)
        * ~away
        * rng.lognormal(0, 0.3, n)
    )
    drain = (
        np.where(away, rng.uniform(0.15, 0.45, n), 0.0)
        + np.minimum(0.5, 0.08 * rp)
        + np.where(is_event["home_purchase"], 0.7, 0.0)
        + np.where(r() < 0.04, rng.uniform(0.05, 0.4, n), 0.0)
    ).clip(0, 1)
    bal_savings = s.bal_savings * (1 - drain) + interest + contribution
    bal_savings = np.where(opened[:, P["savings"]], income * rng.uniform(0.5, 3.0, n), bal_savings)
    bal_savings += np.where(opened[:, P["green_deposit"]], income * rng.uniform(0.5, 2.0, n), 0.0)
    bal_savings = np.where(has[:, P["savings"]] & (bal_savings >= 20), bal_savings, 0.0)

    matures = (s.bal_time_deposit > 0) & (s.td_maturity <= t)
    rollover = r() < np.clip(0.75 - 0.4 * rp - 0.5 * away, 0.05, 0.95)
    broken = (s.bal_time_deposit > 0) & away & (r() < 0.1)
    term = rng.choice(TD_TERMS, n)
    bal_td = np.where(
        matures, s.bal_time_deposit * (1 + month.bank_rate * 12 / 1200), s.bal_time_deposit
    )
    back_to_savings = matures & ~rollover & ~away & has[:, P["savings"]]
    bal_savings = bal_savings + np.where(back_to_savings, bal_td, 0.0)
    bal_td = np.where((matures & ~rollover) | broken, 0.0, bal_td)
    td_maturity = np.where(matures & rollover, t + term, s.td_maturity)
    bal_td = np.where(opened[:, P["time_deposit"]], income * rng.uniform(2, 12, n), bal_td)
    td_maturity = np.where(opened[:, P["time_deposit"]], t + term, td_maturity).astype(np.int32)

    fund_gain = s.bal_wealth * (month.fund_return + rng.normal(0, 0.02, n))
    bal_wealth = (
        s.bal_wealth
        + fund_gain
        + np.where(~away & (profile.risk_tolerance >= 3) & (s.bal_wealth > 0), income * 0.04, 0.0)
    )
    bal_wealth = np.where(away & (r() < 0.25), 0.0, bal_wealth)
    bal_wealth = np.where(opened[:, P["wealth_funds"]], income * rng.uniform(2, 10, n), bal_wealth)
    bal_wealth = np.where(bal_wealth >= 20, bal_wealth, 0.0)

    principal = s.loans / np.maximum(s.loan_months_left, 1)
    loan_payment = (principal + s.loans * LOAN_RATES / 1200).sum(1)
    loans = s.loans - principal
    left = s.loan_months_left - 1
    refinanced = away[:, None] & (rng.random((n, 3)) < [[0.05, 0.01, 0.05]])
    loans = np.where((left <= 0) | (loans < 1) | refinanced, 0.0, loans)
    new_loan = opened[:, LOAN_COLUMNS]
    size = income[:, None] * rng.uniform(LOAN_SIZE[:, 0], LOAN_SIZE[:, 1], (n, 3))
    loans = np.where(new_loan, size, loans)
    left = np.where(new_loan, LOAN_TERMS, np.where(loans > 0, left, 0)).astype(np.int32)

    # Products close for reasons: money gone, paid off, matured, or the customer drifting away.
    has[:, P["savings"]] = bal_savings > 0
    has[:, P["time_deposit"]] = bal_td > 0
    has[:, P["wealth_funds"]] = bal_wealth > 0
    has[:, LOAN_COLUMNS] = loans > 0
    lapse = np.zeros_like(adoption)
    lapse[:, P["credit_card"]] = np.where(away, 0.08, 0.003 * (need[:, P["credit_card"]] < 0.3))
    lapse[:, P["insurance"]] = np.where(away, 0.05, 0.004 * (1 - need[:, P["insurance"]]))
    lapse[:, P["pension"]] = np.where(away, 0.03, 0.0)
    lapse[:, P["fx_remittance"]] = np.where(away, 0.05, 0.03 * (need[:, P["fx_remittance"]] < 0.2))
    lapse[:, P["green_deposit"]] = np.where(away, 0.05, 0.0)
    has &= ~((rng.random(lapse.shape) < lapse) & ~opened)
    has[:, P["green_deposit"]] &= has[:, P["savings"]]

    # The month's activity.
    activity = STAGE_ACTIVITY[stage]
    d = profile.digital.astype(float)
    branch_share = (1 - d) * 0.35
    shares = np.stack(
        [
            branch_share * (1 - month.mobile_shift),
            d + branch_share * month.mobile_shift,
            (1 - d) * 0.5,
            (1 - d) * 0.15,
        ],
        1,
    )
    tx = rng.poisson(profile.activity[:, None] * activity[:, None] * shares)
    digital_now = d + (1 - d) * 0.5 * month.mobile_shift
    app_logins = rng.poisson(14 * digital_now * activity)
    span = month.end - month.start
    latest = month.start + (span * r() ** (1 / np.maximum(app_logins, 1))).astype(np.int64)
    last_login = np.where(app_logins > 0, latest, s.last_login)
    card_spend = np.where(
        has[:, P["credit_card"]],
        income * profile.spend_ratio * activity * rng.lognormal(0, 0.3, n),
        0.0,
    )

    overdraft = r() < 0.03 * np.where(profile.income_band <= 2, 2.0, 1.0) * (1 + away)
    fees = month.fee_level * (
        has[:, P["current_account"]] * np.where(here, 2.0, 6.0)
        + 3.0 * has[:, P["credit_card"]]
        + has[:, P["fx_remittance"]] * rng.uniform(2, 10, n)
        + 25.0 * overdraft
    )
    fee_ref = np.where(new_join, fees, 0.75 * s.fee_ref + 0.25 * s.fees)
    fee_shock = fees > 1.25 * fee_ref + 1.0

    complaints_new = rng.poisson(
        0.025
        * profile.complaint_propensity
        * (1 + 1.5 * fee_shock)
        * (1 + 1.0 * away)
        * (1 + 0.5 * (tx[:, 0] > 0))
    )
    prev_open = np.where(new_join, 0, s.complaints_open)
    complaints_open = rng.binomial(prev_open, 0.45) + rng.binomial(complaints_new, 0.5)
    tickets_new = rng.poisson(0.12 * (1.5 - d))
    tickets_open = rng.binomial(np.where(new_join, 0, s.tickets_open), 0.2) + rng.binomial(
        tickets_new, 0.3
    )
    answered = r() < 0.1 * np.where(stage == LEAVING, 0.5, 1.0)
    score = (
        7.8
        - 2.2 * (complaints_open > 0)
        - 1.2 * fee_shock
        - 1.3 * away
        - 0.8 * (stage == LEAVING)
        - 0.5 * (tickets_open > 0)
        + rng.normal(0, 1.3, n)
    )
    satisfaction = np.where(answered, np.round(score).clip(0, 10) + 0.0, np.nan)

    # Flows: inflow - outflow is the change in deposits, less interest and fund returns.
    net = (
        (bal_current - s.bal_current)
        + (bal_savings - s.bal_savings - interest)
        + (bal_td - s.bal_time_deposit)
        + (bal_wealth - s.bal_wealth - fund_gain)
    )
    other_in = income * (0.15 * rng.lognormal(0, 0.5, n) + 0.3 * (~here & ~away))
    inflow = salary + other_in
    premiums = 40.0 * has[:, P["insurance"]] + 0.05 * income * has[:, P["pension"]]
    least_out = card_spend + fees + loan_payment + premiums
    outflow = inflow - net
    short = np.maximum(least_out - outflow, 0.0)
    inflow, outflow = inflow + short, outflow + short
    deposits_ref = np.where(new_join, 0.0, 0.7 * s.deposits_ref + 0.3 * s.deposits)

    return State(
        age=age_at(profile, month.year_month),
        stage=stage,
        income=income,
        salaried=salaried,
        salary_here=here,
        married=married,
        children=children,
        retired=retired,
        has=has,
        boost=boost,
        bal_current=bal_current,
        bal_savings=bal_savings,
        bal_time_deposit=bal_td,
        td_maturity=td_maturity,
        bal_wealth=bal_wealth,
        loans=loans,
        loan_months_left=left,
        inflow=inflow,
        outflow=outflow,
        salary_amount=salary,
        card_spend=card_spend,
        tx=tx,
        app_logins=app_logins,
        last_login=last_login,
        complaints_new=complaints_new,
        complaints_open=complaints_open,
        tickets_new=tickets_new,
        tickets_open=tickets_open,
        satisfaction=satisfaction,
        fees=fees,
        fee_ref=fee_ref,
        deposits_ref=np.where(
            new_join, bal_current + bal_savings + bal_td + bal_wealth, deposits_ref
        ),
        life_event=event,
    )
