"""The decision log as monitoring reads it: which action the service put first for each
decision, and the mix of those actions in two windows of decision time.

The log (``serving.decision_log``: SQLite in the embedded profile, PostgreSQL in production) is
read-only here: a log that does not exist yet is read as empty, never created.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from monitoring.config import MonitoringConfig
from monitoring.drift import FeatureDrift, categorical_drift, judge
from retain.core.errors import ConfigError

DECISION_COLUMNS = ["decision_id", "customer_id", "at", "channel", "action", "offered"]


def read_decisions(
    url: str, project: str, start: datetime | None = None, end: datetime | None = None
) -> pd.DataFrame:
    """The decisions of ``project`` in the log at ``url`` (a SQLAlchemy URL, as
    ``serving.decision_log.log_url`` gives), ``start < at <= end`` where given.

    Returns:
        ``DECISION_COLUMNS``: ``action`` is the action ranked first (``no_action`` when none was
        delivered), ``offered`` whether any was; ``at`` in UTC. Empty when the log does not exist.

    Raises:
        ConfigError: the database cannot be reached.
    """
    import sqlalchemy as sa

    from serving.actions import NO_ACTION
    from serving.decision_log import decisions

    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return pd.DataFrame(columns=DECISION_COLUMNS)
    query = sa.select(
        decisions.c.decision_id,
        decisions.c.customer_id,
        decisions.c.at,
        decisions.c.channel,
        decisions.c.actions,
    ).where(decisions.c.project_id == project)
    if start is not None:
        query = query.where(decisions.c.at > start)
    if end is not None:
        query = query.where(decisions.c.at <= end)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(decisions.name):
                return pd.DataFrame(columns=DECISION_COLUMNS)
            rows = pd.DataFrame(
                conn.execute(query).all(), columns=list(query.selected_columns.keys())
            )
    except sa.exc.SQLAlchemyError as e:
        raise ConfigError(f"cannot read the decision log at {url}: {e.__class__.__name__}") from e
    finally:
        engine.dispose()
    delivered = [json.loads(a) for a in rows["actions"]]
    return pd.DataFrame(
        {
            "decision_id": rows["decision_id"],
            "customer_id": rows["customer_id"].astype("int64"),
            "at": pd.to_datetime(rows["at"], utc=True),
            "channel": rows["channel"],
            "action": [a[0] if a else NO_ACTION for a in delivered],
            "offered": [bool(a) for a in delivered],
        },
        columns=DECISION_COLUMNS,
    )


@dataclass
class ActionMix:
    """The mix of first-ranked actions in two windows of decision time.

    Attributes:
        reference, current: ``YYYY-MM..YYYY-MM`` of decision time, or "" where empty.
        basis: how the windows were chosen (``as-of windows`` or ``the log's latest months``).
        shares: per action, decisions and shares in each window.
        drift: PSI, Jensen-Shannon distance and chi-square test of the mix, judged; None when
            a window has no decisions.
        decisions: the current window's decisions (``DECISION_COLUMNS``).
    """

    reference: str
    current: str
    basis: str
    shares: pd.DataFrame
    drift: FeatureDrift | None
    decisions: pd.DataFrame


def _span(at: pd.Series) -> str:
    if at.empty:
        return ""
    return f"{at.min():%Y-%m}..{at.max():%Y-%m}"


def split_windows(
    log: pd.DataFrame,
    reference: tuple[pd.Timestamp, pd.Timestamp],
    current: tuple[pd.Timestamp, pd.Timestamp],
    months: int,
) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """The decisions of the reference and current windows, and how they were chosen.

    Decisions made inside both as-of windows (``(start, end]`` each; a replayed history whose
    requests carried their time) are compared as such. Otherwise (a service deciding at the
    wall clock) the log's own latest ``months`` calendar months are the current window, and
    every decision before them the reference.
    """
    at = log["at"]
    ref = log[(at > reference[0]) & (at <= reference[1])]
    cur = log[(at > current[0]) & (at <= current[1])]
    if len(ref) and len(cur):
        return ref, cur, "as-of windows"
    if log.empty:
        return log, log, "as-of windows"
    month = at.dt.tz_convert(None).dt.to_period("M")
    last = month.max()
    recent = month > last - months
    return log[~recent], log[recent], "the log's latest months"


def action_mix(
    reference: pd.DataFrame, current: pd.DataFrame, config: MonitoringConfig, basis: str = ""
) -> ActionMix:
    """The first-ranked actions' shares in both windows and, where both hold decisions, the
    drift of the mix (as a categorical feature's)."""
    shares = pd.DataFrame(
        {
            "reference_decisions": reference["action"].value_counts(),
            "current_decisions": current["action"].value_counts(),
        }
    ).fillna(0)
    shares = shares.astype("int64")
    for side in ("reference", "current"):
        total = shares[f"{side}_decisions"].sum()
        shares[f"{side}_share"] = shares[f"{side}_decisions"] / total if total else 0.0
    shares = shares.sort_values(["current_decisions", "reference_decisions"], ascending=False)
    shares = shares.reset_index(names="action")
    drift = None
    if len(reference) and len(current):
        drift = judge(
            categorical_drift(reference["action"], current["action"], "action_mix"), config
        )
    return ActionMix(_span(reference["at"]), _span(current["at"]), basis, shares, drift, current)
