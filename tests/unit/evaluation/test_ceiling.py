"""The observable ceiling: what the served features can tell of the true offer effects."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest
from numpy.typing import NDArray

from evaluation.ceiling import observable_ceiling
from retain.core.columns import AS_OF, KEY
from retain.core.tables import RETENTION_ACTIONS


class _Truth:
    """True effects: a feature the bank sees plus a hidden trait, ``hidden`` times as large."""

    def __init__(self, seen: NDArray[np.float64], hidden: NDArray[np.float64]) -> None:
        self.effect = seen + hidden

    def churn_probability(self, rows: pd.DataFrame) -> NDArray[np.float64]:
        raise NotImplementedError

    def adoption(self, rows: pd.DataFrame, products: Sequence[str]) -> NDArray[np.float64]:
        raise NotImplementedError

    def offer_effects(self, rows: pd.DataFrame, actions: Sequence[str]) -> NDArray[np.float64]:
        return np.repeat(self.effect[rows[KEY].to_numpy()][:, None], len(actions), 1)


@pytest.mark.parametrize(("hidden", "low", "high"), [(0.0, 0.95, 1.0), (1.0, 0.6, 0.8)])
def test_the_ceiling_is_what_the_seen_features_explain(
    hidden: float, low: float, high: float
) -> None:
    """Effects that are all seen are fitted almost exactly; effects half seen, half hidden (equal
    variances) reach a correlation of about 1/sqrt(2) and explain about half the variance."""
    n = 3000
    rng = np.random.default_rng(0)
    seen = rng.normal(0, 1, n)
    frame = pd.DataFrame(
        {
            KEY: np.arange(n),
            AS_OF: pd.Timestamp("2024-01-31", tz="UTC"),
            "reason": seen,
            "region": rng.choice(["north", "south"], n),
        }
    )
    truth = _Truth(0.02 * seen, hidden * 0.02 * rng.normal(0, 1, n))
    test = np.arange(n) >= 2000
    out = observable_ceiling(
        frame, ["reason", "region"], truth, ~test, test, RETENTION_ACTIONS[:2], num_threads=1
    )
    assert low < out["ceiling_corr_mean"] < high
    assert out["ceiling_r2_mean"] == pytest.approx(out["ceiling_corr_mean"] ** 2, abs=0.1)
    assert set(out) >= {f"ceiling_corr_{a}" for a in RETENTION_ACTIONS[:2]}
    assert (out["train_rows"], out["test_rows"]) == (2000, 1000)
