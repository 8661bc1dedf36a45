"""Curves are drawn thinned: the same ends, evenly spaced points in between."""

from __future__ import annotations

import numpy as np

from training.churn.model import validation_params
from training.plots import thin


def test_thin_keeps_ends_and_bounds_points() -> None:
    x = np.arange(100_001, dtype=np.float64)
    (t,) = thin(x, points=1_000)
    assert len(t) == 1_000
    assert t[0] == 0 and t[-1] == 100_000
    assert np.all(np.diff(t) > 0)


def test_short_curves_are_untouched() -> None:
    x, y = np.arange(10.0), np.arange(10.0) ** 2
    tx, ty = thin(x, y, points=1_000)
    assert tx is x and ty is y


def test_validation_scores_the_early_stopping_metric_only() -> None:
    params = {"metric": ["auc", "binary_logloss"], "seed": 7}
    assert validation_params(params) == {"metric": "auc", "seed": 7}
    assert validation_params({"metric": "auc"}) == {"metric": "auc"}
