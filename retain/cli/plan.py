"""``retain plan``: the campaign plan within a budget and per-channel capacities, from the latest
scores (``retain score``), beside the riskiest-first baseline, valued on the simulated bank's
ground truth where there is one."""

from __future__ import annotations

import base64
import json
import math
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, cast

import typer

from retain.cli.common import console, load_settings, progress_bar, quiet_mlflow
from retain.core.errors import ConfigError, DataError
from retain.core.tables import CHANNELS

FORMATS = ("csv", "parquet")
METHODS = ("auto", "exact", "lagrangian")


def register(app: typer.Typer) -> None:
    app.command("plan")(plan)


def parse_capacity(text: str | None) -> dict[str, int]:
    """``phone=500,branch=200`` -> ``{"phone": 500, "branch": 200}``.

    Raises:
        ConfigError: a malformed entry, an unknown or repeated channel, or a capacity that is
            not a whole number >= 0.
    """
    out: dict[str, int] = {}
    if text is None:
        return out
    for entry in text.split(","):
        name, sep, number = (s.strip() for s in entry.partition("="))
        if not sep or not name or not number:
            raise ConfigError(
                f"--capacity {text!r}: write CHANNEL=CONTACTS separated by commas, "
                "e.g. phone=500,branch=200"
            )
        if name not in CHANNELS:
            raise ConfigError(
                f"--capacity: unknown channel {name!r}; use one of {', '.join(CHANNELS)}"
            )
        if name in out:
            raise ConfigError(f"--capacity: channel {name!r} given twice")
        try:
            n = int(number)
        except ValueError:
            n = -1
        if n < 0:
            raise ConfigError(f"--capacity {name}={number}: use a whole number of contacts >= 0")
        out[name] = n
    return out


def plan(
    budget: Annotated[
        float, typer.Option(help="What the campaign may spend, in the bank's currency (> 0).")
    ],
    capacity: Annotated[
        str | None,
        typer.Option(
            help="Contacts per channel, e.g. phone=500,branch=200 (a channel not named takes "
            "any number)."
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="The scores' month, YYYY-MM or YYYY-MM-DD (default: latest)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="The plan file (default $RETAIN_HOME/plans/plan-AS_OF.FORMAT); the return "
            "curve (.curve.csv, .curve.png) and the summary (.json) are written beside it."
        ),
    ] = None,
    output_format: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    html: Annotated[
        Path | None,
        typer.Option(help="Also write the one-page summary (risk, value at stake) with the plan."),
    ] = None,
    method: Annotated[
        str,
        typer.Option(help="auto (exact when small), exact (milp) or lagrangian (any size)."),
    ] = "auto",
) -> None:
    """Choose at most one action per customer (a retention offer, a cross-sell, or nothing) for
    the most expected value within the budget and the channels' capacities, under the same
    rules as /recommend; compare it with contacting the riskiest customers first."""
    if not (math.isfinite(budget) and budget > 0):
        raise ConfigError(f"--budget {budget:g}: the budget must be a number above 0")
    capacities = parse_capacity(capacity)
    if output_format not in FORMATS:
        raise ConfigError(f"--format {output_format!r}: use csv or parquet")
    if method not in METHODS:
        raise ConfigError(f"--method {method!r}: use {', '.join(METHODS)}")
    for option, path in (("--out", out), ("--html", html)):
        if path is not None and not path.parent.is_dir():
            raise ConfigError(f"{option} {path}: the folder {path.parent} does not exist")
    day = None
    if as_of is not None:
        from serving.batch import month_end

        day = month_end(as_of).date().isoformat()

    from serving.candidates import scores_table

    settings = load_settings()
    scores = scores_table(settings, day)  # no scores yet: said before anything is loaded
    customers = _rows(scores.parts)
    if customers == 0:
        raise DataError(
            f"the scores at {scores.folder} hold no customer: nothing to plan "
            "(run `retain score` on a month with customers)"
        )
    target = out or settings.home / "plans" / f"plan-{scores.run['as_of']}.{output_format}"

    quiet_mlflow(feast=True)
    result = _make_plan(settings, scores, budget, capacities, method)
    files = _files(target, output_format, html, result, settings, scores, budget)
    target.parent.mkdir(parents=True, exist_ok=True)
    _write_all(files)
    _report(result, capacities, budget, target)


def _rows(parts: tuple[Path, ...]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return sum(pq.ParquetFile(p).metadata.num_rows for p in parts)
    except (pa.ArrowException, OSError) as e:
        raise DataError(f"cannot read the scores: {e}; run `retain score` again") from e


def _make_plan(
    settings: Any, scores: Any, budget: float, capacities: dict[str, int], method: str
) -> dict[str, Any]:
    """Candidates, the plan, its curve and break-even, the baseline, the truth's values."""
    import numpy as np

    from serving import plan as planning
    from serving.actions import ActionCatalogue
    from serving.candidates import build_candidates

    catalogue = ActionCatalogue.load()
    with progress_bar("candidates (customers)") as progress:
        found = build_candidates(
            settings, scores, set(capacities), datetime.now(UTC), catalogue, progress=progress
        )
    table = found.table
    problem = planning.problem(table, capacities)
    dual = planning.Dual(problem)
    console.print(
        f"{problem.size:,} worthwhile candidates of {found.customers:,} customers "
        f"({len(table):,} allowed rows); solving ({method})"
    )
    solution = planning.solve(problem, budget, cast(planning.Method, method), dual)
    limit = planning.break_even(problem, dual, cast(planning.Method, method))
    with progress_bar("return curve (budgets)") as progress:
        curve = planning.return_curve(
            problem,
            planning.curve_budgets(budget, limit.cost),
            dual,
            progress,
            known=[solution, limit],
        )
    baseline = planning.riskiest_first(table, budget, capacities)
    chosen = {"retain": solution.chosen, "riskiest_first": baseline}
    compared = _compare(settings, scores, catalogue, table, chosen)
    by_action = table.iloc[solution.chosen]["action"].value_counts()
    return {
        "table": table,
        "plan": planning.plan_table(table, solution.chosen),
        "solution": solution,
        "limit": limit,
        "curve": curve,
        "compared": compared,
        "by_action": by_action,
        "notes": found.notes,
        "versions": found.versions,
        "customers": found.customers,
        "candidates": problem.size,
        "baseline_rows": np.asarray(baseline),
    }


def _compare(settings: Any, scores: Any, catalogue: Any, table: Any, chosen: dict[str, Any]) -> Any:
    """Both plans' contacts, spend and expected value; their true value on a simulated bank."""
    import numpy as np
    import pandas as pd

    from evaluation.plan import plan_values
    from simulator.truth import ground_truth

    plans = {name: table.iloc[rows] for name, rows in chosen.items()}
    truth = ground_truth(settings)
    if truth is not None:
        return plan_values(plans, truth, scores.as_of, catalogue)
    rows = []
    for name, p in plans.items():
        ev = p["expected_value"].to_numpy(dtype=np.float64, na_value=np.nan)
        rows.append(
            {
                "plan": name,
                "contacts": len(p),
                "spent": float(p["cost"].sum()),
                "expected_value": float(ev.sum()) if np.isfinite(ev).all() else np.nan,
            }
        )
    return pd.DataFrame(rows).set_index("plan")


def _files(
    target: Path,
    output_format: str,
    html: Path | None,
    result: dict[str, Any],
    settings: Any,
    scores: Any,
    budget: float,
) -> dict[Path, bytes]:
    """Every output's bytes, made before any is written."""
    import io

    import matplotlib.pyplot as plt

    from serving.plan import curve_figure

    solution, limit = result["solution"], result["limit"]
    plan = result["plan"]
    if output_format == "parquet":
        buffer = io.BytesIO()
        plan.to_parquet(buffer, index=False)
        plan_bytes = buffer.getvalue()
    else:
        plan_bytes = plan.to_csv(index=False).encode()
    fig = curve_figure(result["curve"], budget, limit.cost)
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=110)
    plt.close(fig)
    stem = target.with_suffix("")
    summary = {
        "as_of": scores.run["as_of"],
        "budget": budget,
        "customers": result["customers"],
        "worthwhile_candidates": result["candidates"],
        "method": solution.method,
        "contacts": len(plan),
        "spent": solution.cost,
        "expected_value": solution.value,
        "bound": solution.bound,
        "gap": solution.gap,
        "seconds": solution.seconds,
        "contacts_by_channel": solution.contacts,
        "break_even_budget": limit.cost,
        "break_even_value": limit.value,
        "compared": _jsonable(result["compared"].to_dict(orient="index")),
        "models": result["versions"],
        "notes": result["notes"],
    }
    files = {
        target: plan_bytes,
        Path(f"{stem}.curve.csv"): result["curve"].to_csv(index=False).encode(),
        Path(f"{stem}.curve.png"): png.getvalue(),
        Path(f"{stem}.json"): json.dumps(summary, indent=2).encode(),
    }
    if html is not None:
        files[html] = _page(result, settings, scores, budget, png.getvalue()).encode()
    return files


def _page(result: dict[str, Any], settings: Any, scores: Any, budget: float, png: bytes) -> str:
    import pandas as pd

    from serving.summary import PlanSection, render_html

    frame = pd.concat([pd.read_parquet(p) for p in scores.parts], ignore_index=True)
    solution = result["solution"]
    section = PlanSection(
        budget=budget,
        break_even=result["limit"].cost,
        method=solution.method,
        gap=solution.gap,
        compared=result["compared"],
        by_action=result["by_action"],
        curve_png=base64.b64encode(png).decode("ascii"),
        notes=tuple(result["notes"]),
    )
    empty = pd.Series(dtype="int64", name="customers")
    return render_html(frame, scores.run, empty, 0, "", plan=section)


def _jsonable(data: Any) -> Any:
    if isinstance(data, dict):
        return {str(k): _jsonable(v) for k, v in data.items()}
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if hasattr(data, "item"):
        return _jsonable(data.item())
    return data


def _write_all(files: dict[Path, bytes]) -> None:
    """Write every file beside its place, then rename them all: a failure leaves none."""
    staged: list[tuple[Path, Path]] = []
    try:
        for path, data in files.items():
            staging = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
            staged.append((staging, path))
            staging.write_bytes(data)
        for staging, path in staged:
            os.replace(staging, path)
    finally:
        for staging, _ in staged:
            staging.unlink(missing_ok=True)


def _report(result: dict[str, Any], capacities: dict[str, int], budget: float, out: Path) -> None:
    s, limit = result["solution"], result["limit"]
    for note in result["notes"]:
        console.print(f"note: {note}")
    channels = ", ".join(f"{c} {s.contacts[c]:,}/{n:,}" for c, n in capacities.items())
    how = "exact (HiGHS)" if s.method == "exact" else "Lagrangian, greedy on the LP relaxation"
    lines: list[str] = [
        f"plan: {len(result['plan']):,} contacts, spent {s.cost:,.0f} of {budget:,.0f}, "
        f"expected value {s.value:,.0f} (net of cost); {how}, at most {s.gap:.3%} below "
        f"the best plan (bound {s.bound:,.0f}) in {s.seconds:.1f} s",
        f"break-even budget: {limit.cost:,.0f} (beyond it another contact loses money; the best "
        f"plan is then worth {limit.value:,.0f})",
    ]
    if channels:
        lines.append(f"contacts used / capacity: {channels}")
    compared = result["compared"]
    for name, row in compared.iterrows():
        ev = row["expected_value"]
        text = f"{name}: {int(row['contacts']):,} contacts, spent {row['spent']:,.0f}, "
        text += "expected value " + ("unknown" if ev != ev else f"{ev:,.0f}")
        if "true_value" in compared.columns:
            text += f", true value {row['true_value']:,.0f}"
        lines.append(text)
    if "true_value" in compared.columns:
        lines.append("true value: on the simulated bank's ground truth, relative to no contact")
    lines.append(f"written: {out} (and .curve.csv, .curve.png, .json beside it)")
    for line in lines:
        typer.echo(line)
