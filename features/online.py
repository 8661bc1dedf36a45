"""One online read of a FeatureService for a batch of customers, without Feast's per-call overhead.

``FeatureStore.get_online_features`` spends most of a single-customer call (about 11 of 14 ms on
the embedded store) running the on-demand view through pandas and building its response. The
reader here keeps what matters and drops the rest:

- the feature views, their columns and the on-demand views are ``features.plan.read_plan`` of the
  registered FeatureService, read once at start-up: the plan the offline frames follow too;
- each feature view is one ``online_read`` of the store for the whole batch;
- an on-demand view whose definition is in ``FAST_TRANSFORMS`` (``request_time``: the function its
  registered transformation calls, ``features.request_time.request_time_features``) runs it on
  numpy arrays, after a start-up check that it gives the registered function's values (the
  registry may hold another version); any other on-demand view runs the registered function;
- feature views outside the service (``extra_views``: the service's ``customer_segments``) are
  read in the same call, one ``online_read`` each, into the same columns; they say nothing about
  whether the customer is found or current. One that is not registered is left out with a
  warning (its columns are then absent, which readers take as unknown).

The integration tests compare the values with ``get_online_features`` and the scores with offline
features at the same time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from features.plan import OnDemandRead, ViewRead, read_plan
from features.request_time import request_time_features
from features.schema import REQUEST_TIME
from features.store import store_config
from retain.core.columns import KEY
from retain.core.errors import ConfigError, NotReadyError, OnlineStoreError
from retain.core.settings import Settings

if TYPE_CHECKING:
    from feast import FeatureStore

logger = logging.getLogger(__name__)

Columns = dict[str, Any]
"""Feature name -> values of the batch (a list with None for missing, or a float array)."""


def serving_store_config(settings: Settings, timeout_s: float) -> dict[str, Any]:
    """``features.store.store_config`` with connect and read timeouts on Redis.

    redis-py takes them from Feast's connection string. Without timeouts a dead host hangs; with
    redis-py's default retries (backoff 1, 2, 4 s ...) a refused connection takes over 10 s. A
    read fails at once instead (the service answers 503), and the caller may retry.
    """
    config = store_config(settings)
    online = config["online_store"]
    if online.get("type") == "redis":
        online["connection_string"] += (
            f",socket_connect_timeout={timeout_s},socket_timeout={timeout_s},retry=null"
        )
    return config


def open_serving_store(settings: Settings, timeout_s: float) -> FeatureStore:
    """The Feast store of the settings, with the timeouts of ``serving_store_config``.

    Raises:
        NotReadyError: the embedded store has no registry yet.
        ConfigError: the configuration is invalid or the registry cannot be read.
    """
    from feast import FeatureStore
    from feast.repo_config import RepoConfig

    import features.store

    config = serving_store_config(settings, timeout_s)
    if settings.profile != "production" and not (settings.feast_dir / "registry.db").exists():
        raise NotReadyError("the feature store has no registry yet: run `retain features apply`")
    repo = Path(features.store.__file__).parent / "repo"
    try:
        return FeatureStore(config=RepoConfig(repo_path=repo, **config), repo_path=str(repo))
    except Exception as e:  # Feast and SQLAlchemy raise many kinds; this is the boundary
        raise ConfigError(f"cannot open the feature store ({settings.profile}): {e}") from e


FastTransform = Callable[[Mapping[str, NDArray[np.float64]]], dict[str, Any]]
"""A pure function over columns: numpy float arrays by name in, arrays by name out."""

FAST_TRANSFORMS: dict[str, FastTransform] = {
    "request_time": request_time_features,
}
"""On-demand view name -> the function its registered transformation calls (checked at start-up
against the registered one)."""


@dataclass(frozen=True)
class _OnDemand:
    """An on-demand view of the plan, ready to run on a batch."""

    read: OnDemandRead
    inputs: tuple[str, ...]  # the plan's inputs, then the request time
    udf: Callable[..., Any]
    fast: FastTransform | None


@dataclass
class FeatureRows:
    """What the online store holds for a batch of customers.

    Attributes:
        ids: the customer ids asked for, in order.
        columns: every feature of the service (and the on-demand views' inputs).
        found: the customer has a profile in the store.
        current: the customer has a current monthly snapshot (is still with the bank).
        snapshot_at: time of the latest monthly snapshot, or None.
        request_epoch_s: the time the on-demand features were computed at.
    """

    ids: list[int]
    columns: Columns
    found: list[bool]
    current: list[bool]
    snapshot_at: list[datetime | None]
    request_epoch_s: NDArray[np.int64]

    def row(self, i: int, names: Sequence[str]) -> dict[str, Any]:
        """One customer's values of ``names``, as JSON-friendly Python values."""
        return {n: _plain(self.columns[n][i]) for n in names if n in self.columns}


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and v != v:
        return None
    return v


def _value(v: Any) -> Any:
    """A Feast ``ValueProto`` -> Python value (None for null)."""
    kind = v.WhichOneof("val")
    if kind is None or kind == "null_val":
        return None
    return getattr(v, kind)


class OnlineFeatures:
    """Reads the features of one FeatureService for batches of customers.

    Args:
        store: the Feast store.
        service: the FeatureService whose features are read.
        extra_views: feature views outside the service to read in the same call, all their
            features (``customer_segments``); one not registered is skipped with a warning.

    Raises (at construction):
        NotReadyError: the service is not registered.
        ConfigError: an on-demand view needs a request input other than the scoring time, a
            projection is aliased, or the service has no monthly (TTL'd) view.
    """

    def __init__(self, store: FeatureStore, service: str, extra_views: Sequence[str] = ()) -> None:
        self.plan = read_plan(store, service)
        self.store = store
        self.service = service
        self._provider = store._get_provider()  # the provider's online_read is Feast's own path
        self.features: list[str] = list(self.plan.features)
        if self.plan.aliased:
            raise ConfigError(f"{self.plan.aliased[0]}: aliased projections are not supported")
        self._on_demand: list[_OnDemand] = []
        for read in self.plan.on_demand:
            extra = [c for c in read.request_inputs if c != REQUEST_TIME]
            if extra:
                raise ConfigError(
                    f"on-demand view {read.name} needs request input(s) {extra}: "
                    "the service only supplies the scoring time"
                )
            inputs = [*read.inputs, *read.request_inputs]
            transformation = read.view.feature_transformation
            if transformation is None:
                raise ConfigError(f"on-demand view {read.name} has no transformation")
            udf = transformation.udf
            fast = self._checked_fast(read.name, udf, inputs, list(read.outputs))
            self._on_demand.append(_OnDemand(read, tuple(inputs), udf, fast))
        # A TTL'd (monthly) view: a customer's row in it says the customer is current.
        if not any(v.ttl is not None for v in self.plan.views):
            raise ConfigError(f"feature service {service!r} has no monthly (TTL'd) feature view")
        planned = {v.name for v in self.plan.views}
        self.extra: tuple[ViewRead, ...] = tuple(
            read
            for read in (_view_read(store, n) for n in extra_views if n not in planned)
            if read is not None
        )

    def _checked_fast(
        self, name: str, udf: Callable[..., Any], inputs: list[str], outputs: list[str]
    ) -> FastTransform | None:
        """The fast definition of an on-demand view if it gives the registered function's
        values."""
        import pandas as pd

        fast = FAST_TRANSFORMS.get(name)
        if fast is None:
            return None
        rng = np.random.default_rng(0)
        probe = {
            c: np.where(rng.random(64) < 0.2, np.nan, rng.integers(10**9, 2 * 10**9, 64))
            for c in inputs
        }
        probe[REQUEST_TIME] = rng.integers(2 * 10**9, 3 * 10**9, 64).astype(np.float64)
        try:
            expected = udf(pd.DataFrame(probe))
            got = fast(probe)
            same = all(
                np.allclose(
                    expected[o].to_numpy(dtype=np.float64), got[o], rtol=0, atol=0, equal_nan=True
                )
                for o in outputs
            )
        except Exception:  # a changed registered function: fall back to it
            same = False
        if not same:
            logger.warning("on-demand view %s changed: running its registered function", name)
            return None
        return fast

    def read(self, ids: Sequence[int], request_time: str = "feature_time") -> FeatureRows:
        """Read the batch: one ``online_read`` per feature view, then the on-demand views.

        Args:
            ids: customer ids (64-bit integers).
            request_time: ``feature_time`` (the latest snapshot time) or ``now``.

        Raises:
            OnlineStoreError: the online store cannot be reached or read.
        """
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.protos.feast.types.Value_pb2 import Value

        n = len(ids)
        keys = [EntityKey(join_keys=[KEY], entity_values=[Value(int64_val=i)]) for i in ids]
        columns: Columns = {}
        found = [False] * n
        current = [False] * n
        snapshot_s = np.full(n, np.nan)
        for read in self.plan.views:
            rows = self._online_read(read, keys)
            snapshot = read.ttl is not None  # a monthly row: the customer is current
            for i, (ts, values) in enumerate(rows):
                if values is None:
                    continue
                if snapshot:
                    current[i] = True
                    if ts is not None:
                        snapshot_s[i] = np.fmax(snapshot_s[i], ts.timestamp())
                else:
                    found[i] = True
            columns.update(_columns(read, rows, n))
        for read in self.extra:
            columns.update(_columns(read, self._online_read(read, keys), n))
        found = [f or c for f, c in zip(found, current, strict=True)]
        if request_time == "now":
            request = np.full(n, int(time.time()), dtype=np.int64)
        else:
            request = np.where(np.isnan(snapshot_s), time.time(), snapshot_s).astype(np.int64)
        for odfv in self._on_demand:
            columns.update(self._transform(odfv, columns, request))
        snapshot_at = [
            None if np.isnan(s) else datetime.fromtimestamp(s, tz=UTC) for s in snapshot_s
        ]
        return FeatureRows(list(ids), columns, found, current, snapshot_at, request)

    def _online_read(self, read: ViewRead, keys: list[Any]) -> list[Any]:
        """The provider's ``online_read`` of one view: (timestamp, values or None) per key.

        Raises:
            OnlineStoreError: the online store cannot be read.
        """
        try:
            return list(
                self._provider.online_read(
                    config=self.store.config,
                    table=read.view,
                    entity_keys=keys,
                    requested_features=list(read.columns),
                )
            )
        except Exception as e:  # redis, sqlite and Feast errors alike: the store is down
            raise OnlineStoreError(
                f"the online feature store is unreachable ({type(e).__name__}: "
                f"{str(e)[:200]}); try again shortly"
            ) from e

    def _transform(
        self, odfv: _OnDemand, columns: Columns, request: NDArray[np.int64]
    ) -> dict[str, Any]:
        inputs = {
            c: request.astype(np.float64) if c == REQUEST_TIME else _floats(columns[c])
            for c in odfv.inputs
        }
        if odfv.fast is not None:
            out = odfv.fast(inputs)
            return {o: np.asarray(out[o], dtype=np.float64) for o in odfv.read.outputs}
        import pandas as pd

        frame = pd.DataFrame({c: (request if c == REQUEST_TIME else inputs[c]) for c in inputs})
        result = odfv.udf(frame)
        return {o: result[o].to_numpy(dtype=np.float64) for o in odfv.read.outputs}


def _view_read(store: FeatureStore, name: str) -> ViewRead | None:
    """All features of a registered feature view, or None (with a warning) when it is not."""
    try:
        view = store.get_feature_view(name)
    except Exception:  # Feast's not-found, or an older registry
        logger.warning(
            "feature view %s is not registered: its columns are unknown; run "
            "`retain features build`, `retain features apply` and `retain features materialize`",
            name,
        )
        return None
    ttl = view.ttl if view.ttl and view.ttl.total_seconds() > 0 else None
    return ViewRead(view, tuple(f.name for f in view.features), ttl)


def _columns(read: ViewRead, rows: Sequence[Any], n: int) -> dict[str, list[Any]]:
    """One view's columns from its ``online_read`` rows (None where a customer has no row)."""
    cols: dict[str, list[Any]] = {f: [None] * n for f in read.columns}
    for i, (_, values) in enumerate(rows):
        if values is None:
            continue
        for f in read.columns:
            v = values.get(f)
            if v is not None:
                cols[f][i] = _value(v)
    return cols


def _floats(values: Sequence[Any]) -> NDArray[np.float64]:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
