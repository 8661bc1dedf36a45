"""The churn model: a native LightGBM booster plus what scoring needs next to it (feature spec with
category levels, calibration parameters, operating threshold)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from training.calibrate import calibrate, fit_calibration
from training.config import TrainConfig
from training.encode import FeatureSpec, encode

METADATA_KEY = "retain"
"""Key of our entry in the MLflow model's metadata (the ``MLmodel`` file)."""


SMALL_BATCH = 32
"""Up to this many rows LightGBM predicts on one thread: starting threads costs more than they
save, and several service workers on few cores would fight over them."""


def predict_threads(rows: int) -> dict[str, int]:
    """``Booster.predict`` keyword arguments for a batch of ``rows`` rows."""
    return {"num_threads": 1} if rows <= SMALL_BATCH else {}


@dataclass
class ChurnModel:
    """A trained churn model, ready to score feature frames.

    Attributes:
        booster: the native LightGBM booster (takes the encoded matrix).
        spec: feature order, categorical features and their levels.
        calibration: parameters for :func:`training.calibrate.calibrate`.
        threshold: operating threshold on the calibrated probability for the high-risk flag.
        info: feature service, windows, fingerprint, ... (carried into the metadata).
    """

    booster: Any
    spec: FeatureSpec
    calibration: dict[str, Any]
    threshold: float
    info: dict[str, Any] = field(default_factory=dict)

    def raw_scores(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        """Uncalibrated booster probabilities for the rows of a feature frame."""
        return np.asarray(self.booster.predict(encode(frame, self.spec)), dtype=np.float64)

    def predict_proba(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        """Calibrated probability of churn within the horizon for each row of ``frame``."""
        return calibrate(self.raw_scores(frame), self.calibration)

    def metadata(self) -> dict[str, Any]:
        """What serving needs besides the booster, as JSON-friendly values."""
        return {
            METADATA_KEY: {
                "spec": self.spec.to_dict(),
                "calibration": self.calibration,
                "threshold": self.threshold,
                **self.info,
            }
        }

    @classmethod
    def from_metadata(cls, booster: Any, metadata: dict[str, Any]) -> ChurnModel:
        m = dict(metadata[METADATA_KEY])
        spec = FeatureSpec.from_dict(m.pop("spec"))
        calibration = m.pop("calibration")
        threshold = float(m.pop("threshold"))
        return cls(booster, spec, calibration, threshold, m)


def train_booster(
    x_train: pd.DataFrame,
    y_train: NDArray[np.float64],
    x_valid: pd.DataFrame,
    y_valid: NDArray[np.float64],
    spec: FeatureSpec,
    config: TrainConfig,
    params: dict[str, Any] | None = None,
) -> Any:
    """Train a LightGBM booster with early stopping on the validation window.

    Class imbalance is handled with ``scale_pos_weight`` = negatives / positives in train;
    calibration afterwards brings the probabilities back to rates.
    """
    import lightgbm as lgb

    positives = float(np.sum(y_train))
    scale = (len(y_train) - positives) / positives if positives else 1.0
    lgb_params = validation_params({**config.lgb_params(scale), **(params or {})})
    categorical = list(spec.categorical)
    dtrain = lgb.Dataset(
        x_train, label=y_train, categorical_feature=categorical, free_raw_data=True
    )
    dvalid = lgb.Dataset(x_valid, label=y_valid, reference=dtrain, categorical_feature=categorical)
    return lgb.train(
        lgb_params,
        dtrain,
        num_boost_round=config.num_boost_round,
        valid_sets=[dvalid],
        valid_names=["valid"],
        callbacks=[
            lgb.early_stopping(config.early_stopping_rounds, first_metric_only=True, verbose=False)
        ],
    )


BoosterTrainer = Callable[
    [
        pd.DataFrame,
        NDArray[np.float64],
        pd.DataFrame,
        NDArray[np.float64],
        FeatureSpec,
        TrainConfig,
        dict[str, Any] | None,
    ],
    Any,
]
"""What trains the booster, ``train_booster``'s signature: here, or on a Dask cluster
(``training.churn.distributed.booster_on_cluster``)."""


def validation_params(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with only the first of its metrics: the validation window is scored with every
    metric listed after each round, and early stopping (``first_metric_only``) reads the first
    alone, so the others would cost a pass over the window per round for nothing. The trees do
    not depend on the metric."""
    metric = params.get("metric")
    if isinstance(metric, list | tuple) and len(metric) > 1:
        return {**params, "metric": metric[0]}
    return params


def fit_churn_model(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    spec: FeatureSpec,
    config: TrainConfig,
    params: dict[str, Any] | None = None,
    label: str = "label",
    trainer: BoosterTrainer = train_booster,
) -> ChurnModel:
    """Booster on ``train``, early stopping, calibration and operating threshold on ``valid``."""
    y_train = train[label].to_numpy(dtype=np.float64)
    if config.shuffle_labels:
        y_train = np.random.default_rng(config.seed).permutation(y_train)
    y_valid = valid[label].to_numpy(dtype=np.float64)
    x_valid = encode(valid, spec)
    booster = trainer(encode(train, spec), y_train, x_valid, y_valid, spec, config, params)
    raw_valid = np.asarray(booster.predict(x_valid), dtype=np.float64)
    calibration = fit_calibration(raw_valid, y_valid, config.calibration)
    p_valid = calibrate(raw_valid, calibration)
    threshold = operating_threshold(p_valid, config.flag_share)
    return ChurnModel(booster, spec, calibration, threshold)


def operating_threshold(p: NDArray[np.float64], flag_share: float) -> float:
    """The probability above which about ``flag_share`` of the rows are flagged high-risk."""
    return float(np.quantile(p, 1.0 - flag_share)) if len(p) else 1.0
