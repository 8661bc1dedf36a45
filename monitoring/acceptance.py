"""Offer acceptance as realised (``/feedback``) against what the decision predicted, per action
and per channel, from the decision log.

Each delivered action of a decision carries, in the logged response, the propensity the service
ranked it with (``actions[].propensity``: P(accept) of a cross-sell; null for retention and
service actions, which then have nothing to compare). Feedback says accepted, declined or
ignored. The realised acceptance rate is accepted over answered (ignored counts as an answer, a
no), with a Wilson score interval; the predicted mean is the mean propensity of the same answered
actions. An action whose predicted mean lies outside the interval by more than a margin, on
enough answers, is miscalibrated: its expected value, linear in P(accept), is mispriced.

The log is read-only here: a log that does not exist yet is read as empty, never created.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from monitoring.alerts import alert
from monitoring.config import MonitoringConfig
from retain.core.errors import ConfigError

DELIVERED_COLUMNS = ["decision_id", "at", "channel", "action", "rank", "predicted", "outcome"]
"""One row per delivered action: ``outcome`` the feedback (None: no answer yet), ``predicted``
the logged propensity of an answered action (NaN: none, or not answered: only the responses of
answered decisions are read, as a response with its trace is kilobytes)."""

ALL = "(all)"
"""The ``channel`` of an action's row over every channel."""

ACCEPTANCE_COLUMNS = [
    "action",
    "channel",
    "delivered",
    "answered",
    "answered_share",
    "accepted",
    "declined",
    "ignored",
    "realised",
    "ci_low",
    "ci_high",
    "predicted",
    "gap",
    "status",
]


def read_delivered(
    url: str, project: str, start: datetime | None = None, end: datetime | None = None
) -> pd.DataFrame:
    """The delivered actions of ``project``'s decisions in the log at ``url`` (a SQLAlchemy
    URL), ``start < at <= end`` where given, each with its feedback and, where answered, its
    logged propensity.

    Returns:
        ``DELIVERED_COLUMNS``, ``at`` in UTC. Empty when the log does not exist.

    Raises:
        ConfigError: the database cannot be reached.
    """
    import sqlalchemy as sa

    from serving.decision_log import decisions, feedback

    empty = pd.DataFrame(columns=DELIVERED_COLUMNS)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return empty
    window = decisions.c.project_id == project
    if start is not None:
        window &= decisions.c.at > start
    if end is not None:
        window &= decisions.c.at <= end
    query = sa.select(
        decisions.c.decision_id,
        decisions.c.at,
        decisions.c.channel,
        decisions.c.actions,
    ).where(window, decisions.c.actions != "[]")
    answers = (
        sa.select(
            feedback.c.decision_id, feedback.c.action_id, feedback.c.outcome, decisions.c.record
        )
        .join(
            decisions,
            (decisions.c.project_id == feedback.c.project_id)
            & (decisions.c.decision_id == feedback.c.decision_id),
        )
        .where(feedback.c.project_id == project, window)
    )
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            if not inspector.has_table(decisions.name):
                return empty
            rows = conn.execute(query).all()
            told = conn.execute(answers).all() if inspector.has_table(feedback.name) else []
    except sa.exc.SQLAlchemyError as e:
        raise ConfigError(f"cannot read the decision log at {url}: {e.__class__.__name__}") from e
    finally:
        engine.dispose()
    outcome = {(r.decision_id, r.action_id): r.outcome for r in told}
    propensity = {r.decision_id: _propensities(r.record) for r in told}
    out = []
    for r in rows:
        known = propensity.get(r.decision_id, {})
        for rank, action in enumerate(json.loads(r.actions), start=1):
            p = known.get(action)
            out.append(
                (
                    r.decision_id,
                    r.at,
                    r.channel,
                    action,
                    rank,
                    math.nan if p is None else float(p),
                    outcome.get((r.decision_id, action)),
                )
            )
    frame = pd.DataFrame(out, columns=DELIVERED_COLUMNS)
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    frame["predicted"] = frame["predicted"].astype("float64")
    return frame


def _propensities(record: str) -> dict[str, float | None]:
    """Action id -> the propensity in a logged response (none where it holds no actions)."""
    try:
        actions = json.loads(record).get("actions") or []
    except (ValueError, AttributeError):
        return {}
    return {
        str(a["action_id"]): a.get("propensity")
        for a in actions
        if isinstance(a, dict) and "action_id" in a
    }


def wilson_interval(successes: int, n: int, confidence: float) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (NaN, NaN for no trials). Unlike the
    normal (Wald) interval it stays inside [0, 1] and keeps its coverage near 0 and 1, where
    acceptance rates of a few percent live."""
    from scipy.stats import norm

    if n <= 0:
        return math.nan, math.nan
    z = float(norm.ppf(0.5 + confidence / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def _row(
    action: str, channel: str, group: pd.DataFrame, config: MonitoringConfig
) -> dict[str, object]:
    answered = group[group["outcome"].notna()]
    counts = answered["outcome"].value_counts()
    n, accepted = len(answered), int(counts.get("accepted", 0))
    low, high = wilson_interval(accepted, n, config.acceptance_confidence)
    predicted = float(answered["predicted"].mean()) if answered["predicted"].notna().any() else None
    gap = math.nan
    status = "n/a"  # nothing predicted, or too few answers to say anything
    if predicted is not None and n > 0:
        gap = max(low - predicted, predicted - high, 0.0)
        if n >= config.acceptance_min_answered:
            status = "ok" if gap == 0 else config.level("acceptance_gap", gap)
    return {
        "action": action,
        "channel": channel,
        "delivered": len(group),
        "answered": n,
        "answered_share": n / len(group) if len(group) else math.nan,
        "accepted": accepted,
        "declined": int(counts.get("declined", 0)),
        "ignored": int(counts.get("ignored", 0)),
        "realised": accepted / n if n else math.nan,
        "ci_low": low,
        "ci_high": high,
        "predicted": math.nan if predicted is None else predicted,
        "gap": gap,
        "status": status,
    }


def acceptance_table(delivered: pd.DataFrame, config: MonitoringConfig) -> pd.DataFrame:
    """Per action (``channel`` is ``ALL``), then per action and channel: counts, the realised
    acceptance rate and its interval, the predicted mean and its gap to the interval, judged.

    ``status`` is ``n/a`` where the action carries no prediction or fewer than
    ``acceptance_min_answered`` answers. Actions with most deliveries first.
    """
    rows = []
    for action, group in delivered.groupby("action", sort=False):
        rows.append(_row(str(action), ALL, group, config))
        for channel, part in group.groupby("channel", sort=True):
            rows.append(_row(str(action), str(channel), part, config))
    table = pd.DataFrame(rows, columns=ACCEPTANCE_COLUMNS)
    if table.empty:
        return table
    table["_size"] = table.groupby("action")["delivered"].transform("max")
    table["_channel"] = table["channel"] != ALL
    table = table.sort_values(
        ["_size", "action", "_channel", "channel"], ascending=[False, True, True, True]
    )
    return table.drop(columns=["_size", "_channel"]).reset_index(drop=True)


@dataclass
class Acceptance:
    """Offer acceptance in the current window of decision time.

    Attributes:
        window: ``YYYY-MM..YYYY-MM`` of the decisions read, or "" where none.
        table: ``acceptance_table``.
        note: why nothing is judged (no delivered action, no feedback), else "".
    """

    window: str
    table: pd.DataFrame
    note: str = ""

    def summary(self) -> dict[str, float | int]:
        """The headline figures over every action (also logged to MLflow)."""
        overall = self.table[self.table["channel"] == ALL]
        delivered, answered = int(overall["delivered"].sum()), int(overall["answered"].sum())
        accepted = int(overall["accepted"].sum())
        judged = overall[overall["status"] != "n/a"]
        # The predicted mean over every answered action that carries a prediction.
        weights = overall["answered"].where(overall["predicted"].notna(), 0)
        predicted = (
            float((overall["predicted"].fillna(0) * weights).sum() / weights.sum())
            if weights.sum()
            else math.nan
        )
        return {
            "acceptance_delivered": delivered,
            "acceptance_answered": answered,
            "acceptance_answered_share": answered / delivered if delivered else math.nan,
            "acceptance_realised": accepted / answered if answered else math.nan,
            "acceptance_predicted": predicted,
            "acceptance_actions_judged": len(judged),
            "acceptance_actions_off": int((judged["status"] != "ok").sum()),
            "acceptance_max_gap": float(judged["gap"].max()) if len(judged) else math.nan,
        }


def acceptance(delivered: pd.DataFrame, config: MonitoringConfig) -> Acceptance:
    """Judge the delivered actions of one window (``read_delivered``'s rows)."""
    window = (
        "" if delivered.empty else f"{delivered['at'].min():%Y-%m}..{delivered['at'].max():%Y-%m}"
    )
    table = acceptance_table(delivered, config)
    note = ""
    if delivered.empty:
        note = "no action was delivered in the current window"
    elif delivered["outcome"].isna().all():
        note = (
            f"no feedback yet on the current window's {len(delivered):,} delivered actions "
            "(/feedback): acceptance not measured"
        )
    return Acceptance(window, table, note)


def acceptance_alerts(result: Acceptance) -> list[dict[str, str]]:
    """One line per action whose prediction misses its realised rate, and per action-channel
    pair where the action overall does not (the miss confined to a channel)."""
    table = result.table
    overall = table[table["channel"] == ALL].set_index("action")["status"]
    lines = []
    for r in table.to_dict("records"):
        if r["status"] not in ("warn", "alert"):
            continue
        if r["channel"] != ALL and overall.get(r["action"]) in ("warn", "alert"):
            continue
        subject = r["action"] if r["channel"] == ALL else f"{r['action']} on {r['channel']}"
        lines.append(
            alert(
                "acceptance",
                subject,
                str(r["status"]),
                f"predicted {r['predicted']:.3f}, realised {r['realised']:.3f} "
                f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}] on {r['answered']:,} answers "
                f"({r['accepted']:,} accepted)",
            )
        )
    return lines
