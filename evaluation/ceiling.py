"""Observable ceilings: how well the served features can tell the truth, on a simulated bank.

- **Uplift**: an uplift model learns each offer's effect from noisy churn outcomes of a few
  randomised contacts. A model fitted to the simulator's **true** effects themselves, from the
  same served features, on the same rows, is as good as any uplift model can get with these
  features and this much data: the correlation it reaches with the true effects on the test window
  is the ceiling for the uplift model's ``truth_corr``. What it cannot reach is what hidden traits
  decide.
- **Churn**: the churn model learns from 0/1 labels. A booster fitted to the simulator's true
  P(churn label) of each training row (``p_churn``: the label's expectation, the leave-or-stay
  draws integrated out) from the same features and windows has the labels' signal without their
  noise; its test AUC against the labels is what these features can reach with this much data.
  The truth's own AUC is higher still: ``p_churn`` knows the path the customer took after the
  as-of date, which no feature at that date can.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from retain.core.columns import KEY, LABEL
from retain.core.progress import Progress, silent
from retain.core.tables import RETENTION_ACTIONS
from retain.core.truth import GroundTruth
from training.churn.data import Dataset
from training.config import TrainConfig, lightgbm_params
from training.encode import FeatureSpec, encode, fit_spec

ROUNDS = 2000
"""Boosting rounds at most; boosting stops when a fifth of the training customers, set aside,
stop improving for STOP rounds."""
STOP = 50
VALID_SHARE = 0.2
CHURN_CEILING_LEAVES = 31
CHURN_CEILING_RATE = 0.1
"""More capacity than the churn model's (7 leaves, learning rate 0.03, at most 1,000 rounds):
targets without label noise can use it. On the default bank the model's own settings reach the
same test AUC (0.796 against 0.794), so capacity is not what bounds the ceiling."""


def _corr(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def _early_stopped(
    params: dict[str, Any],
    spec: FeatureSpec,
    x_fit: Any,
    y_fit: NDArray[np.float64],
    x_stop: Any,
    y_stop: NDArray[np.float64],
) -> lgb.Booster:
    """A booster on ``x_fit``, stopped when ``x_stop`` has not improved for ``STOP`` rounds (at
    most ``ROUNDS``)."""
    names, categorical = list(spec.features), list(spec.categorical)
    fit = lgb.Dataset(x_fit, y_fit, feature_name=names, categorical_feature=categorical)
    stop = lgb.Dataset(
        x_stop, y_stop, reference=fit, feature_name=names, categorical_feature=categorical
    )
    return lgb.train(
        params,
        fit,
        num_boost_round=ROUNDS,
        valid_sets=[stop],
        callbacks=[lgb.early_stopping(STOP, verbose=False)],
    )


def observable_ceiling(
    frame: pd.DataFrame,
    features: Sequence[str],
    truth: GroundTruth,
    train: NDArray[np.bool_],
    test: NDArray[np.bool_],
    actions: Sequence[str] = RETENTION_ACTIONS,
    seed: int = 7,
    num_threads: int = 2,
) -> dict[str, float]:
    """Fit each action's true effect from the features on the rows before the test window and
    measure the fit on the test window.

    Args:
        frame: rows (``customer_id``, ``event_timestamp``) with the served features.
        features: the feature service's features, in order.
        truth: the simulated bank's ground truth.
        train, test: the rows to fit on and to measure on (a time split, as the uplift
            model's: ``training.uplift.data.time_split``).
        actions: the retention actions.
        seed, num_threads: LightGBM's.

    Returns:
        ``ceiling_corr_<action>`` (Pearson, test rows), ``ceiling_r2_<action>`` (the share of
        the true effects' variance the fit explains on the test rows), their ``_mean`` over
        actions, ``train_rows`` and ``test_rows``.
    """
    train, test = np.asarray(train, dtype=bool), np.asarray(test, dtype=bool)
    true = truth.offer_effects(frame, list(actions))
    spec = fit_spec(frame[train], list(features))
    x = encode(frame, spec).to_numpy()
    ids = frame[KEY].to_numpy()
    customers = np.unique(ids[train])
    rng = np.random.default_rng(seed)
    stop_on = np.isin(ids, rng.choice(customers, int(len(customers) * VALID_SHARE), replace=False))
    params = lightgbm_params(
        "regression",
        seed=seed,
        num_threads=num_threads,
        learning_rate=0.05,
        num_leaves=31,
        min_data_in_leaf=50,
        lambda_l2=1.0,
    )
    out: dict[str, float] = {}
    for j, action in enumerate(actions):
        y = true[:, j]
        known = np.isfinite(y)
        fit, stop, check = train & known & ~stop_on, train & known & stop_on, test & known
        booster = _early_stopped(params, spec, x[fit], y[fit], x[stop], y[stop])
        predicted = np.asarray(booster.predict(x[check]), dtype=np.float64)
        out[f"ceiling_corr_{action}"] = _corr(predicted, y[check])
        residual = np.mean((y[check] - predicted) ** 2)
        variance = np.var(y[check])
        out[f"ceiling_r2_{action}"] = float(1 - residual / variance) if variance > 0 else np.nan
    for key in ("ceiling_corr", "ceiling_r2"):
        values = [out[f"{key}_{a}"] for a in actions if np.isfinite(out[f"{key}_{a}"])]
        out[f"{key}_mean"] = float(np.mean(values)) if values else float("nan")
    out["train_rows"] = float(train.sum())
    out["test_rows"] = float(test.sum())
    return out


def churn_ceiling(
    data: Dataset, config: TrainConfig, progress: Progress = silent
) -> dict[str, float]:
    """retain's churn model, the observable ceiling and the truth on the same test window.

    Trains the churn model as ``retain train churn`` does (same split, features and settings),
    then a booster fitted to the true P(churn label) of the train window (cross-entropy on
    probabilities, ``CHURN_CEILING_LEAVES`` leaves), stopped early on the validation window's.

    Args:
        data: the churn training data with the simulated bank's ground truth.

    Returns:
        ``model_auc``, ``logistic_auc``, ``observable_auc``, ``truth_auc`` (test window, against
        the labels), ``gap_to_observable`` (observable minus model), ``train_rows``,
        ``test_rows``, ``customers`` (in the frame) and ``best_iteration`` of the ceiling.

    Raises:
        NotReadyError: ``data`` has no ground truth.
    """
    from sklearn.metrics import roc_auc_score

    from retain.core.errors import NotReadyError
    from training.churn.job import fit_and_evaluate

    truth = data.truth
    if truth is None:
        raise NotReadyError("the churn ceiling needs a simulated bank's ground truth")
    fitted = fit_and_evaluate(data, config)
    progress(1, 2)
    masks = fitted.split.masks(data.frame)
    train, valid, test = (data.frame[masks[k]] for k in ("train", "valid", "test"))
    spec = fitted.model.spec
    params = lightgbm_params(
        "cross_entropy",
        seed=config.seed,
        num_threads=config.num_threads,
        learning_rate=CHURN_CEILING_RATE,
        num_leaves=CHURN_CEILING_LEAVES,
        min_data_in_leaf=100,
        lambda_l2=1.0,
        metric="cross_entropy",
    )
    booster = _early_stopped(
        params,
        spec,
        encode(train, spec),
        np.nan_to_num(truth.churn_probability(train)),
        encode(valid, spec),
        np.nan_to_num(truth.churn_probability(valid)),
    )
    y = test[LABEL].to_numpy(dtype=np.float64)
    observable = float(roc_auc_score(y, booster.predict(encode(test, spec))))
    metrics = fitted.report.metrics
    model = float(metrics["model"]["roc_auc"])
    progress(2, 2)
    return {
        "model_auc": model,
        "logistic_auc": float(metrics["logistic"]["roc_auc"]),
        "observable_auc": observable,
        "truth_auc": float(metrics["truth"]["roc_auc"]),
        "gap_to_observable": observable - model,
        "train_rows": float(len(train)),
        "test_rows": float(len(test)),
        "customers": float(data.frame[KEY].nunique()),
        "best_iteration": float(booster.best_iteration or booster.current_iteration()),
    }
