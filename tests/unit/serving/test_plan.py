"""The campaign plan's core: the multiple-choice knapsack, exact and Lagrangian, the return curve,
the break-even budget and the riskiest-first baseline."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from retain.core.errors import DataError
from serving.plan import (
    EXACT_MAX,
    Dual,
    break_even,
    curve_budgets,
    greedy,
    greedy_by_score,
    plan_table,
    problem,
    return_curve,
    riskiest_first,
    solve,
    solve_exact,
    solve_lagrangian,
)

CHANNELS = ("phone", "branch", "mobile", "sms_email")
COSTS = (8.0, 12.0, 30.0, 45.0, 60.0, 80.0)


def candidates(customers: int, per: int, seed: int, worthless: float = 0.2) -> pd.DataFrame:
    """Random candidates: ``per`` per customer, some worth nothing (EV <= 0 or unknown)."""
    rng = np.random.default_rng(seed)
    n = customers * per
    cost = rng.choice(COSTS, n)
    value = rng.lognormal(3.0, 0.9, n) - cost
    value[rng.random(n) < worthless] = -1.0
    value[rng.random(n) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "customer_key": np.repeat(rng.permutation(customers) * 7 + 100, per),
            "action": rng.choice(["a", "b", "c"], n),
            "kind": rng.choice(["retention", "cross_sell"], n),
            "channel": rng.choice(CHANNELS, n),
            "expected_value": value,
            "cost": cost,
            "churn_probability": np.repeat(rng.random(customers), per),
            "value": 500.0,
        }
    )


def brute_force(table: pd.DataFrame, budget: float, capacity: dict[str, int]) -> float:
    """The best plan by trying every choice (one candidate or none per customer)."""
    groups = [g.index.tolist() for _, g in table.groupby("customer_key")]
    best = 0.0
    for pick in itertools.product(*[[None, *g] for g in groups]):
        rows = [r for r in pick if r is not None]
        chosen = table.loc[rows]
        if chosen["cost"].sum() > budget + 1e-9:
            continue
        if any((chosen["channel"] == c).sum() > n for c, n in capacity.items()):
            continue
        v = chosen["expected_value"].fillna(-np.inf).clip(upper=None).to_numpy()
        best = max(best, float(np.where(np.isfinite(v), v, -1e18).sum()))
    return best


def check_feasible(table: pd.DataFrame, chosen: np.ndarray, budget: float, capacity) -> None:
    picked = table.iloc[chosen]
    assert picked["customer_key"].is_unique, "more than one action for a customer"
    assert picked["cost"].sum() <= budget + 1e-6
    for channel, n in capacity.items():
        assert (picked["channel"] == channel).sum() <= n
    assert (picked["expected_value"] > 0).all()


@pytest.mark.parametrize("seed", range(8))
def test_exact_equals_brute_force_and_the_lagrangian_stays_within_its_gap(seed):
    """On tiny cases the integer program finds the best plan, and the Lagrangian plan is no
    further below it than the gap it reports against its (valid) LP bound."""
    rng = np.random.default_rng(100 + seed)
    table = candidates(customers=5, per=3, seed=seed)
    capacity = {"phone": int(rng.integers(0, 3)), "branch": int(rng.integers(0, 3))}
    budget = float(rng.uniform(20, 150))
    best = brute_force(table, budget, capacity)
    p = problem(table, capacity)
    exact = solve_exact(p, budget)
    assert exact.value == pytest.approx(best, abs=1e-6)
    check_feasible(table, exact.chosen, budget, capacity)
    lagr = solve_lagrangian(p, budget)
    check_feasible(table, lagr.chosen, budget, capacity)
    assert lagr.value <= best + 1e-6
    assert lagr.bound >= best - 1e-6
    assert best - lagr.value <= lagr.gap * lagr.bound + 1e-6


@pytest.mark.parametrize("method", ["exact", "lagrangian"])
def test_a_plan_respects_budget_capacities_and_one_action_per_customer(method):
    table = candidates(customers=600, per=4, seed=3)
    capacity = {"phone": 40, "branch": 15, "mobile": 100}
    s = solve(problem(table, capacity), 6000.0, method)
    check_feasible(table, s.chosen, 6000.0, capacity)
    assert s.method == method
    assert s.value == pytest.approx(table["expected_value"].iloc[s.chosen].sum())
    assert s.cost == pytest.approx(table["cost"].iloc[s.chosen].sum())
    assert s.contacts == {c: int((table["channel"].iloc[s.chosen] == c).sum()) for c in capacity}
    assert 0 <= s.gap < 0.01


def test_the_lagrangian_bound_is_the_lp_relaxation_and_close_to_the_exact_plan():
    """Minimising L over the prices reaches the LP relaxation's optimum (linprog on the same
    problem); the exact plan lies between the Lagrangian plan and that bound."""
    from scipy.optimize import linprog
    from scipy.sparse import coo_array, vstack

    table = candidates(customers=400, per=3, seed=5)
    capacity = {"phone": 30, "sms_email": 20, "branch": 10}
    budget = 3000.0
    p = problem(table, capacity)
    n = p.size
    customer_rows = coo_array((np.ones(n), (p.customer, np.arange(n)))).tocsr()
    channel_rows = [coo_array((p.channel == k).astype(float)[None, :]).tocsr() for k in range(3)]
    a = vstack([customer_rows, coo_array(p.cost[None, :]).tocsr(), *channel_rows])
    ub = np.r_[np.ones(p.customers), budget, p.capacity]
    lp = linprog(-p.value, A_ub=a, b_ub=ub, bounds=(0, 1), method="highs")
    lagr = solve_lagrangian(p, budget)
    exact = solve_exact(p, budget)
    assert lagr.bound == pytest.approx(-lp.fun, rel=1e-5)
    assert lagr.value <= exact.value + 1e-6 <= lagr.bound + 1e-5
    assert lagr.budget_price is not None and lagr.budget_price > 0


def test_worthless_and_unknown_candidates_are_never_planned():
    table = candidates(customers=50, per=3, seed=9, worthless=0.5)
    p = problem(table, {})
    assert p.size == int((table["expected_value"] > 0).sum())
    s = solve(p, 1e9)
    assert (table["expected_value"].iloc[s.chosen] > 0).all()
    best = table.groupby("customer_key")["expected_value"].max()
    assert s.value == pytest.approx(best[best > 0].sum())


def test_auto_is_exact_up_to_the_limit():
    table = candidates(customers=100, per=2, seed=1)
    assert problem(table, {}).size <= EXACT_MAX
    assert solve(problem(table, {}), 500.0).method == "exact"


@pytest.mark.parametrize("budget", [0.0, -5.0, float("nan"), float("inf")])
def test_a_budget_that_is_not_above_zero_is_refused(budget):
    with pytest.raises(DataError, match="budget"):
        solve(problem(candidates(5, 2, 0), {}), budget)


@pytest.mark.parametrize(
    ("capacity", "match"),
    [({"pigeon": 3}, "unknown channel 'pigeon'"), ({"phone": -1}, "whole number >= 0")],
)
def test_a_bad_capacity_is_refused(capacity, match):
    with pytest.raises(DataError, match=match):
        problem(candidates(5, 2, 0), capacity)
    with pytest.raises(DataError, match=match):
        riskiest_first(candidates(5, 2, 0), 100.0, capacity)


def test_the_greedy_equals_a_plain_loop_over_the_order():
    rng = np.random.default_rng(4)
    n = 3000
    customer = rng.integers(0, 700, n)
    cost = rng.choice(COSTS, n)
    channel = rng.integers(-1, 3, n)
    capacity = np.array([60.0, 25.0, 200.0])
    order = rng.permutation(n)
    budget = 9000.0
    want, served, left, room = [], set(), budget, capacity.copy()
    for j in order:
        if customer[j] in served or cost[j] > left or (channel[j] >= 0 and room[channel[j]] < 1):
            continue
        want.append(j)
        served.add(customer[j])
        left -= cost[j]
        if channel[j] >= 0:
            room[channel[j]] -= 1
    got = greedy(order, customer, cost, channel, budget, capacity)
    assert got.tolist() == want
    score = rng.normal(size=n)
    score[::7] = score[1::7][: len(score[::7])]  # ties
    by_score = greedy_by_score(score, customer, cost, channel, budget, capacity)
    full = greedy(np.argsort(-score, kind="stable"), customer, cost, channel, budget, capacity)
    assert by_score.tolist() == full.tolist()


def test_the_curve_rises_to_the_break_even_budget_then_stays_flat():
    """Beyond the break-even budget nothing more is worth buying: the value stays that of the
    best plan without a budget, and no budget buys more."""
    table = candidates(customers=300, per=3, seed=2)
    capacity = {"phone": 25}
    p = problem(table, capacity)
    dual = Dual(p)
    limit = break_even(p, dual)
    best = table.groupby("customer_key")["expected_value"].max()
    assert limit.value <= best[best > 0].sum() + 1e-6
    curve = return_curve(p, curve_budgets(2000.0, limit.cost), dual, known=[limit])
    assert {2000.0, round(limit.cost, 2)} <= set(curve["budget"])
    assert curve["expected_value"].is_monotonic_increasing
    beyond = curve[curve["budget"] >= limit.cost]
    assert len(beyond) >= 2 and beyond["expected_value"].nunique() == 1
    assert beyond["expected_value"].iloc[0] == pytest.approx(limit.value, rel=1e-3)
    assert (beyond["marginal"].iloc[1:] == 0).all()
    assert curve.loc[curve["budget"] < limit.cost, "marginal"].iloc[1:].gt(0).all()
    assert (curve["lp_bound"] >= curve["expected_value"] - 1e-6).all()


def test_riskiest_first_offers_the_cheapest_retention_action_in_order_of_risk():
    """Riskiest first, the cheapest offer on a channel with room; a customer whose offer no
    longer fits is passed over for a cheaper one further down; cross-sells and expected value
    play no part."""
    table = pd.DataFrame(
        {
            "customer_key": [1, 1, 1, 2, 2, 3, 4, 4],
            "action": ["rm_call", "fee_waiver", "xsell", "rm_call", "fee_waiver", "rate", "a", "b"],
            "kind": ["retention"] * 2 + ["cross_sell"] + ["retention"] * 5,
            "channel": ["phone", "mobile", "mobile", "phone", "mobile", "mobile", "mobile", "sms"],
            "cost": [45.0, 60.0, 1.0, 45.0, 60.0, 80.0, 50.0, 50.0],
            "expected_value": [-5.0, 100.0, 500.0, np.nan, np.nan, 9.0, 1.0, 2.0],
            "churn_probability": [0.9, 0.9, 0.9, 0.8, 0.8, 0.7, 0.1, 0.1],
            "value": 100.0,
        }
    )
    chosen = riskiest_first(table, budget=160.0, capacity={"phone": 1})
    # 1: rm_call on the phone (cheapest); 2: phone full, so fee_waiver; 3: 80 > 55 left;
    # 4: the cheaper of its offers (ties: by action), 50 fits.
    assert table.loc[chosen, "action"].tolist() == ["rm_call", "fee_waiver", "a"]


def test_the_plan_table_lists_the_chosen_the_most_valuable_first():
    table = candidates(customers=30, per=2, seed=6).assign(customer_id=lambda f: f.customer_key)
    s = solve(problem(table, {}), 300.0)
    out = plan_table(table, s.chosen)
    assert len(out) == len(s.chosen)
    assert out["expected_value"].is_monotonic_decreasing
    assert set(out.columns) >= {"customer_id", "action", "channel", "expected_value", "cost"}


def test_an_action_that_may_go_out_uncapped_does_not_use_a_capped_channel():
    """The same offer on the phone and on mobile: the plan sends it by mobile and keeps the
    phone for the offer only the phone can carry."""
    table = pd.DataFrame(
        {
            "customer_key": [1, 1, 2],
            "action": ["fee_waiver", "fee_waiver", "rm_call"],
            "channel": ["phone", "mobile", "phone"],
            "expected_value": [30.0, 30.0, 20.0],
            "cost": [60.0, 60.0, 45.0],
        }
    )
    p = problem(table, {"phone": 1})
    assert p.size == 2
    for method in ("exact", "lagrangian"):
        s = solve(p, 1000.0, method)
        assert sorted(table.loc[s.chosen, "channel"]) == ["mobile", "phone"]
        assert s.value == 50.0


def test_only_capped_rows_with_an_uncapped_twin_are_dropped():
    base = candidates(customers=200, per=3, seed=8)
    twins = base.sample(frac=0.5, random_state=1).assign(channel="sms_email")
    table = pd.concat([base, twins], ignore_index=True)
    capacity = {"phone": 10, "branch": 10, "mobile": 10}
    p = problem(table, capacity)
    worth = table[table["expected_value"] > 0]
    same = ["customer_key", "action", "expected_value", "cost"]
    free = worth[~worth["channel"].isin(list(capacity))][same].drop_duplicates()
    flagged = worth.reset_index().merge(free.assign(twin=True), on=same, how="left")
    dropped = flagged["channel"].isin(list(capacity)) & flagged["twin"].eq(True)
    assert sorted(p.rows.tolist()) == sorted(flagged.loc[~dropped, "index"].tolist())
    assert dropped.any()
