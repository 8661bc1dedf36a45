"""The campaign plan: at most one action per customer, the most expected value within a budget
and per-channel capacities (a multiple-choice knapsack). Pure: arrays and frames in, a plan out.

Each candidate ``j`` is a customer, an action, a channel, its expected value ``v_j`` and its cost
``c_j``. With ``x_j`` in {0, 1}::

    maximise    sum_j v_j x_j
    subject to  sum_{j of customer i} x_j <= 1     every customer: one action or nothing
                sum_j c_j x_j         <= B     the budget
                sum_{j on channel k} x_j <= K_k   every capped channel (contacts)

Expected values are **net of cost** (retention: uplift x value - cost; cross-sell: P(accept) x
value - cost), so doing nothing is worth 0 and a candidate with ``v <= 0`` is never worth taking:
it is dropped before solving.

Two methods (``solve``):

- ``exact``: the integer program with ``scipy.optimize.milp`` (HiGHS branch and cut), up to
  ``EXACT_MAX`` candidates; its gap is HiGHS's own (the best plan against its dual bound).
- ``lagrangian``: the budget and the capacities are priced, ``lam`` per unit of cost and
  ``mu_k`` per contact on channel ``k``::

      L(lam, mu) = sum_i max(0, max_j v_j - lam c_j - mu_k(j)) + lam B + sum_k mu_k K_k

  For every ``lam, mu >= 0``, ``L`` bounds every plan from above; its minimum is the optimum of
  the LP relaxation (each customer's own choice is integral), the **LP bound**. ``L`` is convex
  and piecewise linear in 1 + (capped channels) variables; it is minimised by Kelley's cutting
  planes (one pass over the candidates per point, a tiny LP for the next point; coordinate-wise
  bisection can stall at a kink of a non-smooth function, cutting planes cannot). The plan is the
  greedy on the LP relaxation: candidates in order of ``v - lam c - mu_k`` at the best prices,
  each taken when its customer has nothing yet and it fits the budget and its channel. The gap
  reported is ``(L - plan value) / L``: the plan is at most that far below the best plan.

The **break-even budget** (``break_even``): the spend of the best plan when the budget does not
bind (the capacities still do). Below it, the curve of the best plan's value against the budget
rises: a unit of budget buys more than a unit of gross return (saved value or incremental margin,
before cost). Beyond it, every contact (or upgrade to a dearer action) left would return less
than it costs: its expected value, net of cost, is at most 0, i.e. its marginal gross return per
unit of cost is below 1. So another contact loses money, and the best plan leaves the extra
budget unspent: the curve is flat there.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from retain.core.errors import DataError
from retain.core.progress import Progress, silent
from retain.core.tables import CHANNELS

Method = Literal["auto", "exact", "lagrangian"]

CANDIDATE_COLUMNS: tuple[str, ...] = ("customer_key", "action", "channel", "expected_value", "cost")
"""What a candidates table must hold (one row per customer x action x channel)."""

EXACT_MAX = 5_000
"""``auto`` solves exactly up to this many worthwhile candidates, with the Lagrangian beyond:
``benchmarks.plan`` measured milp at 0.2-0.4 s for 2,000 candidates, 1.1-2.6 s for 5,000 and
24-72 s for 20,000 (a loaded 2-core machine), where the Lagrangian plan was within 1.4e-5 of the
exact one in under a second."""

EXACT_SECONDS = 60.0
"""HiGHS's time limit; a plan it has not proved optimal by then is reported with its gap."""

DUAL_TOLERANCE = 1e-6
"""Kelley stops when the LP bound is known to this relative precision."""

CURVE_TOLERANCE = 1e-4
"""The same for each point of the return curve, whose rows carry their own LP bound."""

DUAL_ITERATIONS = 400


@dataclass(frozen=True)
class Problem:
    """The worthwhile candidates (``v > 0``), sorted by customer, as arrays.

    ``channel`` indexes ``capped`` (-1: a channel without a capacity); ``rows`` are the
    candidates' positions in the caller's table; ``starts`` the first candidate of each customer.
    """

    customer: NDArray[np.int64]
    value: NDArray[np.float64]
    cost: NDArray[np.float64]
    channel: NDArray[np.int64]
    rows: NDArray[np.int64]
    capped: tuple[str, ...]
    capacity: NDArray[np.float64]
    starts: NDArray[np.int64]

    @property
    def size(self) -> int:
        return len(self.value)

    @property
    def customers(self) -> int:
        return len(self.starts)

    def unbounded_budget(self) -> float:
        """A budget no plan can exceed: every customer's dearest candidate."""
        if not self.size:
            return 0.0
        return float(np.maximum.reduceat(self.cost, self.starts).sum())


def check_capacity(capacity: Mapping[str, int]) -> None:
    """Raises DataError: a channel retain does not know, or a negative capacity."""
    for channel, n in capacity.items():
        if channel not in CHANNELS:
            raise DataError(
                f"capacity for unknown channel {channel!r}: use one of {', '.join(CHANNELS)}"
            )
        if not n >= 0:
            raise DataError(f"capacity of {channel} must be a whole number >= 0, not {n}")


def problem(candidates: pd.DataFrame, capacity: Mapping[str, int]) -> Problem:
    """The knapsack of a candidates table (``CANDIDATE_COLUMNS``); channels not in
    ``capacity`` take any number of contacts.

    A customer's action on a capped channel is dropped where the same action, at the same value
    and cost, may go out on an uncapped one (without using a contact of the capacity): no plan
    loses by it, and the plan calls on the phone or the branch only where it must.

    Raises:
        DataError: a column is missing, a cost is negative or not finite, or ``capacity`` is
            wrong (``check_capacity``).
    """
    check_capacity(capacity)
    missing = [c for c in CANDIDATE_COLUMNS if c not in candidates.columns]
    if missing:
        raise DataError(f"the candidates lack the column(s) {missing}")
    cost = candidates["cost"].to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.isfinite(cost).all() or (cost < 0).any():
        raise DataError("every candidate's cost must be a finite number >= 0")
    value = candidates["expected_value"].to_numpy(dtype=np.float64, na_value=np.nan)
    keep = np.flatnonzero(np.isfinite(value) & (value > 0))
    capped = tuple(c for c in CHANNELS if c in capacity)
    lookup = {c: i for i, c in enumerate(capped)}
    channel = np.array(
        [lookup.get(str(c), -1) for c in candidates["channel"].to_numpy()[keep]], dtype=np.int64
    )
    if capped and len(keep):
        keep, channel = _undominated(candidates, keep, channel, value, cost)
    codes, _ = pd.factorize(candidates["customer_key"].to_numpy()[keep], sort=True)
    order = np.argsort(codes, kind="stable")
    rows = keep[order]
    customer = codes[order].astype(np.int64)
    channel = channel[order]
    starts = np.flatnonzero(np.r_[True, customer[1:] != customer[:-1]]) if len(rows) else rows
    return Problem(
        customer=customer,
        value=value[rows],
        cost=cost[rows],
        channel=channel,
        rows=rows.astype(np.int64),
        capped=capped,
        capacity=np.array([float(capacity[c]) for c in capped], dtype=np.float64),
        starts=starts.astype(np.int64),
    )


def _undominated(
    candidates: pd.DataFrame,
    keep: NDArray[np.int64],
    channel: NDArray[np.int64],
    value: NDArray[np.float64],
    cost: NDArray[np.float64],
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """``keep`` and ``channel`` without the capped rows whose customer has the same action, value
    and cost on an uncapped channel (see ``problem``)."""
    customer, _ = pd.factorize(candidates["customer_key"].to_numpy()[keep])
    action, _ = pd.factorize(candidates["action"].to_numpy()[keep])
    v, c = value[keep], cost[keep]
    order = np.lexsort((c, v, action, customer))
    same = np.ones(len(order), dtype=bool)  # as the row before it, in sorted order
    same[0] = False
    for column in (customer, action, v, c):
        sorted_ = column[order]
        same[1:] &= sorted_[1:] == sorted_[:-1]
    group = np.empty(len(order), dtype=np.int64)
    group[order] = np.cumsum(~same) - 1
    free = np.bincount(group, weights=(channel < 0).astype(np.float64)) > 0
    dominated = (channel >= 0) & free[group]
    return keep[~dominated], channel[~dominated]


@dataclass(frozen=True)
class Solution:
    """A plan: ``chosen`` are rows of the caller's candidates table.

    ``bound`` is an upper bound on the best plan's value (HiGHS's dual bound, or the LP bound);
    ``budget_price`` the Lagrangian price of a unit of budget at the LP optimum (the slope of the
    LP's value against the budget; None for the exact method).
    """

    chosen: NDArray[np.int64]
    value: float
    cost: float
    contacts: dict[str, int]
    bound: float
    method: str
    seconds: float
    budget_price: float | None = None
    channel_prices: dict[str, float] = field(default_factory=dict)
    iterations: int = 0

    @property
    def gap(self) -> float:
        """How far below the best plan this one may be, as a share of the bound."""
        if self.bound <= 0:
            return 0.0
        return max(0.0, (self.bound - self.value) / self.bound)


def _contacts(p: Problem, picked: NDArray[np.int64]) -> dict[str, int]:
    counts = np.bincount(p.channel[picked][p.channel[picked] >= 0], minlength=len(p.capped))
    return {c: int(n) for c, n in zip(p.capped, counts, strict=True)}


class _Walk:
    """The state of a greedy walk: customers served, budget and contacts left, rows taken."""

    def __init__(
        self,
        customer: NDArray[np.int64],
        cost: NDArray[np.float64],
        channel: NDArray[np.int64],
        budget: float,
        capacity: NDArray[np.float64],
    ) -> None:
        self.customer, self.cost, self.channel = customer, cost, channel
        self.n_customers = int(customer.max()) + 1 if len(customer) else 0
        self.served = np.zeros(self.n_customers, dtype=bool)
        self.left = float(budget)
        self.room = capacity.astype(np.float64).copy()
        self.eps = 1e-9 * max(1.0, abs(self.left))
        self.taken: list[NDArray[np.int64]] = []

    def possible(self, idx: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Which of ``idx`` could still be taken: customer free, cost and channel fit."""
        ok = ~self.served[self.customer[idx]] & (self.cost[idx] <= self.left + self.eps)
        if len(self.room):
            ch = self.channel[idx]
            ok &= (ch < 0) | (self.room[np.maximum(ch, 0)] >= 1)
        return ok

    def run(self, order: NDArray[np.int64]) -> None:
        idx = np.asarray(order, dtype=np.int64)
        while len(idx):
            idx = idx[self.possible(idx)]
            if not len(idx):
                break
            cust = self.customer[idx]
            first_at = np.full(self.n_customers, len(idx), dtype=np.int64)
            np.minimum.at(first_at, cust, np.arange(len(idx), dtype=np.int64))
            firsts = idx[first_at[cust] == np.arange(len(idx))]
            fits = np.cumsum(self.cost[firsts]) <= self.left + self.eps
            chf = self.channel[firsts]
            for k in range(len(self.room)):
                fits &= np.cumsum(chf == k) <= self.room[k]
            stop = len(firsts) if fits.all() else int(np.argmin(fits))
            accepted = firsts[:stop]
            self.taken.append(accepted)
            self.served[self.customer[accepted]] = True
            self.left -= float(self.cost[accepted].sum())
            if len(self.room):
                self.room -= np.bincount(chf[:stop][chf[:stop] >= 0], minlength=len(self.room))
            if stop < len(firsts):
                idx = idx[idx != firsts[stop]]

    def result(self) -> NDArray[np.int64]:
        return np.concatenate(self.taken) if self.taken else np.zeros(0, dtype=np.int64)


def greedy(
    order: NDArray[np.int64],
    customer: NDArray[np.int64],
    cost: NDArray[np.float64],
    channel: NDArray[np.int64],
    budget: float,
    capacity: NDArray[np.float64],
) -> NDArray[np.int64]:
    """Walk the candidates in ``order``, taking each whose customer has nothing yet and which
    fits the budget left and its channel's contacts left (``channel`` -1: uncapped).

    The same as a loop over ``order``, done in vectorised rounds: each round takes the longest
    prefix of the customers' first candidates that fits, then drops the candidate that did not
    (the budget and contacts left only shrink, so it never fits again). Rounds are few: each
    ends with a budget left below the dropped cost, which removes every candidate as dear.

    Returns:
        The positions taken, in the order taken.
    """
    walk = _Walk(customer, cost, channel, budget, capacity)
    walk.run(order)
    return walk.result()


def greedy_by_score(
    score: NDArray[np.float64],
    customer: NDArray[np.int64],
    cost: NDArray[np.float64],
    channel: NDArray[np.int64],
    budget: float,
    capacity: NDArray[np.float64],
) -> NDArray[np.int64]:
    """``greedy`` in order of ``score``, highest first (ties: by position), sorting lazily: the
    candidates scoring above 0 first, then only those of the rest that could still be taken
    (at the Lagrangian prices, few score above 0 and little budget is left after them)."""
    walk = _Walk(customer, cost, channel, budget, capacity)
    for part in (score > 0, score <= 0):
        idx = np.flatnonzero(part)
        idx = idx[walk.possible(idx)]
        walk.run(idx[np.argsort(-score[idx], kind="stable")])
    return walk.result()


class Dual:
    """``L(lam, mu)`` of one problem and its cutting planes, which hold for every budget: a plan
    curve over many budgets reuses them."""

    def __init__(self, p: Problem) -> None:
        self.p = p
        self.sizes = np.diff(np.r_[p.starts, p.size]).astype(np.int64)
        positive = p.cost > 0
        self.lam_max = float((p.value[positive] / p.cost[positive]).max()) if positive.any() else 0
        self.mu_max = float(p.value.max()) if p.size else 0.0
        # Cuts of phi(y) = sum_i max(0, max_j v_j - lam c_j - mu_k): phi(y) >= a - g . y
        self.a: list[float] = []
        self.g: list[NDArray[np.float64]] = []
        self.evaluations = 0

    def adjusted(self, y: NDArray[np.float64]) -> NDArray[np.float64]:
        p = self.p
        adj = p.value - y[0] * p.cost
        if len(p.capped):
            adj -= np.append(y[1:], 0.0)[p.channel]
        return adj

    def phi(self, y: NDArray[np.float64]) -> float:
        """phi at ``y``; adds its cut (the usage of each customer's best candidate)."""
        p = self.p
        self.evaluations += 1
        if not p.size:
            self.a.append(0.0)
            self.g.append(np.zeros(1 + len(p.capped)))
            return 0.0
        adj = self.adjusted(y)
        best = np.maximum.reduceat(adj, p.starts)
        at = np.flatnonzero(adj >= np.repeat(best, self.sizes))
        first = np.r_[True, p.customer[at[1:]] != p.customer[at[:-1]]]
        at = at[first]
        at = at[best[p.customer[at]] > 0]
        value = float(np.maximum(best, 0.0).sum())
        usage = np.empty(1 + len(p.capped))
        usage[0] = p.cost[at].sum()
        usage[1:] = np.bincount(p.channel[at][p.channel[at] >= 0], minlength=len(p.capped))
        self.a.append(value + float(usage @ y))
        self.g.append(usage)
        return value

    def minimise(
        self, budget: float, tolerance: float = DUAL_TOLERANCE
    ) -> tuple[NDArray[np.float64], float, int]:
        """Kelley's method on ``L``: the best prices found, ``L`` there (the LP bound, to
        ``tolerance``) and the points evaluated. Cuts kept from other budgets start it."""
        p = self.p
        rhs = np.r_[budget, p.capacity]
        bounds = [(0.0, None), (0.0, self.lam_max)] + [(0.0, self.mu_max)] * len(p.capped)
        y = self._master(rhs, bounds)[0] if self.a else np.zeros(1 + len(p.capped))
        best_y, best = y, float("inf")
        for iteration in range(1, DUAL_ITERATIONS + 1):
            value = self.phi(y) + float(rhs @ y)
            if value < best:
                best_y, best = y, value
            y, lower = self._master(rhs, bounds)
            if best - lower <= tolerance * max(abs(best), 1.0):
                return best_y, best, iteration
        return best_y, best, DUAL_ITERATIONS

    def _master(
        self, rhs: NDArray[np.float64], bounds: list[tuple[float, float | None]]
    ) -> tuple[NDArray[np.float64], float]:
        """min t + rhs . y  s.t.  t >= a_i - g_i . y, t >= 0, y in the box: the next point and
        a lower bound on min L."""
        from scipy.optimize import linprog

        g = np.array(self.g)
        res = linprog(
            np.r_[1.0, rhs],
            A_ub=np.hstack([-np.ones((len(g), 1)), -g]),
            b_ub=-np.array(self.a),
            bounds=bounds,
            method="highs",
        )
        if res.status != 0:  # the box bounds it: only a solver failure lands here
            raise RuntimeError(f"the plan's master LP failed: {res.message}")
        return np.asarray(res.x[1:], dtype=np.float64), float(res.fun)


def solve_lagrangian(
    p: Problem, budget: float, dual: Dual | None = None, tolerance: float = DUAL_TOLERANCE
) -> Solution:
    """The greedy plan at the prices that minimise ``L``, with the LP bound."""
    started = time.perf_counter()
    dual = dual or Dual(p)
    before = dual.evaluations
    y, bound, _ = dual.minimise(budget, tolerance)
    picked = greedy_by_score(dual.adjusted(y), p.customer, p.cost, p.channel, budget, p.capacity)
    value = float(p.value[picked].sum())
    return Solution(
        chosen=np.sort(p.rows[picked]),
        value=value,
        cost=float(p.cost[picked].sum()),
        contacts=_contacts(p, picked),
        bound=max(bound, value),
        method="lagrangian",
        seconds=time.perf_counter() - started,
        budget_price=float(y[0]),
        channel_prices={c: float(m) for c, m in zip(p.capped, y[1:], strict=True)},
        iterations=dual.evaluations - before,
    )


def solve_exact(p: Problem, budget: float, time_limit: float = EXACT_SECONDS) -> Solution:
    """The integer program with HiGHS (``scipy.optimize.milp``); the Lagrangian plan when HiGHS
    finds no plan in ``time_limit`` seconds."""
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import coo_array, vstack

    started = time.perf_counter()
    n = p.size
    if n == 0:
        return Solution(
            np.zeros(0, dtype=np.int64), 0.0, 0.0, _contacts(p, p.rows), 0.0, "exact", 0
        )
    sizes = np.diff(np.r_[p.starts, n])
    several = np.flatnonzero(sizes[p.customer] > 1)  # one candidate needs no row: x <= 1
    row_of = np.cumsum(sizes > 1) - 1
    blocks = []
    if len(several):
        rows = row_of[p.customer[several]]
        blocks.append(
            coo_array(
                (np.ones(len(several)), (rows, several)), shape=(int(rows.max()) + 1, n)
            ).tocsr()
        )
    blocks.append(coo_array(p.cost[None, :]).tocsr())
    for k in range(len(p.capped)):
        on = np.flatnonzero(p.channel == k)
        blocks.append(coo_array((np.ones(len(on)), (np.zeros(len(on)), on)), shape=(1, n)).tocsr())
    upper = np.r_[np.ones(blocks[0].shape[0]) if len(several) else [], budget, p.capacity]
    res = milp(
        -p.value,
        integrality=np.ones(n),
        bounds=Bounds(0, 1),
        constraints=[LinearConstraint(vstack(blocks).tocsr(), -np.inf, upper)],
        options={"time_limit": time_limit, "mip_rel_gap": 1e-6, "disp": False},
    )
    if res.x is None:
        return solve_lagrangian(p, budget)
    picked = np.flatnonzero(res.x > 0.5)
    value = float(p.value[picked].sum())
    dual_bound = getattr(res, "mip_dual_bound", None)
    bound = value if dual_bound is None or not np.isfinite(dual_bound) else -float(dual_bound)
    return Solution(
        chosen=np.sort(p.rows[picked]),
        value=value,
        cost=float(p.cost[picked].sum()),
        contacts=_contacts(p, picked),
        bound=max(bound, value),
        method="exact",
        seconds=time.perf_counter() - started,
    )


def solve(p: Problem, budget: float, method: Method = "auto", dual: Dual | None = None) -> Solution:
    """The plan under ``budget``: exactly up to ``EXACT_MAX`` candidates (``auto``), else by
    the Lagrangian with its gap to the LP bound.

    Raises:
        DataError: the budget is not a number above 0.
    """
    if not (np.isfinite(budget) and budget > 0):
        raise DataError(f"the budget must be a number above 0, not {budget}")
    if method == "exact" or (method == "auto" and p.size <= EXACT_MAX):
        return solve_exact(p, budget)
    return solve_lagrangian(p, budget, dual)


def break_even(p: Problem, dual: Dual | None = None, method: Method = "auto") -> Solution:
    """The best plan when the budget does not bind (see the module docstring): its ``cost`` is
    the budget beyond which another contact loses money."""
    return solve(p, max(p.unbounded_budget(), 1.0), method, dual)


def curve_budgets(budget: float, limit: float, points: int = 16) -> NDArray[np.float64]:
    """Budgets from 0 to past both the budget asked for and the break-even ``limit``, with both
    among them."""
    top = 1.15 * max(budget, limit, 1.0)
    grid = np.r_[np.linspace(0.0, top, points), budget, limit]
    return np.unique(np.round(grid[grid >= 0], 2))


def return_curve(
    p: Problem,
    budgets: Sequence[float] | NDArray[np.float64],
    dual: Dual | None = None,
    progress: Progress = silent,
    known: Sequence[Solution] = (),
) -> pd.DataFrame:
    """The plan's expected value as the budget grows, by the Lagrangian (the cutting planes of
    one budget serve the next): one row per budget (ascending) with what is spent, the
    contacts, the LP bound and ``marginal``, the expected value (net of cost) one more unit of
    budget bought between the previous budget and this one: it reaches 0 at the break-even
    budget. A plan for a smaller budget also fits a larger one, so each row is the best plan
    found up to its budget, ``known`` plans (the exact ones) among them: the curve never
    falls."""
    dual = dual or Dual(p)
    rows = []
    best: dict[str, float] = {"expected_value": 0.0, "spent": 0.0, "contacts": 0}
    for i, b in enumerate(sorted(float(x) for x in budgets)):
        progress(i, len(budgets))
        bound = 0.0
        if b > 0:
            s = solve_lagrangian(p, b, dual, CURVE_TOLERANCE)
            bound = s.bound
            for plan in (s, *(k for k in known if k.cost <= b * (1 + 1e-12))):
                if plan.value > best["expected_value"]:
                    best = {
                        "expected_value": plan.value,
                        "spent": plan.cost,
                        "contacts": len(plan.chosen),
                    }
        rows.append({"budget": max(b, 0.0), **best, "lp_bound": bound})
    progress(len(budgets), len(budgets))
    out = pd.DataFrame(rows, columns=["budget", "expected_value", "spent", "contacts", "lp_bound"])
    out["marginal"] = out["expected_value"].diff() / out["budget"].diff()
    return out


def riskiest_first(
    candidates: pd.DataFrame, budget: float, capacity: Mapping[str, int]
) -> NDArray[np.int64]:
    """The baseline campaign: customers by P(churn), riskiest first, each offered the cheapest
    retention action the rules allow on a channel with contacts left (an uncapped channel
    first), while the budget lasts; a customer whose offer no longer fits is passed over.
    Expected value plays no part.

    Args:
        candidates: the candidates table (``serving.candidates.COLUMNS``); its retention rows
            are used, whatever their expected value (known or not).

    Returns:
        The rows of ``candidates`` chosen.
    """
    check_capacity(capacity)
    rows = np.flatnonzero((candidates["kind"] == "retention").to_numpy(dtype=bool))
    if not len(rows):
        return np.zeros(0, dtype=np.int64)
    sub = candidates.iloc[rows]
    capped = tuple(c for c in CHANNELS if c in capacity)
    lookup = {c: i for i, c in enumerate(capped)}
    channel = np.array([lookup.get(str(c), -1) for c in sub["channel"]], dtype=np.int64)
    customer, _ = pd.factorize(sub["customer_key"].to_numpy(), sort=True)
    cost = sub["cost"].to_numpy(dtype=np.float64)
    order = np.lexsort(
        (
            sub["action"].astype(str).to_numpy(),
            channel >= 0,
            cost,
            customer,
            -sub["churn_probability"].to_numpy(dtype=np.float64),
        )
    )
    caps = np.array([float(capacity[c]) for c in capped], dtype=np.float64)
    picked = greedy(order.astype(np.int64), customer.astype(np.int64), cost, channel, budget, caps)
    return np.sort(rows[picked])


PLAN_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "action",
    "kind",
    "channel",
    "expected_value",
    "cost",
    "churn_probability",
    "value",
)
"""The plan as written: who, which action, which channel, what it is expected to return (net of
cost), what it costs; the customer's P(churn) and value beside."""


def plan_table(candidates: pd.DataFrame, chosen: NDArray[np.int64]) -> pd.DataFrame:
    """The chosen rows, the most expected value first."""
    out = candidates.iloc[np.asarray(chosen, dtype=np.int64)]
    out = out.sort_values(["expected_value", "customer_key"], ascending=[False, True])
    return out.reindex(columns=list(PLAN_COLUMNS)).reset_index(drop=True)


def curve_figure(curve: pd.DataFrame, budget: float, limit: float) -> Any:
    """The return curve as a matplotlib figure: the plan's expected value (and its LP bound)
    against the budget, the budget asked for and the break-even budget marked."""
    from training.plots import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.8))
    ax.plot(curve["budget"], curve["expected_value"], marker="o", ms=3, label="plan")
    ax.plot(curve["budget"], curve["lp_bound"], ls=":", color="grey", label="LP bound")
    ax.axvline(budget, color="#1565c0", lw=1, ls="--", label=f"budget {budget:,.0f}")
    ax.axvline(limit, color="#c62828", lw=1, ls="--", label=f"break-even {limit:,.0f}")
    ax.set_xlabel("budget")
    ax.set_ylabel("expected value, net of cost")
    ax.set_title("What the plan returns as the budget grows")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig
