"""``--tune N``: optuna search of LightGBM parameters on the validation window, one nested MLflow
run per trial. optuna is optional; without it, tuning fails with one clear line."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from retain.core.columns import LABEL
from retain.core.errors import ConfigError
from training.config import TrainConfig


def require_optuna() -> None:
    """Raises:
    ConfigError: optuna is not installed."""
    try:
        import optuna  # noqa: F401
    except ImportError as e:
        raise ConfigError(
            "--tune needs optuna, which is not installed: "
            "pip install optuna (or train without --tune)"
        ) from e


def tune(
    train: pd.DataFrame, valid: pd.DataFrame, features: list[str], config: TrainConfig, trials: int
) -> dict[str, Any]:
    """Search parameters by validation AUC; each trial is a nested run of the active run.

    Args:
        train, valid: the train and validation windows of the training frame.
        features: the feature service's features, in its order.
        config: the training configuration the trials vary.
        trials: how many trials optuna runs.

    Returns:
        The best trial's LightGBM parameters.
    """
    require_optuna()
    import mlflow
    import optuna

    from training.churn.model import train_booster
    from training.encode import encode, fit_spec
    from training.metrics import roc_auc

    spec = fit_spec(train, features)
    x_train, x_valid = encode(train, spec), encode(valid, spec)
    y_train = train[LABEL].to_numpy(dtype=np.float64)
    y_valid = valid[LABEL].to_numpy(dtype=np.float64)

    parent = mlflow.active_run()
    if parent is None:
        raise RuntimeError("tune() runs inside the training run")

    def objective(trial: Any) -> float:
        params = {
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 8, 128, log=True),
            "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 20, 500, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 10.0, log=True),
        }
        with mlflow.start_run(
            experiment_id=parent.info.experiment_id,
            nested=True,
            run_name=f"trial-{trial.number}",
        ):
            booster = train_booster(x_train, y_train, x_valid, y_valid, spec, config, params)
            auc = roc_auc(y_valid, booster.predict(x_valid))
            mlflow.log_params(params)
            mlflow.log_metric("valid_roc_auc", auc)
        return auc

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=config.seed)
    )
    study.optimize(objective, n_trials=trials)
    return dict(study.best_params)
