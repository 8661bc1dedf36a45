"""Load ``models:/retain-propensity@<alias>`` for serving and evaluation, boosters read natively."""

from __future__ import annotations

from pathlib import Path

from retain.core.errors import NotReadyError
from retain.core.settings import Settings
from training.config import MODEL_NAMES
from training.propensity.model import ARTIFACT_DIR, PropensityModel
from training.tracking import quiet_artifacts, tracking


def load_propensity(settings: Settings, alias: str = "champion") -> tuple[PropensityModel, str]:
    """Load ``models:/retain-propensity@<alias>`` with its boosters read natively.

    Returns:
        The model and its registry version.

    Raises:
        NotReadyError: no version carries the alias, or its files cannot be read.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    from training.churn.load import version_by_alias

    name = MODEL_NAMES["propensity"]
    mv = version_by_alias(settings, name, alias)
    if mv is None:
        raise NotReadyError(
            f"no {name}@{alias}: run `retain train propensity`"
            + (" and `retain promote propensity`" if alias == "champion" else "")
        )
    uri = f"models:/{name}/{mv.version}"
    try:
        with tracking(settings), quiet_artifacts():
            local = mlflow.artifacts.download_artifacts(artifact_uri=uri)
        model = PropensityModel.load(Path(local) / "artifacts" / ARTIFACT_DIR)
    except (MlflowException, OSError, ValueError, KeyError) as e:
        raise NotReadyError(f"cannot load {uri} as a propensity model: {e}") from e
    return model, str(mv.version)
