"""The MLflow model registry as every model meets it: the two aliases, the version an alias points
at, registering a new challenger, and loading a registered version's files.

Names here are the installation's own (``retain-churn``); in MLflow they carry the project
when it is not the default (:func:`training.tracking.namespaced`). Training registers each new
version as ``challenger``; promotion (``training.promote``) moves
``champion``; serving loads ``models:/<name>@champion``. Each model's ``load.py`` is a few lines on
top of :func:`load_alias` and :func:`load_version`: its registered name, how to read the
downloaded folder, and what it returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from retain.core.errors import NotReadyError
from retain.core.settings import Settings
from training.tracking import client, namespaced, quiet_artifacts, tracking

CHAMPION = "champion"
"""The alias serving loads; only promotion and rollback move it."""
CHALLENGER = "challenger"
"""The alias every training run gives the version it registers."""

M = TypeVar("M")


@dataclass
class Loaded(Generic[M]):
    """A registered version, loaded: the model and where it came from."""

    name: str
    version: str
    model: M
    run_id: str | None


def version_by_alias(settings: Settings, name: str, alias: str) -> Any | None:
    """The model version an alias points at, or None when the alias (or model) does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return client(settings).get_model_version_by_alias(namespaced(settings, name), alias)
    except MlflowException:
        return None


def register_challenger(
    settings: Settings, model_uri: str, name: str, run_id: str, description: str
) -> str:
    """Register ``model_uri`` as a new version of ``name`` (created with ``description`` if new)
    and give it the alias ``challenger``; returns the version."""
    from mlflow.exceptions import MlflowException
    from mlflow.store.artifact.utils.models import _parse_model_id_if_present

    c = client(settings)
    name = namespaced(settings, name)
    try:
        c.get_registered_model(name)
    except MlflowException:
        c.create_registered_model(name, description=description)
    # A logged model's URI (models:/m-...) must name its model id: a tracking server checks it.
    model_id = _parse_model_id_if_present(model_uri)
    mv = c.create_model_version(name, model_uri, run_id=run_id, model_id=model_id)
    c.set_registered_model_alias(name, CHALLENGER, mv.version)
    return str(mv.version)


def load_version(
    settings: Settings,
    name: str,
    version: str,
    read: Callable[[Path, str], M],
    what: str = "",
    run_id: str | None = None,
) -> Loaded[M]:
    """Download ``models:/<name>/<version>``'s files and read them with ``read``.

    Args:
        read: (folder of the downloaded MLflow model, its ``models:/`` URI for messages) -> the
            model; raises ``OSError``, ``ValueError`` or ``KeyError`` when the files are not what
            it expects.
        what: said after the URI when loading fails (`` as an uplift model``).
        run_id: the version's run, when the caller already has it (else it is looked up).

    Raises:
        NotReadyError: the version's files cannot be found or read.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    registered = namespaced(settings, name)
    uri = f"models:/{registered}/{version}"
    try:
        with tracking(settings), quiet_artifacts():
            local = mlflow.artifacts.download_artifacts(artifact_uri=uri)
            model = read(Path(local), uri)
        if run_id is None:
            run_id = client(settings).get_model_version(registered, version).run_id
    except (MlflowException, OSError, ValueError, KeyError) as e:
        raise NotReadyError(f"cannot load {uri}{what}: {e}") from e
    return Loaded(name, str(version), model, run_id)


def load_alias(
    settings: Settings,
    name: str,
    alias: str,
    kind: str,
    read: Callable[[Path, str], M],
    what: str = "",
) -> Loaded[M]:
    """Load the version ``models:/<name>@<alias>`` points at (see :func:`load_version`).

    Args:
        kind: the model's command-line name (``churn``), for the hint when nothing is there.

    Raises:
        NotReadyError: no version carries the alias, or its files cannot be read.
    """
    mv = version_by_alias(settings, name, alias)
    if mv is None:
        raise NotReadyError(
            f"no {name}@{alias}: run `retain train {kind}`"
            + (f" and `retain promote {kind}`" if alias == CHAMPION else "")
        )
    return load_version(settings, name, str(mv.version), read, what, mv.run_id)
