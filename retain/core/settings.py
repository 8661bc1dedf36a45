"""Settings read once by an entry point and passed down; nothing here runs at import time.

Everything retain keeps lives under one home folder (``RETAIN_HOME``, default ``.retain``).
The profile chooses the infrastructure by configuration alone:

- ``embedded`` (default): Parquet files, SQLite online store and registry, MLflow on SQLite.
- ``production``: Redis online store, PostgreSQL Feast registry and MLflow backend.

Values come from ``$RETAIN_HOME/retain.toml`` when present, then from environment variables
(``RETAIN_PROFILE``, ``RETAIN_REDIS_URL``, ``RETAIN_POSTGRES_URL``, ``RETAIN_PROJECT``,
``RETAIN_MLFLOW_URL``, ``RETAIN_DASK_SCHEDULER``), which win.
"""

from __future__ import annotations

import os
import tomllib
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from retain.core.errors import ConfigError

ProfileName = Literal["embedded", "production"]
PROFILES: tuple[str, ...] = ("embedded", "production")
DEFAULT_PROJECT = "retain"
KEYS: tuple[str, ...] = (
    "profile",
    "redis_url",
    "postgres_url",
    "project",
    "mlflow_url",
    "dask_scheduler",
)
"""The settings ``retain.toml`` and the ``RETAIN_<KEY>`` variables may give."""


@dataclass(frozen=True)
class Settings:
    """Where retain keeps its state and which infrastructure it talks to."""

    home: Path = field(default_factory=lambda: Path(".retain").absolute())
    profile: ProfileName = "embedded"
    redis_url: str = "redis://127.0.0.1:6379/0"
    postgres_url: str = "postgresql://postgres@127.0.0.1:5432/test"
    # Isolates several retain installations (or test runs) sharing one Redis or PostgreSQL.
    project: str = DEFAULT_PROJECT
    # An MLflow tracking server (``retain tracking-server``) instead of the store itself: every
    # host then reads runs, models and their artifacts through it.
    mlflow_url: str = ""
    # A Dask scheduler (``tcp://host:8786``): ``retain score`` and ``retain train churn`` then run
    # on its workers, which must see the same home folder and MLflow store. Empty: this machine.
    dask_scheduler: str = ""

    @property
    def data_dir(self) -> Path:
        """Raw bank tables (simulated or ingested)."""
        return self.home / "data"

    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "raw"

    @property
    def sources_dir(self) -> Path:
        """Feature sources the Feast repo reads (built from the raw tables)."""
        return self.data_dir / "sources"

    @property
    def feast_dir(self) -> Path:
        return self.home / "feast"

    @property
    def mlflow_dir(self) -> Path:
        return self.home / "mlflow"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    def with_home(self, home: Path) -> Settings:
        return replace(self, home=home.absolute())

    @classmethod
    def load(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read settings from the home folder's ``retain.toml`` and the environment.

        Raises:
            ConfigError: the home path is not a folder, the file is not valid TOML,
                or a value is unknown.
        """
        env = dict(os.environ if environ is None else environ)
        home = Path(env.get("RETAIN_HOME", ".retain")).expanduser().absolute()
        if home.exists() and not home.is_dir():
            raise ConfigError(f"RETAIN_HOME={home} is a file, not a folder: point it at a folder")
        values: dict[str, str] = {}
        config_file = home / "retain.toml"
        data = read_toml(config_file)
        if data is not None:
            unknown = set(data) - set(KEYS)
            if unknown:
                raise ConfigError(
                    f"{config_file}: unknown setting(s) {', '.join(sorted(unknown))}; "
                    f"known: {', '.join(KEYS)}"
                )
            values.update({k: str(v) for k, v in data.items()})
        for key in KEYS:
            if f"RETAIN_{key.upper()}" in env:
                values[key] = env[f"RETAIN_{key.upper()}"]
        profile = values.get("profile", "embedded")
        if profile not in PROFILES:
            raise ConfigError(f"unknown profile {profile!r}: use one of {', '.join(PROFILES)}")
        return cls(home=home, **values)  # type: ignore[arg-type]


def read_toml(path: Path) -> dict[str, Any] | None:
    """An optional configuration file in the home folder: its contents, or None when absent.

    Raises:
        ConfigError: the file exists but cannot be read or is not valid TOML.
    """
    if not path.exists():
        return None
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"cannot read {path}: {e}") from e


def sqlalchemy_postgres_url(url: str) -> str:
    """The SQLAlchemy form (psycopg 3 driver) of a PostgreSQL URL, for Feast's registry and MLflow.

    Raises:
        ConfigError: the URL is not a PostgreSQL URL.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+")[0] not in ("postgresql", "postgres"):
        raise ConfigError(f"postgres_url {url!r} is not of the form postgresql://user@host/db")
    return f"postgresql+psycopg://{rest}"


def check_home(settings: Settings) -> None:
    """Make the home folder if needed and check it can be written.

    Raises:
        ConfigError: the home folder cannot be made or written.
    """
    home = settings.home
    try:
        home.mkdir(parents=True, exist_ok=True)
        probe = home / f".write-check-{uuid.uuid4().hex[:8]}"
        probe.touch()
        probe.unlink()
    except OSError as e:
        reason = e.strerror or str(e)
        raise ConfigError(f"cannot write to the home folder RETAIN_HOME={home}: {reason}") from e
