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
  the reference's last month, and against the month before the current window, in units of the
  root-mean-square monthly step (over every month before the current window, warm-up included)
  times the square root of the months between: a random walk's spread after k steps. That
  spread is itself estimated from a few steps, so the ratio is Student's t with as many
  degrees of freedom as steps (Gaussian steps), not a standard normal: with two steps it
  exceeds 5 in 4% of quiet months. ``market_moves`` maps it to the standard normal quantile of
  the same tail probability, so a move of 3 units (``market_move_warn``) happens in about 0.3%
  of quiet months and 5 (``_alert``) in under one in a million, whatever the reference's
  length. A rate war's 1.75-point jump is 15 raw units or more: 4 units after 5 steps, 5.5
  after 11.

And one statistical: the per-feature tests (which an alert needs beside a moderate distance,
``drift.judge``) are judged at
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
    min_months: int = 1,
) -> list[pd.Timestamp]:
    """``months`` without the data's warm-up months. Where fewer than ``min_months`` would be
    left (a champion trained within the warm-up), the first as many months after it and before
    ``before`` (the current window): the champion's validation and test months, which the gate
    judged it on. Where there are fewer than ``min_months`` of those too, none: no month before
    the current window is comparable with it, and the caller must not judge drift (a warm-up
    reference would make every later month "drift" by construction)."""
    warm = warm_months(available, warmup)
    kept = [m for m in months if m not in warm]
    if len(kept) >= min_months:
        return kept
    after = [m for m in sorted(available) if m not in warm and (before is None or m < before)]
    after = after[: max(len(months), min_months)]
    return after if len(after) >= min_months else []


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
    reference: pd.DataFrame,
    current: pd.DataFrame,
    market: Sequence[str],
    as_of: str,
    history: pd.DataFrame | None = None,
) -> dict[str, float]:
    """Per market-wide feature, the largest move of a current month, in random-walk units
    corrected for the estimated spread (see the module's docstring): from the reference's last
    month (the level the model was judged on), or from the last month before the current
    window (a jump since), whichever is more; NaN with fewer than three months (two steps).
    Taking the larger of the two at most doubles a quiet month's chance of crossing a
    threshold (0.3% to 0.6% at 3 units).

    Args:
        history: other months before the current window (one customer's row a month will do):
            their steps estimate the spread too (a market-wide value has no lookback, so the
            data's warm-up months hold its steps as well as later ones, and more steps make a
            sharper test), and the latest of them is the month before the current window.
    """
    out: dict[str, float] = {}
    for f in market:
        ref = reference.groupby(as_of)[f].first().sort_index().astype("float64")
        cur = current.groupby(as_of)[f].first().sort_index().astype("float64")
        path = ref
        if history is not None and f in history and len(ref) and len(cur):
            other = history[(history[as_of] < cur.index[0]) & ~history[as_of].isin(ref.index)]
            path = pd.concat([other.groupby(as_of)[f].first().astype("float64"), ref])
            path = path[path.index < cur.index[0]].dropna().sort_index()
        steps = monthly_steps(path)
        if len(steps) < 2 or cur.empty or ref.dropna().empty:
            out[f] = math.nan
            continue
        sigma = float(np.sqrt(np.mean(steps**2)))
        z = 0.0
        for start in (ref.dropna(), path):
            last, last_at = float(start.iloc[-1]), _month_index(start.index[-1])
            for at, value in cur.items():
                k = max(_month_index(at) - last_at, 1)
                move = abs(float(value) - last)
                if move > 0:
                    z = max(z, math.inf if sigma == 0 else move / (sigma * math.sqrt(k)))
        out[f] = gaussian_units(z, len(steps))
    return out


def monthly_steps(path: pd.Series) -> np.ndarray:
    """The steps of a monthly series (indexed by month ends), each over a gap of g months
    divided by the square root of g (a random walk's spread), missing values left out."""
    path = path.dropna()
    months = np.array([_month_index(at) for at in path.index], dtype=np.float64)
    gaps = np.diff(months)
    keep = gaps > 0
    return np.diff(path.to_numpy(dtype=np.float64))[keep] / np.sqrt(gaps[keep])


def gaussian_units(t: float, steps: int) -> float:
    """A move of ``t`` estimated random-walk units (a Student t with ``steps`` degrees of
    freedom) as the standard normal quantile with the same upper tail probability."""
    from scipy.stats import norm
    from scipy.stats import t as student

    if t <= 0 or math.isinf(t):
        return t
    return float(norm.isf(student.sf(t, steps)))


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
