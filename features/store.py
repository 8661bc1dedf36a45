"""The Feast store by configuration alone, and the job that registers the repo: apply
(``features.materialize`` loads the online store).

Profiles (``Settings.profile``):

- ``embedded``: file offline store (Parquet folders), SQLite online store and a file registry under
  ``Settings.feast_dir``.
- ``production``: the same offline store, Redis online store (``Settings.redis_url``) and a
  PostgreSQL SQL registry (``Settings.postgres_url``, psycopg3 driver).

The Feast project name is ``Settings.project``. ``apply`` writes the configuration to
``Settings.feast_dir / "feature_store.yaml"`` so that the ``feast`` command line sees the same
registry and online store. From the repository root, with the same ``RETAIN_HOME``::

    feast -c features/repo -f $RETAIN_HOME/feast/feature_store.yaml feature-views list
    feast -c features/repo -f $RETAIN_HOME/feast/feature_store.yaml feature-services list

``feast ... apply`` works too: Feast imports every ``.py`` file of ``features/repo``, whose single
module builds the objects from ``Settings.load()``.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from features.build import read_schema
from features.schema import BUILT_SOURCES, source_schema
from retain.core.columns import AS_OF
from retain.core.errors import ConfigError, DataError, NotReadyError
from retain.core.settings import Settings, sqlalchemy_postgres_url

if TYPE_CHECKING:
    from feast import FeatureStore

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def redis_connection_string(url: str) -> str:
    """``redis://[user:password@]host:port/db`` -> Feast's ``host:port,db=N[,password=...]``.

    Raises:
        ConfigError: the URL is not a redis:// or rediss:// URL.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ConfigError(f"redis_url {url!r} is not of the form redis://host:port/db")
    items = [f"{parts.hostname}:{parts.port or 6379}"]
    db = parts.path.strip("/")
    if db:
        if not db.isdigit():
            raise ConfigError(f"redis_url {url!r}: the database must be a number")
        items.append(f"db={db}")
    if parts.username:
        items.append(f"username={unquote(parts.username)}")
    if parts.password:
        items.append(f"password={unquote(parts.password)}")
    if parts.scheme == "rediss":
        items.append("ssl=true")
    return ",".join(items)


def store_config(settings: Settings) -> dict[str, Any]:
    """The content of ``feature_store.yaml`` for the settings' profile."""
    config: dict[str, Any] = {
        "project": settings.project,
        "provider": "local",
        "offline_store": {"type": "file"},
        "entity_key_serialization_version": 3,
    }
    if settings.profile == "production":
        config["registry"] = {
            "registry_type": "sql",
            "path": sqlalchemy_postgres_url(settings.postgres_url),
            "cache_ttl_seconds": 60,
            "sqlalchemy_config_kwargs": {"pool_pre_ping": True},
        }
        config["online_store"] = {
            "type": "redis",
            "connection_string": redis_connection_string(settings.redis_url),
        }
    else:
        config["registry"] = {
            "registry_type": "file",
            "path": str(settings.feast_dir / "registry.db"),
            "cache_ttl_seconds": 60,
        }
        config["online_store"] = {"type": "sqlite", "path": str(settings.feast_dir / "online.db")}
    return config


def write_store_yaml(settings: Settings) -> Path:
    """Write ``feature_store.yaml`` under ``settings.feast_dir`` atomically; return its path."""
    path = settings.feast_dir / "feature_store.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(yaml.safe_dump(store_config(settings), sort_keys=False))
    tmp.replace(path)
    return path


def open_store(settings: Settings) -> FeatureStore:
    """A Feast ``FeatureStore`` for the settings, configured in code (no file needed).

    Raises:
        ConfigError: the configuration is invalid or the registry cannot be reached.
    """
    from feast import FeatureStore
    from feast.repo_config import RepoConfig

    repo = Path(__file__).parent / "repo"
    try:
        config = RepoConfig(repo_path=repo, **store_config(settings))
        return FeatureStore(config=config, repo_path=str(repo))
    except ConfigError:
        raise
    except Exception as e:  # Feast and SQLAlchemy raise many kinds; this is the boundary
        raise ConfigError(f"cannot open the feature store ({settings.profile}): {_short(e)}") from e


@contextlib.contextmanager
def reachable(settings: Settings) -> Iterator[None]:
    """Turn a server that cannot be reached (PostgreSQL registry, Redis online store) into one
    line that says which server and which setting to check.

    Raises:
        ConfigError: a connection to the registry or the online store failed.
    """
    import redis
    import sqlalchemy.exc

    try:
        yield
    except sqlalchemy.exc.OperationalError as e:
        raise ConfigError(
            f"cannot reach the PostgreSQL feature registry at {settings.postgres_url} "
            f"({_short(e.orig or e)}): start it or fix postgres_url"
        ) from e
    except redis.exceptions.ConnectionError as e:
        raise ConfigError(
            f"cannot reach the Redis online store at {settings.redis_url} ({_short(e)}): "
            "start it or fix redis_url"
        ) from e


def _short(e: BaseException) -> str:
    text = str(e).strip()
    return (text.splitlines()[0] if text else type(e).__name__)[:300]


def check_sources(settings: Settings) -> None:
    """Every source folder exists with readable parts of the expected schema.

    Raises:
        DataError: a folder is missing (run ``retain features build``) or a part is corrupt.
    """
    for name in BUILT_SOURCES:
        folder = settings.sources_dir / name
        parts = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
        if not parts:
            raise DataError(
                f"feature source {name!r} is missing at {folder}: run `retain features build`"
            )
        expected = source_schema(name)
        for part in parts:
            schema = read_schema(part)
            if not all(n in schema.names for n in expected.names):
                raise DataError(
                    f"{part} does not have the columns of source {name!r}: "
                    "run `retain features build` again"
                )


def latest_month_end(settings: Settings) -> datetime:
    """The latest snapshot time in the monthly sources (from Parquet statistics when present).

    Raises:
        DataError: a part cannot be read or the sources are empty.
    """
    latest: datetime | None = None
    for part in sorted((settings.sources_dir / "balances_flows").glob("*.parquet")):
        try:
            meta = pq.read_metadata(part)
            column = meta.schema.to_arrow_schema().get_field_index(AS_OF)
            stats = [
                meta.row_group(i).column(column).statistics for i in range(meta.num_row_groups)
            ]
            if stats and all(s is not None and s.has_min_max for s in stats):
                values = [pa.scalar(s.max, type=pa.timestamp("us")).as_py() for s in stats]
                found = max(values).replace(tzinfo=UTC)
            else:
                found = pq.read_table(part, columns=[AS_OF])[AS_OF].to_pandas().max()
                found = found.to_pydatetime() if found is not None else None
        except (pa.ArrowException, OSError, TypeError, ValueError) as e:
            raise DataError(f"corrupt or unreadable Parquet file {part}: {_short(e)}") from e
        if found is not None and (latest is None or found > latest):
            latest = found
    if latest is None:
        raise DataError(
            f"the feature sources at {settings.sources_dir} have no rows: "
            "run `retain features build`"
        )
    return latest


def applied_store(settings: Settings) -> FeatureStore:
    """Open the store and check that ``apply`` has registered the repo's feature views.

    Raises:
        NotReadyError: nothing was applied yet for this project.
    """
    if settings.profile != "production" and not (settings.feast_dir / "registry.db").exists():
        raise NotReadyError("the feature store has no registry yet: run `retain features apply`")
    store = open_store(settings)
    try:
        with reachable(settings):
            names = {v.name for v in store.list_feature_views()}
    except ConfigError:
        raise
    except Exception as e:
        raise NotReadyError(
            f"cannot read the feature registry ({_short(e)}): run `retain features apply`"
        ) from e
    missing = set(BUILT_SOURCES) - names
    if missing:
        raise NotReadyError(
            f"feature view(s) {', '.join(sorted(missing))} not registered in project "
            f"{settings.project!r}: run `retain features apply`"
        )
    return store


@dataclass(frozen=True)
class ApplySummary:
    project: str
    feature_views: list[str]
    feature_services: list[str]
    store_yaml: Path


def apply(settings: Settings) -> ApplySummary:
    """Register the repo's objects in the registry and set up the online store's tables.

    Objects of the project that the repo no longer defines are removed.

    Raises:
        DataError: the feature sources are missing or corrupt.
    """
    from features.definitions import build_definitions

    check_sources(settings)
    definitions = build_definitions(settings.sources_dir)
    settings.feast_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(settings)
    keep = {o.name for o in definitions.objects()}
    stale: list[Any] = []
    with contextlib.suppress(Exception):  # a fresh project has nothing to list
        stale += [v for v in store.list_feature_views() if v.name not in keep]
        stale += [v for v in store.list_on_demand_feature_views() if v.name not in keep]
        stale += [s for s in store.list_feature_services() if s.name not in keep]
    with reachable(settings), contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
        # Feast warns that on-demand views are experimental on every apply; we know.
        warnings.filterwarnings("ignore", message="On demand feature view is an experimental")
        store.apply(definitions.objects(), objects_to_delete=stale, partial=not stale)
    path = write_store_yaml(settings)
    return ApplySummary(
        project=settings.project,
        feature_views=list(definitions.views) + [definitions.request_time.name],
        feature_services=list(definitions.services),
        store_yaml=path,
    )


def teardown(settings: Settings) -> None:
    """Remove a project: its online tables, its Redis keys and its registry rows.

    Used to clean up after tests and benchmarks that share the production Redis and PostgreSQL.
    """
    open_store(settings).teardown()
    if settings.profile != "production":
        return
    import redis
    import sqlalchemy

    client = redis.Redis.from_url(settings.redis_url)
    for key in client.scan_iter(match=b"*" + settings.project.encode()):
        client.delete(key)
    engine = sqlalchemy.create_engine(sqlalchemy_postgres_url(settings.postgres_url))
    try:
        with engine.begin() as conn:
            inspector = sqlalchemy.inspect(conn)
            for table in inspector.get_table_names():
                if "project_id" in {c["name"] for c in inspector.get_columns(table)}:
                    conn.execute(
                        sqlalchemy.text(f'DELETE FROM "{table}" WHERE project_id = :p'),
                        {"p": settings.project},
                    )
    finally:
        engine.dispose()
