"""Month ends and horizons, in integer microseconds since the epoch (UTC), the tables' unit."""

from __future__ import annotations

import numpy as np
import pandas as pd

US_PER_SECOND = 1_000_000


def month_bounds(first: pd.Period, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Start (first instant) and end (last day 23:59:59 UTC) of ``n`` months from ``first``.

    Returns:
        ``(starts, ends)``, int64 microseconds; month ``t`` is ``[starts[t], ends[t]]``.
    """
    starts = pd.period_range(first, periods=n + 1, freq="M").to_timestamp().tz_localize("UTC")
    us = starts.as_unit("us").asi8
    return us[:-1].copy(), us[1:] - US_PER_SECOND


def horizon_fractions(
    starts: np.ndarray, ends: np.ndarray, horizon_us: int, ahead: int
) -> np.ndarray:
    """Share of each of the next ``ahead`` months that lies within the horizon after a month end.

    ``out[t, k-1]`` is the share of month ``t + k`` inside ``(ends[t], ends[t] + horizon]``, for a
    churn time spread evenly over the month; 0 where month ``t + k`` is past the last month given.
    """
    n = len(ends)
    out = np.zeros((n, ahead))
    for k in range(1, ahead + 1):
        t = np.arange(n - k)
        a, b = starts[t + k] - US_PER_SECOND, ends[t + k]
        covered = np.clip(ends[t] + horizon_us, a, b) - a
        out[t, k - 1] = covered / (b - a)
    return out
