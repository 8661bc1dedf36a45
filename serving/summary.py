"""The one-page summary a retention manager opens: risk and value at stake by segment and branch,
and the most common reasons among the customers listed, with charts (matplotlib PNGs embedded as
base64, as the monitoring report does).

``breakdown`` and ``reason_counts`` are pure; ``render_html`` turns them into the page.
"""

from __future__ import annotations

import base64
import html
import io
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

GROUPS: dict[str, str] = {
    "lifecycle_stage": "Lifecycle stage",
    "behaviour_segment": "Behavioural segment",
    "value_tier": "Value tier",
    "branch_id": "Branch",
}
TOP_BRANCHES = 15


def breakdown(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    """Customers, mean P(churn), customers in the high band, value and value at stake per group,
    the most value at stake first."""
    grouped = frame.groupby(frame[by].astype("string").fillna("unknown"), sort=False)
    out = pd.DataFrame(
        {
            "customers": grouped.size(),
            "mean P(churn)": grouped["churn_probability"].mean(),
            "high risk": grouped["risk_band"].apply(lambda b: int((b == "high").sum())),
            "value": grouped["value"].sum(),
            "value at stake": grouped["value_at_stake"].sum(),
        }
    )
    out.index.name = GROUPS.get(by, by)
    return out.sort_values("value at stake", ascending=False)


def reason_counts(reasons: Iterable[Iterable[str]], top: int = 10) -> pd.Series:
    """How many listed customers have each reason, by the reason's kind: the sentence with its
    numbers taken out, so "Total balance down 74% over 3 months" and "... 52% ..." count as one."""
    import re

    kinds = Counter(
        re.sub(r"-?[\d][\d,.]*%?", "#", text) for texts in reasons for text in set(texts)
    )
    return pd.Series(dict(kinds.most_common(top)), name="customers", dtype="int64")


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _bar(series: pd.Series, title: str, xlabel: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 0.35 * len(series) + 1))
    ax.barh([str(i) for i in series.index][::-1], series.to_numpy()[::-1], color="#1565c0")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    return _png(fig)


def _table(frame: pd.DataFrame) -> str:
    formatted = frame.copy()
    for column in formatted.columns:
        if column == "mean P(churn)":
            formatted[column] = formatted[column].map(lambda v: f"{v:.1%}")
        elif formatted[column].dtype.kind == "f":
            formatted[column] = formatted[column].map(lambda v: f"{v:,.0f}")
    return formatted.to_html(border=0, classes="t")


@dataclass(frozen=True)
class PlanSection:
    """A campaign plan (``retain plan``) as the page shows it.

    ``compared``: one row per plan (retain's, the riskiest-first baseline) with ``contacts``,
    ``spent``, ``expected_value`` and, on a simulated bank, ``true_value``; ``curve_png``: the
    return curve, base64.
    """

    budget: float
    break_even: float
    method: str
    gap: float
    compared: pd.DataFrame
    by_action: pd.Series
    curve_png: str
    notes: tuple[str, ...] = ()


def _plan_html(plan: PlanSection) -> str:
    e = html.escape
    notes = "".join(f"<p><em>{e(n)}</em></p>" for n in plan.notes)
    actions = plan.by_action.rename("contacts").to_frame()
    return (
        f"<h2>The campaign plan</h2><p>Budget {plan.budget:,.0f}; solved {e(plan.method)}, "
        f"at most {plan.gap:.2%} below the best plan. Beyond a budget of "
        f"{plan.break_even:,.0f} another contact loses money (its expected value, net of cost, "
        f"is below 0).</p>{notes}"
        + _table(plan.compared)
        + f"<img src='data:image/png;base64,{plan.curve_png}'>"
        + _table(actions)
    )


def render_html(
    frame: pd.DataFrame,
    run: Mapping[str, Any],
    reasons: pd.Series,
    listed: int,
    filters: str,
    plan: PlanSection | None = None,
) -> str:
    """The page for the scored customers that pass the filters (``frame``); ``reasons``: counts
    among the ``listed`` customers explained; ``plan``: a campaign plan, shown first."""
    tables = {by: breakdown(frame, by) for by in GROUPS}
    branches = tables["branch_id"].head(TOP_BRANCHES)
    images = {
        by: _bar(tables[by]["value at stake"], f"Value at stake by {GROUPS[by].lower()}", "")
        for by in ("lifecycle_stage", "behaviour_segment", "value_tier")
    }
    images["branch_id"] = _bar(
        branches["value at stake"], f"Value at stake: the {len(branches)} top branches", ""
    )
    if len(reasons):
        images["reasons"] = _bar(reasons, f"Most common reasons among the {listed} listed", "")
    e = html.escape
    total = frame["value_at_stake"].sum()
    sections = "".join(
        f"<h2>{e(GROUPS[by])}</h2><img src='data:image/png;base64,{images[by]}'>"
        + _table(branches if by == "branch_id" else tables[by])
        for by in GROUPS
    )
    reasons_html = (
        f"<h2>Why they are at risk</h2><img src='data:image/png;base64,{images['reasons']}'>"
        if "reasons" in images
        else ""
    )
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>retain: at-risk summary {e(str(run.get("as_of")))}</title>
<style>body{{font-family:sans-serif;max-width:980px;margin:2em auto;color:#222}}
table.t{{border-collapse:collapse;margin:0.5em 0 1.5em}}
table.t td,table.t th{{padding:2px 10px;text-align:right;border-bottom:1px solid #ddd}}</style>
</head><body>
<h1>At-risk customers, scores as of {e(str(run.get("as_of")))}</h1>
<p>{len(frame):,} customers{e(filters)}; value at stake {total:,.0f}
(P(churn within 90 days) x value); {int((frame["risk_band"] == "high").sum()):,} in the high
risk band. Model {e(str(run.get("model_name")))} v{e(str(run.get("model_version")))}.</p>
{"" if plan is None else _plan_html(plan)}{reasons_html}{sections}
</body></html>
"""
