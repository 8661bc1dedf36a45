"""``ValidationStop``, the early stopping every Dask worker runs on the whole validation window,
stops where LightGBM's own ``early_stopping`` does on one machine."""

from __future__ import annotations

import numpy as np
import pytest

from training.churn.distributed import ValidationStop


@pytest.mark.parametrize("rounds", [5, 20])
def test_it_stops_at_lightgbms_round_and_keeps_its_best(rounds: int):
    import lightgbm as lgb

    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 6))
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=2.0, size=4000) > 1.5).astype(float)
    x_train, y_train, x_valid, y_valid = x[:3000], y[:3000], x[3000:], y[3000:]
    params = {
        "objective": "binary",
        "learning_rate": 0.3,
        "num_leaves": 15,
        "min_data_in_leaf": 5,
        "metric": "auc",
        "seed": 1,
        "deterministic": True,
        "num_threads": 1,
        "verbosity": -1,
    }

    def fit(callback, valid: bool) -> lgb.Booster:
        train = lgb.Dataset(x_train, label=y_train)
        sets = [lgb.Dataset(x_valid, label=y_valid, reference=train)] if valid else []
        return lgb.train(params, train, 300, valid_sets=sets, callbacks=[callback])

    theirs = fit(lgb.early_stopping(rounds, first_metric_only=True, verbose=False), True)
    ours = fit(ValidationStop(x_valid, y_valid, rounds), False)

    assert theirs.best_iteration < 300  # it did stop early
    assert ours.best_iteration == theirs.best_iteration
    assert ours.current_iteration() == theirs.current_iteration()
    assert ours.best_score["valid"]["auc"] == pytest.approx(theirs.best_score["valid_0"]["auc"])
