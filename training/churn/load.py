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

from dataclasses import dataclass
from typing import Any

from retain.core.errors import NotReadyError
from retain.core.settings import Settings
from training.churn.model import ChurnModel
from training.config import MODEL_NAMES
from training.tracking import client, quiet_artifacts, tracking


@dataclass
class LoadedModel:
    name: str
    version: str
    model: ChurnModel
    run_id: str | None


def version_by_alias(settings: Settings, name: str, alias: str) -> Any | None:
    """The model version an alias points at, or None when the alias (or model) does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return client(settings).get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def load_version(settings: Settings, name: str, version: str) -> LoadedModel:
    """Load one registered version: native booster plus metadata.

    Raises:
        NotReadyError: the version's files cannot be found or lack retain's metadata.
    """
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.models import Model

    uri = f"models:/{name}/{version}"
    try:
        with tracking(settings), quiet_artifacts():
            local = mlflow.artifacts.download_artifacts(artifact_uri=uri)
            booster = mlflow.lightgbm.load_model(local)
            metadata = Model.load(local).metadata or {}
        mv = client(settings).get_model_version(name, version)
    except (MlflowException, OSError) as e:
        raise NotReadyError(f"cannot load {uri}: {e}") from e
    if "retain" not in metadata:
        raise NotReadyError(f"{uri} has no calibration and feature metadata: retrain it")
    return LoadedModel(name, str(version), ChurnModel.from_metadata(booster, metadata), mv.run_id)


def load_model(
    settings: Settings, name: str = MODEL_NAMES["churn"], alias: str = "champion"
) -> LoadedModel:
    """Load ``models:/<name>@<alias>``.

    Raises:
        NotReadyError: no version carries the alias.
    """
    mv = version_by_alias(settings, name, alias)
    if mv is None:
        raise NotReadyError(
            f"no {name}@{alias}: run `retain train churn`"
            + (" and `retain promote churn`" if alias == "champion" else "")
        )
    return load_version(settings, name, str(mv.version))
