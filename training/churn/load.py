"""Load a registered churn model with its calibration and category levels: what serving and
promotion call.

Serving::

    from training.churn.load import load_model
    loaded = load_model(settings)                    # models:/retain-churn@champion
    p = loaded.model.predict_proba(feature_frame)    # calibrated probabilities

The booster is the MLflow LightGBM flavor's native ``lightgbm.Booster`` (``model.lgb``); the
feature spec (order, categorical levels), calibration parameters and operating threshold are in
the MLflow model's metadata (``MLmodel`` -> ``metadata.retain``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeAlias

from retain.core.errors import NotReadyError
from retain.core.settings import Settings
from training import registry
from training.churn.model import METADATA_KEY, ChurnModel
from training.config import MODEL_NAMES

LoadedModel: TypeAlias = registry.Loaded[ChurnModel]


def _read(local: Path, uri: str) -> ChurnModel:
    """The native booster plus retain's metadata of a downloaded churn model.

    Raises:
        NotReadyError: the model lacks retain's metadata.
    """
    import mlflow
    from mlflow.models import Model

    booster = mlflow.lightgbm.load_model(str(local))
    metadata = Model.load(str(local)).metadata or {}
    if METADATA_KEY not in metadata:
        raise NotReadyError(f"{uri} has no calibration and feature metadata: retrain it")
    return ChurnModel.from_metadata(booster, metadata)


def load_version(settings: Settings, name: str, version: str) -> LoadedModel:
    """Load one registered version: native booster plus metadata.

    Raises:
        NotReadyError: the version's files cannot be found or lack retain's metadata.
    """
    return registry.load_version(settings, name, version, _read)


def load_model(
    settings: Settings, name: str = MODEL_NAMES["churn"], alias: str = registry.CHAMPION
) -> LoadedModel:
    """Load ``models:/<name>@<alias>``.

    Raises:
        NotReadyError: no version carries the alias, or its files cannot be read.
    """
    return registry.load_alias(settings, name, alias, "churn", _read)
