"""Load ``models:/retain-uplift@<alias>`` for serving and evaluation: the boosters read natively."""

from __future__ import annotations

from pathlib import Path

from retain.core.errors import NotReadyError
from retain.core.settings import Settings
from training.config import MODEL_NAMES
from training.tracking import quiet_artifacts, tracking
from training.uplift.model import ARTIFACT_DIR, UpliftModel

MODEL_NAME = MODEL_NAMES["uplift"]


def load_uplift(settings: Settings, alias: str = "champion") -> tuple[UpliftModel, str]:
    """Load ``models:/retain-uplift@<alias>`` with its boosters read natively.

    Returns:
        The model and its registry version.

    Raises:
        NotReadyError: no version carries the alias, or its files cannot be read.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    from training.churn.load import version_by_alias

    mv = version_by_alias(settings, MODEL_NAME, alias)
    if mv is None:
        raise NotReadyError(
            f"no {MODEL_NAME}@{alias}: run `retain train uplift` and `retain promote uplift`"
        )
    uri = f"models:/{MODEL_NAME}/{mv.version}"
    try:
        with tracking(settings), quiet_artifacts():
            local = mlflow.artifacts.download_artifacts(artifact_uri=uri)
        model = UpliftModel.load(Path(local) / "artifacts" / ARTIFACT_DIR)
    except (MlflowException, OSError, ValueError, KeyError) as e:
        raise NotReadyError(f"cannot load {uri} as an uplift model: {e}") from e
    return model, str(mv.version)
