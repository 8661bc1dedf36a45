"""What the feature drift statistics may fairly compare, so a quiet month raises no alarm.

Three things move every month on a bank where nothing changed, and are not drift:

- **History warming up.** A feature over the last k months (a 6-month change, contacts in 6
  months) is missing or short for every customer in the data's first k months. A reference window
  that starts with the data (a champion trained on all of it) holds those months, and every later
  month "drifts" from them. ``warm_reference`` leaves the first ``warmup_months`` months of the
  data out of the default reference.
- **Open-ended recency.** "Months since X" can only be as large as the history is long, and is
  missing while X has not happened within it: it grows and fills as the data ages. What every
  window can see alike is whether X happened within the last ``recency_cap_months`` months and
  when; ``cap_recency`` maps longer values and "never" to the cap. A "last value" feature
  (``LAST_VALUE_OF``: the last satisfaction answer) is compared only where its recency is within
  the cap; older or never is missing alike.
- **Market-wide values.** A rate that every customer shares in a month is a point mass: its PSI
  against any other month is huge by construction, and its level wanders month by month (the
  bank's and the market's rates are random walks). ``market_wide`` finds such features (one value
  per as-of month in the reference); ``market_moves`` measures each current month's value against
  the reference's last month in units of the reference's own root-mean-square monthly step times
  the square root of the months between: a random walk's spread after k steps. A walk like the
  reference's reaches 3 of these units in about 0.3% of months and 5 in under one in a million
  (Gaussian steps; 4% at most whatever the steps' law, by Chebyshev): ``market_move_warn`` and
  ``_alert``. A rate war's 1.75-point jump is 15 to 40 units within a year of the reference.

And one statistical: the per-feature tests (for samples under ``test_below_rows``) are judged at
``p_value`` divided by the number of features (Bonferroni), so ``p_value`` is the chance of any
false test alarm in a quiet month, not the chance per feature (with 87 features at 0.05 each,
about four a month).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from monitoring.config import MonitoringConfig

NEVER = 1e9
"""A threshold no PSI reaches (PSI is at most about 18 per bin with ``PSI_FLOOR``)."""
RECENCY_PREFIX = "months_since_"
"""Features named so are open-ended recencies (``features.schema``: "Months since ...")."""


def warm_months(available: Sequence[pd.Timestamp], warmup: int) -> set[pd.Timestamp]:
    """The data's first ``warmup`` months: those without the full lookback behind them."""
    return set(sorted(available)[:warmup])


def warm_reference(
    months: Sequence[pd.Timestamp],
    available: Sequence[pd.Timestamp],
    warmup: int,
    before: pd.Timestamp | None = None,
) -> list[pd.Timestamp]:
    """``months`` without the data's warm-up months. Where none would be left (a champion
    trained within the warm-up), the first as many months after it and before ``before`` (the
    current window): the champion's validation and test months, which the gate judged it on;
    where there are none of those either, ``months`` as they are."""
    warm = warm_months(available, warmup)
    kept = [m for m in months if m not in warm]
    if kept:
        return kept
    after = [m for m in sorted(available) if m not in warm and (before is None or m < before)]
    return after[: len(months)] or list(months)


def cap_recency(values: pd.Series, cap: float) -> pd.Series:
    """A "months since" feature as every window sees it: values above ``cap`` and missing
    ("not within the data") both become ``cap``."""
    v = pd.to_numeric(values, errors="coerce").astype("float64")
    return v.where(v < cap, cap).fillna(cap)


LAST_VALUE_OF = {"satisfaction_last": "months_since_survey"}
"""A feature holding the last value of something -> the feature saying how old that value is."""


def recency_features(features: Sequence[str]) -> list[str]:
    return [f for f in features if f.startswith(RECENCY_PREFIX)]


def market_wide(
    reference: pd.DataFrame, features: Sequence[str], as_of: str, min_months: int = 3
) -> list[str]:
    """Numeric features holding one value for every row of each reference month (and at least
    ``min_months`` months): values the market or the bank sets for everyone."""
    if reference[as_of].nunique() < min_months:
        return []
    out = []
    for f in features:
        col = reference[f]
        if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            continue
        per_month = col.groupby(reference[as_of]).nunique(dropna=True)
        if len(per_month) and int(per_month.max()) <= 1 and col.notna().any():
            out.append(f)
    return out


def comparable_config(
    config: MonitoringConfig, features: Sequence[str], market: Sequence[str]
) -> MonitoringConfig:
    """``config`` with the tests at the family-wise level and the market-wide features left to
    ``judge_market`` (a feature's own thresholds in ``monitoring.toml`` win)."""
    own = dict(config.features)
    for f in market:
        if f not in own:
            own[f] = {
                "psi_warn": NEVER,
                "psi_alert": NEVER,
                "wasserstein_warn": NEVER,
                "wasserstein_alert": NEVER,
            }
    return replace(config, p_value=config.p_value / max(len(features), 1), features=own)


def comparable_frames(
    reference: pd.DataFrame, current: pd.DataFrame, features: Sequence[str], cap: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both frames with the recency features capped (copies; other columns untouched)."""
    recency = recency_features(features)
    if not recency or cap <= 0:
        return reference, current
    last = {f: age for f, age in LAST_VALUE_OF.items() if f in features and age in reference}
    ref, cur = reference.copy(), current.copy()
    for frame in (ref, cur):
        for f, age in last.items():
            recent = pd.to_numeric(frame[age], errors="coerce") < cap
            frame[f] = frame[f].where(recent)
        for f in recency:
            frame[f] = cap_recency(frame[f], cap)
    return ref, cur


def market_moves(
    reference: pd.DataFrame, current: pd.DataFrame, market: Sequence[str], as_of: str
) -> dict[str, float]:
    """Per market-wide feature, the largest move of a current month from the reference's last
    month, in random-walk units (see the module's docstring); NaN with fewer than three
    reference months (two steps)."""
    out: dict[str, float] = {}
    for f in market:
        ref = reference.groupby(as_of)[f].first().sort_index().astype("float64")
        cur = current.groupby(as_of)[f].first().sort_index().astype("float64")
        steps = np.diff(ref.to_numpy())
        steps = steps[~np.isnan(steps)]
        if len(steps) < 2 or cur.empty:
            out[f] = math.nan
            continue
        sigma = float(np.sqrt(np.mean(steps**2)))
        last, last_at = float(ref.iloc[-1]), _month_index(ref.index[-1])
        z = 0.0
        for at, value in cur.items():
            k = max(_month_index(at) - last_at, 1)
            move = abs(float(value) - last)
            if move > 0:
                z = max(z, math.inf if sigma == 0 else move / (sigma * math.sqrt(k)))
        out[f] = z
    return out


def _month_index(at: object) -> int:
    t = pd.Timestamp(at)  # type: ignore[arg-type]
    return t.year * 12 + t.month


def judge_market(
    table: pd.DataFrame, moves: dict[str, float], config: MonitoringConfig
) -> pd.DataFrame:
    """The feature drift table with each market-wide feature judged by its move (``move``
    column, NaN elsewhere) at ``market_move_warn`` / ``_alert``, most severe first again."""
    from monitoring.drift import STATUS_ORDER

    out = table.copy()
    out["move"] = out["feature"].map(moves).astype("float64")
    judged = out["move"].notna()
    out.loc[judged, "status"] = [config.level("market_move", z) for z in out.loc[judged, "move"]]
    order = out["status"].map(STATUS_ORDER)
    return (
        out.assign(_order=order)
        .sort_values(["_order", "psi"], ascending=[False, False], kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)
    )
