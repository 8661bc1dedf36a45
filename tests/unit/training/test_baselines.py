"""The logistic baseline's train sample: stratified, reproducible, all rows when few."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.churn.baselines import train_sample


def _train(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {"x": rng.normal(size=rows), "label": (rng.uniform(size=rows) < 0.05) * 1.0}
    )


def test_small_train_is_kept_whole() -> None:
    train = _train(500)
    assert train_sample(train, 1_000, seed=7) is train


def test_sample_keeps_the_churn_rate_and_order_and_repeats() -> None:
    train = _train(20_000)
    sample = train_sample(train, 4_000, seed=7)
    assert abs(len(sample) - 4_000) <= 2
    assert abs(sample["label"].mean() - train["label"].mean()) < 0.001
    assert sample.index.is_monotonic_increasing
    pd.testing.assert_frame_equal(sample, train_sample(train, 4_000, seed=7))
    assert not sample.index.equals(train_sample(train, 4_000, seed=8).index)
