"""Which columns of which feature views a FeatureService needs: one plan for the offline frames
(``features.frames``, the ``parts`` engine) and the online reads (``features.online``).

Both read the source views themselves rather than through Feast, so both need the same answer:
the service's features, each feature view it touches with the columns to read (its features in
the service plus what its on-demand views compute from) and the view's TTL, and the on-demand
views with their inputs. ``read_plan`` builds it from the registered Feast objects, never from a
hand-written list; each reader checks what it cannot handle and says so in its own terms.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from retain.core.errors import NotReadyError

if TYPE_CHECKING:
    from feast import FeatureService, FeatureView
    from feast.on_demand_feature_view import OnDemandFeatureView


@dataclass(frozen=True)
class ViewRead:
    """The columns of one feature view that a service needs.

    Attributes:
        view: the registered feature view.
        columns: the view's features in the service, then the inputs of on-demand views, each
            once, in that order.
        ttl: how long a row stays valid; None when it never expires (Feast's zero TTL).
    """

    view: FeatureView
    columns: tuple[str, ...]
    ttl: timedelta | None

    @property
    def name(self) -> str:
        return self.view.name


@dataclass(frozen=True)
class OnDemandRead:
    """One on-demand view of a service.

    Attributes:
        view: the registered on-demand view (its transformation is the registered function).
        inputs: the feature-view columns it computes from, in the order of its registered sources.
        request_inputs: the request fields it needs (retain's: ``request_epoch_s``).
        outputs: its features that the service takes.
    """

    view: OnDemandFeatureView
    inputs: tuple[str, ...]
    request_inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.view.name


@dataclass(frozen=True)
class ReadPlan:
    """What reading a FeatureService takes, in the service's order.

    Attributes:
        service: the registered FeatureService.
        features: the service's features, in order (what the readers return).
        views: the feature views to read, in the order the service first needs them.
        on_demand: the on-demand views to compute once the views are read.
        aliased: projections with an alias or a join-key map, which neither reader supports.
    """

    service: FeatureService
    features: tuple[str, ...]
    views: tuple[ViewRead, ...]
    on_demand: tuple[OnDemandRead, ...]
    aliased: tuple[str, ...]


def feature_service(store: Any, name: str) -> FeatureService:
    """The registered FeatureService ``name`` of a ``feast.FeatureStore``.

    Raises:
        NotReadyError: the store has not been applied or the service is unknown.
    """
    try:
        return store.get_feature_service(name)
    except Exception as e:  # Feast raises its own not-found, or the registry is missing
        raise NotReadyError(
            f"feature service {name!r} is not registered: run `retain features apply`"
        ) from e


def service_features(service: FeatureService) -> list[str]:
    """The features of a FeatureService, in the service's order."""
    return [f.name for p in service.feature_view_projections for f in p.features]


def read_plan(store: Any, service: str) -> ReadPlan:
    """The read plan of a registered FeatureService.

    Args:
        store: a ``feast.FeatureStore`` (or anything with its registry getters).
        service: the FeatureService's name.

    Raises:
        NotReadyError: the store has not been applied or the service is unknown.
    """
    fs = feature_service(store, service)
    odfv_names = {v.name for v in store.list_on_demand_feature_views()}
    wanted: dict[str, list[str]] = {}
    on_demand: list[OnDemandRead] = []
    aliased: list[str] = []
    for projection in fs.feature_view_projections:
        names = [f.name for f in projection.features]
        if projection.name in odfv_names:
            odfv = store.get_on_demand_feature_view(projection.name)
            inputs: list[str] = []
            for source in odfv.source_feature_view_projections.values():
                columns = [f.name for f in source.features]
                wanted.setdefault(source.name, []).extend(columns)
                inputs += columns
            requests = [f.name for r in odfv.source_request_sources.values() for f in r.schema]
            on_demand.append(OnDemandRead(odfv, tuple(inputs), tuple(requests), tuple(names)))
        else:
            if projection.name_alias or projection.join_key_map:
                aliased.append(projection.name)
            wanted.setdefault(projection.name, []).extend(names)
    views = []
    for name, columns in wanted.items():
        view = store.get_feature_view(name)
        ttl = view.ttl if view.ttl and view.ttl.total_seconds() > 0 else None
        views.append(ViewRead(view, tuple(dict.fromkeys(columns)), ttl))
    return ReadPlan(fs, tuple(service_features(fs)), tuple(views), tuple(on_demand), tuple(aliased))
