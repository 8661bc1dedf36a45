"""MLflow plumbing: where the tracking store is, clients, experiments, fingerprints, code version.

The URI comes from settings and is set per call: ``client(settings)`` for registry work and
``tracking(settings)`` around a run that uses MLflow's fluent API; nothing is set at import.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from retain.core.errors import ConfigError
from retain.core.settings import DEFAULT_PROJECT, Settings, sqlalchemy_postgres_url


def tracking_uri(settings: Settings) -> str:
    """The MLflow tracking server when one is set (``mlflow_url``), else the store itself:
    SQLite under the home folder (embedded) or the PostgreSQL URL (production)."""
    if settings.mlflow_url:
        return settings.mlflow_url
    return backend_store_uri(settings)


def backend_store_uri(settings: Settings) -> str:
    """Where runs and registered models are kept: what a tracking server is started on."""
    if settings.profile == "production":
        return sqlalchemy_postgres_url(settings.postgres_url)
    return f"sqlite:///{settings.mlflow_dir / 'mlflow.db'}"


def artifact_location(settings: Settings) -> str | None:
    """Under the home folder, or None with a tracking server: the server keeps the artifacts
    (``mlflow-artifacts:``) and every host reads them through it."""
    if settings.mlflow_url:
        return None
    return (settings.mlflow_dir / "artifacts").absolute().as_uri()


def client(settings: Settings) -> Any:
    """An MlflowClient bound to the settings' tracking and registry store."""
    from mlflow import MlflowClient

    uri = _prepare(settings)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _prepare(settings: Settings) -> str:
    if settings.profile == "embedded" and not settings.mlflow_url:
        settings.mlflow_dir.mkdir(parents=True, exist_ok=True)
    return tracking_uri(settings)


_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@contextmanager
def tracking(settings: Settings) -> Iterator[str]:
    """Point MLflow's fluent API at the settings' store for the duration of the block.

    MLflow keeps the URIs in module globals and environment variables; they are restored on exit
    (through MLflow's own setters) so that nothing leaks into the next caller (a test, or another
    store), and blocks nest.
    """
    import mlflow
    from mlflow.tracking import is_tracking_uri_set

    uri = _prepare(settings)
    saved_env = {k: os.environ.get(k) for k in _URI_VARIABLES}
    # None where nothing was set, so that MLflow falls back to its defaults again. A registry URI
    # set through MLflow is always in its environment variable too.
    saved_tracking = mlflow.get_tracking_uri() if is_tracking_uri_set() else None
    saved_registry = saved_env["MLFLOW_REGISTRY_URI"]
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield uri
    finally:
        mlflow.set_tracking_uri(saved_tracking)  # type: ignore[arg-type]
        mlflow.set_registry_uri(saved_registry)  # type: ignore[arg-type]
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def namespaced(settings: Settings, name: str) -> str:
    """An experiment's or registered model's name in MLflow for this installation.

    Installations sharing one MLflow store (one PostgreSQL) must never see each other's runs or
    move each other's aliases: a project other than the default prefixes every name
    (``bank2.retain-churn``); the default project keeps the plain names.
    """
    return name if settings.project == DEFAULT_PROJECT else f"{settings.project}.{name}"


def experiment_id(settings: Settings, name: str) -> str:
    """The experiment ``name`` (in the installation's namespace), created if new: its artifacts
    under the home folder, or where the tracking server keeps them.

    Raises:
        ConfigError: the tracking store cannot be reached.
    """
    from mlflow.exceptions import MlflowException

    c = client(settings)
    name = namespaced(settings, name)
    try:
        exp = c.get_experiment_by_name(name)
        if exp is not None:
            return str(exp.experiment_id)
        return str(c.create_experiment(name, artifact_location=artifact_location(settings)))
    except MlflowException as e:
        raise ConfigError(f"cannot use the MLflow store {tracking_uri(settings)}: {e}") from e


def fingerprint(frame: pd.DataFrame) -> str:
    """SHA-256 of a frame's columns and values (row order matters; sort before calling)."""
    h = hashlib.sha256()
    h.update("|".join(f"{c}:{frame[c].dtype}" for c in frame.columns).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return h.hexdigest()


def code_version() -> str:
    """The git commit of the checkout (``+dirty`` if changed), else the package version."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
        if commit.returncode == 0 and commit.stdout.strip():
            dirty = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=root,
                capture_output=True,
                text=True,
                timeout=10,
            )
            suffix = "+dirty" if dirty.stdout.strip() else ""
            return commit.stdout.strip() + suffix
    except (OSError, subprocess.SubprocessError):
        pass
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"retain {version('retain')}"
    except PackageNotFoundError:
        return "unknown"


def run_info(
    feature_service: str,
    features: Sequence[str],
    windows: Mapping[str, str],
    horizon_days: int,
    frame: pd.DataFrame,
    **extra: Any,
) -> dict[str, Any]:
    """The lineage every model's run records and carries in its metadata: the feature service and
    its features, the windows, the label horizon, the model's own ``extra`` entries, then a
    fingerprint of the data ``frame`` and the code version."""
    return {
        "feature_service": feature_service,
        "features": list(features),
        **windows,
        "horizon_days": horizon_days,
        **extra,
        "data_fingerprint": fingerprint(frame),
        "code_version": code_version(),
    }


@contextmanager
def quiet_artifacts() -> Iterator[None]:
    """Without a progress bar for copying the artifacts into the model and without pyfunc's
    warnings about pickling our own wrapper class and the missing signature (stderr is for
    progress and errors)."""
    logger = logging.getLogger("mlflow.pyfunc")
    level, bar = logger.level, os.environ.get("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")
    logger.setLevel(logging.ERROR)
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    try:
        yield
    finally:
        logger.setLevel(level)
        if bar is None:
            os.environ.pop("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", None)
        else:
            os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = bar


def requirements() -> list[str]:
    """The pinned libraries a logged model needs."""
    import lightgbm
    import numpy as np

    return [
        f"lightgbm=={lightgbm.__version__}",
        f"numpy=={np.__version__}",
        f"pandas=={pd.__version__}",
    ]


def log_lineage(
    config: Any,
    info: dict[str, Any],
    model_name: str,
    metrics: dict[str, float],
    params: dict[str, Any],
    tags: dict[str, str] | None = None,
) -> None:
    """What every model's run records in the active run: its configuration, the feature service
    and its features, the training window, a fingerprint of the data, the code version and the
    finite metrics, plus the model's own ``params`` and ``tags``."""
    import math
    from dataclasses import asdict

    import mlflow

    mlflow.log_params(asdict(config))
    mlflow.log_params(
        {"feature_service": info["feature_service"], "n_features": len(info["features"]), **params}
    )
    mlflow.set_tags(
        {
            "feature_service": info["feature_service"],
            "data_fingerprint": info["data_fingerprint"],
            "code_version": info["code_version"],
            "train_window": info["train_window"],
            "model_name": model_name,
            **(tags or {}),
        }
    )
    mlflow.log_metrics({k: v for k, v in metrics.items() if math.isfinite(v)})
    mlflow.log_dict(
        {"feature_service": info["feature_service"], "features": info["features"]},
        "feature_service.json",
    )


def log_boosters(model: Any, artifact_dir: str, python_model: Any) -> str:
    """Log a multi-booster model (``model.save(folder)``, ``model.metadata()``) as a pyfunc model
    whose ``artifact_dir`` holds the boosters; returns the model URI."""
    import tempfile

    import mlflow

    with tempfile.TemporaryDirectory() as tmp, quiet_artifacts():
        folder = Path(tmp) / artifact_dir
        model.save(folder)
        logged = mlflow.pyfunc.log_model(
            name="model",
            python_model=python_model,
            artifacts={artifact_dir: str(folder)},
            metadata=model.metadata(),
            pip_requirements=requirements(),
        )
    return str(logged.model_uri)
