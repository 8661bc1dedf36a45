"""Load ``models:/retain-propensity@<alias>`` for serving and evaluation, boosters read natively."""

from __future__ import annotations

from pathlib import Path

from retain.core.settings import Settings
from training import registry
from training.config import MODEL_NAMES
from training.propensity.model import ARTIFACT_DIR, PropensityModel


def _read(local: Path, uri: str) -> PropensityModel:
    return PropensityModel.load(local / "artifacts" / ARTIFACT_DIR)


def load_propensity(
    settings: Settings, alias: str = registry.CHAMPION
) -> tuple[PropensityModel, str]:
    """Load ``models:/retain-propensity@<alias>`` with its boosters read natively.

    Returns:
        The model and its registry version.

    Raises:
        NotReadyError: no version carries the alias, or its files cannot be read.
    """
    loaded = registry.load_alias(
        settings, MODEL_NAMES["propensity"], alias, "propensity", _read, " as a propensity model"
    )
    return loaded.model, loaded.version
