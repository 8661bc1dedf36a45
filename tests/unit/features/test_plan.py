"""The read plan of a FeatureService, from the repo's Feast objects as the registry returns them
(no store, no files): what the offline frames and the online reads both follow."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from features.plan import read_plan
from features.request_time import FEATURES as REQUEST_TIME_FEATURES
from features.schema import CHURN_V1_EXCLUDED, MONTHLY_TTL, VIEW_FEATURES
from retain.core.errors import NotReadyError


class Registry:
    """The getters of ``feast.FeatureStore`` over the repo's objects, each round-tripped through
    its proto as the registry stores it."""

    def __init__(self, sources_dir: Path) -> None:
        from feast import FeatureService, FeatureView
        from feast.on_demand_feature_view import OnDemandFeatureView

        from features.definitions import build_definitions

        d = build_definitions(sources_dir)
        self.services = {n: FeatureService.from_proto(s.to_proto()) for n, s in d.services.items()}
        self.views = {n: FeatureView.from_proto(v.to_proto()) for n, v in d.views.items()}
        self.on_demand = OnDemandFeatureView.from_proto(d.request_time.to_proto())

    def get_feature_service(self, name: str) -> Any:
        return self.services[name]

    def get_feature_view(self, name: str) -> Any:
        return self.views[name]

    def list_on_demand_feature_views(self) -> list[Any]:
        return [self.on_demand]

    def get_on_demand_feature_view(self, name: str) -> Any:
        assert name == self.on_demand.name
        return self.on_demand

    def _get_provider(self) -> None:
        return None


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    return Registry(tmp_path_factory.mktemp("sources"))


def test_churn_v1_reads_every_view_column_once_with_the_views_ttl(registry):
    """churn_v1 leaves out the raw timestamps, but its on-demand view needs them: the plan reads
    every column of the six views, each once, and keeps each view's TTL (none for the profile)."""
    plan = read_plan(registry, "churn_v1")
    assert [v.name for v in plan.views] == list(VIEW_FEATURES)
    for read in plan.views:
        assert sorted(read.columns) == sorted(n for n, _, _ in VIEW_FEATURES[read.name])
        assert read.ttl == (None if read.name == "customer_profile" else MONTHLY_TTL)
    assert plan.aliased == ()


def test_churn_v1_features_are_the_views_then_the_request_time_features(registry):
    plan = read_plan(registry, "churn_v1")
    model_inputs = [
        n
        for features in VIEW_FEATURES.values()
        for n, _, _ in features
        if n not in CHURN_V1_EXCLUDED
    ]
    assert plan.features == (*model_inputs, *REQUEST_TIME_FEATURES)
    (on_demand,) = plan.on_demand
    assert on_demand.name == "request_time"
    assert sorted(on_demand.inputs) == ["join_epoch_s", "last_login_epoch_s"]
    assert on_demand.request_inputs == ("request_epoch_s",)
    assert on_demand.outputs == REQUEST_TIME_FEATURES


def test_offline_and_online_read_the_same_columns_for_churn_v1(registry, caplog):
    """The parts engine of the training frames and the online reader follow one plan; the online
    reader runs the shared request-time function (the registered view agrees with it)."""
    from features.frames import _source_folders
    from features.online import OnlineFeatures

    offline = _source_folders(read_plan(registry, "churn_v1"))
    with caplog.at_level(logging.WARNING, logger="features.online"):
        online = OnlineFeatures(registry, "churn_v1")
    assert [(r.name, r.columns, r.ttl) for r, _ in offline] == [
        (r.name, r.columns, r.ttl) for r in online.plan.views
    ]
    assert online.features == list(online.plan.features)
    assert not [r for r in caplog.records if "changed" in r.getMessage()]


def test_an_unknown_service_is_not_ready_and_says_how_to_fix_it(registry):
    with pytest.raises(NotReadyError, match="not registered: run `retain features apply`"):
        read_plan(registry, "churn_v9")
