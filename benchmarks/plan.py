"""The campaign plan's figures (``retain plan``'s core, ``serving.plan``), on synthetic candidates:

- 1,000,000 worthwhile candidates (about 3 per customer) under a budget and 3 channel capacities,
  by the Lagrangian: time, iterations, peak memory and the gap to the LP bound; the return curve
  over 18 budgets, reusing the cutting planes;
- the exact integer program (``scipy.optimize.milp``) on the sizes it handles, beside the
  Lagrangian on the same data: both times and the gap between them.

The candidates look like the catalogue's: costs 8..300, expected values (net of cost) skewed,
channels phone, branch and mobile capped, sms_email not. Everything runs in this process.
"""

from __future__ import annotations

import resource
import time

import numpy as np
import pandas as pd

from serving.plan import (
    Dual,
    break_even,
    curve_budgets,
    problem,
    return_curve,
    solve_exact,
    solve_lagrangian,
)

COSTS = np.array([8.0, 10.0, 12.0, 30.0, 35.0, 40.0, 45.0, 50.0, 60.0, 80.0, 100.0, 300.0])
CHANNELS = np.array(["phone", "branch", "mobile", "sms_email"])
EXACT_SIZES = (2_000, 5_000, 20_000)
EXACT_SECONDS = 120.0


def synthetic(candidates: int, seed: int = 7) -> tuple[pd.DataFrame, float, dict[str, int]]:
    """``candidates`` rows, all worth something, with a budget and capacities that bind: the
    budget buys about a third of the customers' best offers, the phone and the branch a few
    percent of the customers."""
    rng = np.random.default_rng(seed)
    customers = max(1, candidates // 3)
    customer = np.sort(rng.integers(0, customers, candidates))
    cost = rng.choice(COSTS, candidates)
    value = rng.lognormal(2.5, 1.2, candidates) * (1 + cost / 50)
    table = pd.DataFrame(
        {
            "customer_key": customer,
            "action": "synthetic",
            "channel": rng.choice(CHANNELS, candidates, p=[0.25, 0.15, 0.35, 0.25]),
            "expected_value": value,
            "cost": cost,
        }
    )
    budget = float(table.groupby("customer_key")["cost"].min().sum() / 3)
    capacity = {"phone": customers // 40, "branch": customers // 80, "mobile": customers // 8}
    return table, budget, capacity


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(candidates: int = 1_000_000) -> list[tuple[str, str]]:
    """The figures as (label, text) rows."""
    rows: list[tuple[str, str]] = []
    started = time.perf_counter()
    table, budget, capacity = synthetic(candidates)
    p = problem(table, capacity)
    caps = ", ".join(f"{c} {n:,}" for c, n in capacity.items())
    rows.append(
        (
            f"{candidates:,} candidates, {p.customers:,} customers",
            f"budget {budget:,.0f}; {caps}; built in {time.perf_counter() - started:.1f} s",
        )
    )
    dual = Dual(p)
    s = solve_lagrangian(p, budget, dual)
    rows.append(
        (
            "Lagrangian plan (Kelley + greedy)",
            f"{s.seconds:.1f} s, {s.iterations} points; value {s.value:,.0f}, "
            f"LP bound {s.bound:,.0f}, gap {s.gap:.2e}; peak {_peak_mib():,.0f} MiB",
        )
    )
    rows.append(
        (
            "  spent / contacts",
            f"{s.cost:,.0f} of {budget:,.0f}; "
            + ", ".join(f"{c} {s.contacts[c]:,}/{n:,}" for c, n in capacity.items()),
        )
    )
    t = time.perf_counter()
    limit = break_even(p, dual, "lagrangian")
    budgets = curve_budgets(budget, limit.cost)
    curve = return_curve(p, budgets, dual, known=[s, limit])
    rows.append(
        (
            f"return curve, {len(budgets)} budgets + break-even",
            f"{time.perf_counter() - t:.1f} s (cuts reused: {dual.evaluations} points in all); "
            f"break-even {limit.cost:,.0f}; worst gap {_worst_gap(curve):.2e}",
        )
    )
    for size in EXACT_SIZES:
        rows.extend(_exact_beside_lagrangian(size))
    return rows


def _worst_gap(curve: pd.DataFrame) -> float:
    positive = curve[curve["lp_bound"] > 0]
    gaps = (positive["lp_bound"] - positive["expected_value"]) / positive["lp_bound"]
    return float(gaps.max()) if len(gaps) else 0.0


def _exact_beside_lagrangian(size: int) -> list[tuple[str, str]]:
    table, budget, capacity = synthetic(size, seed=size)
    p = problem(table, capacity)
    lagr = solve_lagrangian(p, budget)
    exact = solve_exact(p, budget, time_limit=EXACT_SECONDS)
    proved = "optimal" if exact.gap <= 1e-6 else f"stopped at {EXACT_SECONDS:.0f} s"
    between = (exact.value - lagr.value) / exact.value if exact.value else 0.0
    return [
        (
            f"exact milp, {size:,} candidates",
            f"{exact.seconds:.1f} s ({proved}, HiGHS gap {exact.gap:.1e}); "
            f"Lagrangian {lagr.seconds:.2f} s, gap to LP bound {lagr.gap:.1e}",
        ),
        (
            f"  exact - Lagrangian, {size:,}",
            f"{between:.2e} of the exact plan's value ({exact.method})",
        ),
    ]
