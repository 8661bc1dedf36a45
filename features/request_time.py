"""The request-time features, defined once: days with the bank and since the last login, counted
at the time a score is asked for rather than at the last month end.

``request_time_features`` is a pure function over columns. The Feast on-demand view
``request_time`` (``features.definitions``) calls it on the pandas frame Feast gives it, so
Feast's offline and online reads and the training frames compute it; ``features.online`` calls it
on numpy arrays, without Feast's per-call overhead. No Feast import here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from features.schema import REQUEST_TIME

INPUTS: dict[str, tuple[str, ...]] = {
    "customer_profile": ("join_epoch_s",),
    "engagement_channels": ("last_login_epoch_s",),
}
"""Feature view -> the columns of it the request-time features are computed from."""

FEATURES: tuple[str, ...] = ("tenure_days", "days_since_login_now")
"""The request-time features, in the order ``request_time_features`` returns them."""

SECONDS_PER_DAY = 86400.0


def request_time_features(columns: Mapping[str, Any]) -> dict[str, Any]:
    """Tenure and login recency in days at the request time.

    Args:
        columns: ``request_epoch_s``, ``join_epoch_s`` and ``last_login_epoch_s`` in seconds since
            the epoch, as pandas Series (a frame will do) or numpy arrays of equal length; nulls
            and NaN give NaN.

    Returns:
        ``tenure_days`` and ``days_since_login_now`` as float64 columns of the same kind as the
        inputs (Series keep their index).
    """
    now = columns[REQUEST_TIME].astype("float64")
    return {
        "tenure_days": (now - columns["join_epoch_s"].astype("float64")) / SECONDS_PER_DAY,
        "days_since_login_now": (now - columns["last_login_epoch_s"].astype("float64"))
        / SECONDS_PER_DAY,
    }
