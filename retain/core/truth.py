"""The ground-truth protocol: what only a simulated bank knows, asked for given rows.

A model trained on a simulated bank can be measured against the truth behind its data (the ceiling
a model could reach, how close its estimated effects come to the real ones), and a policy can be
valued on it. A bank's own data has no truth: every job that uses one takes it as an argument
(``None`` on a bank's own data) and the entrance builds it, so nothing below the entrance depends
on the simulator.

Each method takes rows with the entity key and an as-of time (``KEY`` and ``AS_OF`` of
``retain.core.columns``) and returns a float64 array aligned with them (row ``i`` of the result
is row ``i`` of ``rows``), NaN where the truth does not know the customer at that time. Which
moment of the truth an as-of time maps to is the implementation's business.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd
from numpy.typing import NDArray


@runtime_checkable
class GroundTruth(Protocol):
    """What really drives each customer, for rows of ``customer_id`` and ``event_timestamp``."""

    def churn_probability(self, rows: pd.DataFrame) -> NDArray[np.float64]:
        """P(churn label = 1) at each row's as-of time, shape ``[rows]``."""
        ...

    def adoption(self, rows: pd.DataFrame, products: Sequence[str]) -> NDArray[np.float64]:
        """P(opening each product unprompted in the month after the as-of time), shape
        ``[rows, products]``: per month, not per horizon; 0 where held or not allowed."""
        ...

    def offer_effects(self, rows: pd.DataFrame, actions: Sequence[str]) -> NDArray[np.float64]:
        """True effect of making each offer in the month after the as-of time, shape
        ``[rows, actions]``.

        Actions: a retention action id (change in P(churn within the horizon); negative keeps the
        customer), ``contact`` (the change from any contact at all: the churn side of a cross-sell
        offer) or ``xsell_<product>`` (change in P(opening the product in that month)).
        """
        ...
