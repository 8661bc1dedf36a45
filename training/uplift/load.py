"""Load ``models:/retain-uplift@<alias>`` for serving and evaluation: the boosters read natively."""

from __future__ import annotations

from pathlib import Path

from retain.core.settings import Settings
from training import registry
from training.config import MODEL_NAMES
from training.uplift.model import ARTIFACT_DIR, UpliftModel

MODEL_NAME = MODEL_NAMES["uplift"]


def _read(local: Path, uri: str) -> UpliftModel:
    return UpliftModel.load(local / "artifacts" / ARTIFACT_DIR)


def load_uplift(settings: Settings, alias: str = registry.CHAMPION) -> tuple[UpliftModel, str]:
    """Load ``models:/retain-uplift@<alias>`` with its boosters read natively.

    Returns:
        The model and its registry version.

    Raises:
        NotReadyError: no version carries the alias, or its files cannot be read.
    """
    loaded = registry.load_alias(
        settings, MODEL_NAME, alias, "uplift", _read, " as an uplift model"
    )
    return loaded.model, loaded.version
