"""``retain demo --months N``: a simulated bank lived month by month with ``retain cycle``, a
drift scenario switched on midway; shows the monitor catching it, the retrained model going
through the gate, and, once the replayed months' outcomes are in, the realised AUC of the old
champion and of the one in place at the end on the months from the drift on.
"""

from __future__ import annotations

import math
import time

import pandas as pd
from rich.console import Console
from rich.rule import Rule
from rich.table import Table

from retain.cli import features, models
from retain.cli.common import console
from retain.core.errors import NotReadyError, RetainError
from retain.core.settings import Settings

HISTORY = 24
"""Months of history before the replay: the champion's training window must reach past the
simulated bank's first year (its burn-in and the features' lookback), which the monitor leaves
out of the reference."""
HORIZON = 3
"""Months the world runs past the replay, so the replayed months' 90-day outcomes are known."""


def replay(settings: Settings, customers: int, seed: int, months: int, scenario: str) -> None:
    """Simulate, train and promote a champion, then run ``months`` cycles with ``scenario``
    starting in the replay's middle month; finish with the realised AUC before and after."""
    from monitoring.cycle import CycleExit
    from monitoring.realised import realised_by_month
    from retain.cli.cycle import Plan, run_month
    from simulator import Drift, WorldConfig
    from simulator.replay import create_world, reveal

    start = pd.Period("2023-01", freq="M")
    last_seen = start + (HISTORY - 1)
    drift_at = last_seen + months // 2 + 1
    config = WorldConfig(
        customers=customers,
        months=HISTORY + months + HORIZON,
        start=str(start),
        seed=seed,
        drift=(Drift(scenario, str(drift_at)),),
    )
    began = time.perf_counter()
    console.print(Rule(f"[bold]a bank of {customers:,} customers, {start}..{last_seen}"))
    with console.status(f"simulating its life to {config.last_month} ({scenario}@{drift_at})"):
        create_world(settings, config, str(last_seen))
    features.build()
    features.apply()
    features.materialize()
    models.train("churn", seed=seed)
    _first_champion()
    first = _champion(settings)
    plan = Plan(None, (), 1, seed, True)
    outcomes: list[tuple[str, str, str]] = []
    for i in range(months):
        month = last_seen + i + 1
        on = " (drift on)" if month >= drift_at else ""
        console.print(Rule(f"[bold]month {i + 1} of {months}: {month}{on}"))
        result = run_month(settings, plan)
        moved = [a["subject"] for a in result.triage.retrain if a["kind"] == "feature drift"]
        what = {None: "no retraining", True: "promoted", False: "refused by the gate"}
        if result.exit == CycleExit.DATA_ALERT:
            what[None] = "data alert: held"
        shown = ", ".join(moved[:5]) + (f" +{len(moved) - 5}" if len(moved) > 5 else "")
        outcomes.append((str(month), f"{int(result.exit)}: {what[result.promoted]}", shown or "-"))
        if result.exit == CycleExit.DATA_ALERT:
            console.print("[yellow]data alert: the replay goes on regardless[/yellow]")
    end = _champion(settings)
    console.print(Rule(f"[bold]{HORIZON} months later: the replayed months' outcomes are in"))
    reveal(settings, config.last_month)
    features.build()
    after = [drift_at + k for k in range(int((last_seen + months - drift_at).n) + 1)]
    versions = {f"v{first} (first champion)": first}
    if end != first:
        versions[f"v{end} (champion at the end)"] = end
    table = realised_by_month(settings, versions, after)
    out = Console()
    summary = Table(title=f"the cycles, {scenario} from {drift_at}")
    for column in ("month", "exit: outcome", "features alerting (most severe first)"):
        summary.add_column(column)
    for row in outcomes:
        summary.add_row(*row)
    out.print(summary)
    auc = Table(title=f"realised ROC AUC from {drift_at} on (labelled rows)")
    for column in table.columns:
        auc.add_column(str(column), justify="left" if column == "month" else "right")
    for r in table.to_dict("records"):
        auc.add_row(*(_cell(v) for v in r.values()))
    out.print(auc)
    console.print(f"demo finished in {time.perf_counter() - began:,.0f}s")


def _first_champion() -> None:
    """Promote the first model; the replay needs one to watch."""
    from training.promote import PromotionRefused

    try:
        models.promote("churn")
    except PromotionRefused as e:
        raise RetainError(
            f"the replay needs a churn champion and the first model did not pass the gate ({e}); "
            "a bigger bank gives the model more to learn from: --customers 5000"
        ) from e


def _champion(settings: Settings) -> str:
    from training.config import MODEL_NAMES
    from training.registry import CHAMPION, version_by_alias

    found = version_by_alias(settings, MODEL_NAMES["churn"], CHAMPION)
    if found is None:
        raise NotReadyError("the replay lost its churn champion")
    return str(found.version)


def _cell(v: object) -> str:
    if isinstance(v, float):
        return "n/a" if math.isnan(v) else f"{v:.3f}"
    return f"{v:,}" if isinstance(v, int) else str(v)
