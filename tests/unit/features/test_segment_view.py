"""The ``customer_segments`` feature view: built with the other sources from the same pure
functions (``features.segments``), stamped with the definitions' version, registered as a monthly
view of its own and in no churn service."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from features.build import build_sources, segment_rows
from features.schema import (
    BUILT_SOURCES,
    SEGMENT_FEATURES,
    SEGMENTS,
    SEGMENTS_SERVICE,
    SOURCES,
    source_schema,
)
from features.segments import OUTPUTS, ValueConfig, definition_version, segment_columns
from retain.core.columns import AS_OF, KEY
from retain.core.errors import ConfigError, DataError
from retain.core.settings import Settings
from tests.integration.conftest import write_raw_tables

MONTHLY = ("balances_flows", "engagement_channels", "product_holdings")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Feature sources of 120 customers over 8 months, with the packaged definitions."""
    settings = Settings(home=tmp_path_factory.mktemp("segment_view") / "home")
    write_raw_tables(settings.raw_dir, customers=120, months=8, seed=11, parts=2)
    build_sources(settings)
    return settings


def _read(settings: Settings, source: str) -> pd.DataFrame:
    frame = pd.read_parquet(settings.sources_dir / source)
    return frame.sort_values([KEY, AS_OF], ignore_index=True)


def _inputs(settings: Settings) -> pd.DataFrame:
    """The monthly sources side by side, one row per customer and month end."""
    frame = _read(settings, MONTHLY[0])
    for source in MONTHLY[1:]:
        frame = frame.merge(_read(settings, source), on=[KEY, AS_OF], how="outer")
    return frame


def test_the_view_holds_segment_columns_of_the_same_inputs(built):
    """Every customer and month end has one row, whose values are ``segment_columns`` of that
    row's features as the sources hold them, with the definitions' version."""
    stored = _read(built, SEGMENTS)
    inputs = _inputs(built)
    assert len(stored) == len(inputs) > 0
    pd.testing.assert_frame_equal(stored[[KEY, AS_OF]], inputs[[KEY, AS_OF]])
    config = ValueConfig.load(built)
    expected = segment_columns(inputs, config)
    for name in ("value_tier", "lifecycle_stage", "behaviour_segment"):
        assert stored[name].tolist() == list(expected[name]), name
    np.testing.assert_array_equal(stored["monthly_margin"], expected["monthly_margin"])
    assert set(stored["segments_version"]) == {definition_version(config)}
    assert set(stored["lifecycle_stage"]) > {"new", "mature"}  # the rules are exercised
    assert list(stored.columns) == source_schema(SEGMENTS).names


def test_every_part_has_its_segments_part(built):
    """The parts engine joins part by part: the segments folder has the parts of the others."""
    names = {s: sorted(p.name for p in (built.sources_dir / s).glob("*.parquet")) for s in SOURCES}
    segments = sorted(p.name for p in (built.sources_dir / SEGMENTS).glob("*.parquet"))
    assert all(parts == segments for parts in names.values()) and len(segments) == 2


def _home_with_value_file(built: Settings, tmp_path: Path, value_toml: str) -> Settings:
    """A home reading ``built``'s raw tables, with the bank's own ``value.toml``."""
    settings = Settings(home=tmp_path / "home")
    settings.home.mkdir()
    settings.data_dir.mkdir(parents=True)
    (settings.data_dir / "raw").symlink_to(built.raw_dir)
    (settings.home / "value.toml").write_text(value_toml)
    return settings


def test_a_banks_thresholds_apply_when_the_features_are_rebuilt(built, tmp_path):
    """value.toml in the home changes the stored tiers and the version at the next build."""
    settings = _home_with_value_file(built, tmp_path, "[value_tiers]\ngold = 1000\n")
    build_sources(settings)
    stored = _read(settings, SEGMENTS)
    config = ValueConfig.load(settings)
    assert set(stored["value_tier"]) <= {"mass", "gold", "unknown"}
    assert "gold" in set(stored["value_tier"])
    assert set(stored["segments_version"]) == {definition_version(config)}
    assert definition_version(config) != definition_version(ValueConfig.defaults())


def test_a_wrong_value_file_stops_the_build_before_it_writes(built, tmp_path):
    settings = _home_with_value_file(built, tmp_path, "[value_tiers]\ngold = 'lots'\n")
    with pytest.raises(ConfigError, match="gold must be a number"):
        build_sources(settings)
    assert not settings.sources_dir.exists()


def test_the_version_is_the_definitions_not_the_files():
    """The same definitions in another key order give the same version; any threshold, margin
    or tier changes it; the value formula's horizon does not (it is applied at scoring)."""
    base = ValueConfig.defaults()
    same = ValueConfig(
        horizon_months=base.horizon_months,
        annual_discount=base.annual_discount,
        churn_horizon_months=base.churn_horizon_months,
        product_margins=dict(reversed(base.product_margins.items())),
        balance_margins=dict(reversed(base.balance_margins.items())),
        value_tiers=dict(base.value_tiers),
        lifecycle=dict(reversed(base.lifecycle.items())),
        behaviour=dict(base.behaviour),
    )
    version = definition_version(base)
    assert definition_version(same) == version and len(version) == 12
    changed = [
        {"lifecycle": {**base.lifecycle, "new_months": 6}},
        {"behaviour": {**base.behaviour, "digital_min_share": 0.7}},
        {"value_tiers": {"affluent": 30000.0, "private": 250000.0}},
        {"product_margins": {**base.product_margins, "mortgage": 100.0}},
        {"balance_margins": {**base.balance_margins, "savings": 0.02}},
    ]
    for change in changed:
        other = ValueConfig(**{**base.__dict__, **change})
        assert definition_version(other) != version, change
    assert definition_version(ValueConfig(**{**base.__dict__, "horizon_months": 12})) == version


def test_misaligned_monthly_sources_are_refused(built):
    tables = {
        s: pa.Table.from_pandas(
            _read(built, s)[source_schema(s).names], schema=source_schema(s), preserve_index=False
        )
        for s in MONTHLY
    }
    tables["engagement_channels"] = tables["engagement_channels"].slice(1)
    with pytest.raises(DataError, match="engagement_channels"):
        segment_rows(tables, ValueConfig.defaults())


def test_the_view_is_registered_monthly_and_in_no_churn_service(built):
    """customer_segments has the segment columns with string and float64 types, a monthly TTL,
    and its own service; churn_v1 takes none of its columns."""
    from feast.types import Float64, String

    from features.definitions import build_definitions
    from features.schema import MONTHLY_TTL

    definitions = build_definitions(built.sources_dir)
    view = definitions.views[SEGMENTS]
    assert [f.name for f in view.features] == [n for n, _, _ in SEGMENT_FEATURES]
    types = {f.name: f.dtype for f in view.features}
    assert types["value_tier"] == String and types["monthly_margin"] == Float64
    assert view.ttl == MONTHLY_TTL
    assert set(definitions.sources) == set(BUILT_SOURCES)
    service = definitions.services[SEGMENTS_SERVICE]
    assert [p.name for p in service.feature_view_projections] == [SEGMENTS]
    churn = {p.name for p in definitions.services["churn_v1"].feature_view_projections}
    assert SEGMENTS not in churn
    assert set(OUTPUTS) <= set(types)


class _Provider:
    """``online_read`` over rows by view: key -> {feature: value}, each stamped at ``at``."""

    def __init__(self, rows: dict[str, dict[int, dict[str, object]]]) -> None:
        self.rows = rows

    def online_read(self, config, table, entity_keys, requested_features):  # noqa: ANN001
        from datetime import UTC, datetime

        from feast.protos.feast.types.Value_pb2 import Value

        def proto(v: object) -> Value:
            if isinstance(v, bool):
                return Value(bool_val=v)
            if isinstance(v, int):
                return Value(int64_val=v)
            if isinstance(v, float):
                return Value(double_val=v)
            return Value(string_val=str(v))

        at = datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC)
        out = []
        for key in entity_keys:
            row = self.rows.get(table.name, {}).get(key.entity_values[0].int64_val)
            values = None if row is None else {f: proto(row[f]) for f in requested_features}
            out.append((None if row is None else at, values))
        return out


def _value_of(kind: str) -> object:
    return {"int64": 1, "bool": True, "string": "x"}.get(kind, 1.0)


@pytest.fixture
def store(built):
    """The repo's objects as the registry returns them, over a provider holding customer 1
    (current, with segments) and customer 2 (a profile only: left the bank)."""
    from features.schema import VIEW_FEATURES
    from tests.unit.features.test_plan import Registry

    registry = Registry(built.sources_dir)
    rows: dict[str, dict[int, dict[str, object]]] = {
        name: {1: {n: _value_of(t) for n, t, _ in features}}
        for name, features in VIEW_FEATURES.items()
    }
    rows["customer_profile"][2] = rows["customer_profile"][1]
    rows[SEGMENTS] = {
        1: {
            "value_tier": "affluent",
            "lifecycle_stage": "declining",
            "behaviour_segment": "digital",
            "monthly_margin": 12.5,
            "segments_version": "abc123def456",
        }
    }
    registry.config = None  # type: ignore[attr-defined]
    registry._get_provider = lambda: _Provider(rows)  # type: ignore[method-assign]
    return registry


def test_the_online_read_carries_the_segments_without_changing_who_is_current(store):
    """The segments view is read in the same call as the service's views, into the same columns;
    a customer without a segments row reads None, and it decides nothing about current."""
    from features.online import OnlineFeatures

    online = OnlineFeatures(store, "churn_v1", extra_views=(SEGMENTS,))
    assert [r.name for r in online.extra] == [SEGMENTS]
    assert "value_tier" not in online.features  # no model input
    rows = online.read([1, 2, 3])
    assert rows.found == [True, True, False] and rows.current == [True, False, False]
    assert rows.columns["value_tier"] == ["affluent", None, None]
    assert rows.columns["segments_version"] == ["abc123def456", None, None]
    assert rows.row(0, ["monthly_margin"]) == {"monthly_margin": 12.5}


def test_a_registry_without_the_segments_view_is_read_without_them(store, caplog):
    """A home applied before the view existed still serves scores; the segments read as unknown,
    and the log says what to run."""
    import logging

    from features.online import OnlineFeatures

    del store.views[SEGMENTS]
    with caplog.at_level(logging.WARNING, logger="features.online"):
        online = OnlineFeatures(store, "churn_v1", extra_views=(SEGMENTS,))
    assert online.extra == ()
    assert "value_tier" not in online.read([1]).columns
    assert any("retain features build" in r.getMessage() for r in caplog.records)
