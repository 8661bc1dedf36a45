"""The churn definition, written once and used by the simulator's truth, labels, training and
monitoring alike.

A customer churns when the relationship closes or goes dormant. The label of a customer at an as-of
time is 1 when the churn happens after the as-of time and within the horizon.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

HORIZON_DAYS = 90
"""Default horizon: leaves or goes dormant within 90 days of the as-of date."""


@dataclass(frozen=True)
class ChurnDefinition:
    """Operational churn definition.

    Attributes:
        horizon_days: a churn counts if it happens within this many days after the as-of time.
        dormant_months: months in a row without customer-initiated activity that make a
            relationship dormant (used to find churn in a bank's own snapshots).
    """

    horizon_days: int = HORIZON_DAYS
    dormant_months: int = 3

    @property
    def horizon(self) -> pd.Timedelta:
        return pd.Timedelta(days=self.horizon_days)

    def label(self, as_of: pd.Series, churned_at: pd.Series) -> pd.Series:
        """1 where ``churned_at`` falls in ``(as_of, as_of + horizon]``, else 0.

        ``churned_at`` is NaT for a customer who has not left.
        """
        after = churned_at > as_of
        within = churned_at <= as_of + self.horizon
        return (after & within).fillna(False).astype("int8")

    def is_labelled(self, as_of: pd.Series, data_end: pd.Timestamp) -> pd.Series:
        """True where the whole horizon after ``as_of`` lies within the observed data."""
        return as_of + self.horizon <= data_end
