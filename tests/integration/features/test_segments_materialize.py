"""After a bank changes its segment definitions (``value.toml``) and rebuilds the features, an
incremental ``materialize`` notices that the online ``customer_segments`` rows carry another
``segments_version`` and rewrites that view's whole window (only that view), in SQLite and in
Redis (where Feast's timestamp check would keep the old rows)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import datetime

import pandas as pd
import pytest

from features.build import build_sources
from features.materialize import VERSION_SAMPLE_ROWS, materialize, sample_ids, stale_segments
from features.schema import MONTHLY_TTL, SEGMENTS
from features.segments import ValueConfig, definition_version
from features.store import apply, open_store, teardown
from retain.core.columns import AS_OF, KEY
from retain.core.settings import Settings
from tests.integration.conftest import FIRST_MONTH, month_ends, write_raw_tables

pytestmark = pytest.mark.integration

MONTHS = 6
LAST = month_ends(FIRST_MONTH, MONTHS)[-1].to_pydatetime()
GOLD = "[value_tiers]\ngold = 1000\n"


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Raw tables of 80 customers over 6 months (built per test: the build is what changes)."""
    settings = Settings(home=tmp_path_factory.mktemp("segments_materialize") / "raw")
    write_raw_tables(settings.raw_dir, customers=80, months=MONTHS, seed=7, parts=2)
    return settings


@pytest.fixture
def homes() -> Iterator[list[Settings]]:
    made: list[Settings] = []
    yield made
    for settings in made:
        if settings.profile == "production":
            teardown(settings)


def _home(raw: Settings, homes: list[Settings], **kw: str) -> Settings:
    """A home of its own over the raw tables, built with the packaged definitions, applied and
    materialized once."""
    tag = uuid.uuid4().hex[:10]
    settings = Settings(home=raw.home.parent / f"home-{tag}", project=f"t_{tag}", **kw)  # type: ignore[arg-type]
    settings.data_dir.mkdir(parents=True)
    (settings.data_dir / "raw").symlink_to(raw.raw_dir)
    homes.append(settings)
    build_sources(settings)
    apply(settings)
    materialize(settings)
    return settings


def _served_versions(settings: Settings) -> set[str | None]:
    """segments_version as the online store serves it, for every customer with a row now."""
    sources = pd.read_parquet(settings.sources_dir / SEGMENTS, columns=[KEY, AS_OF])
    stamps = pd.to_datetime(sources[AS_OF], utc=True)
    ids = sorted(sources.loc[stamps == pd.Timestamp(LAST), KEY].unique().tolist())
    store = open_store(settings)
    response = store.get_online_features(
        features=[f"{SEGMENTS}:segments_version"], entity_rows=[{KEY: int(i)} for i in ids]
    )
    return set(response.to_dict()["segments_version"])


def _rebuild_with_gold(settings: Settings) -> str:
    (settings.home / "value.toml").write_text(GOLD)
    build_sources(settings)
    return definition_version(ValueConfig.load(settings))


@pytest.mark.parametrize("profile", ["embedded", "production"])
def test_changed_definitions_rewrite_the_segments_view_only(raw, homes, profile, caplog):
    """Up to date, then rebuilt with a gold tier: the next incremental run rewrites
    customer_segments over its whole window (one warning line, the reason on its ViewRun), leaves
    the other views alone, and the service then reads the new version; the run after that is up
    to date again."""
    settings = _home(raw, homes, profile=profile)
    old = definition_version(ValueConfig.defaults())
    assert _served_versions(settings) == {old}
    assert all(v.start is None for v in materialize(settings).views)

    new = _rebuild_with_gold(settings)
    assert new != old
    with caplog.at_level(logging.WARNING, logger="features.materialize"):
        run = materialize(settings)
    views = {v.name: v for v in run.views}
    segments = views.pop(SEGMENTS)
    assert segments.start == LAST - MONTHLY_TTL and segments.rows > 0
    assert old in segments.note and new in segments.note
    assert all(v.start is None and v.note == "" for v in views.values())
    lines = [r.getMessage() for r in caplog.records if SEGMENTS in r.getMessage()]
    assert len(lines) == 1 and "\n" not in lines[0] and "rewriting its whole window" in lines[0]
    assert _served_versions(settings) == {new}

    again = materialize(settings)
    assert all(v.start is None and v.note == "" for v in again.views)


def test_an_unchanged_rebuild_and_a_full_run_are_not_flagged(raw, homes):
    """A rebuild with the same definitions keeps the version: nothing to rewrite. A view not yet
    materialized, or a full run, is no case for the check."""
    settings = _home(raw, homes)
    build_sources(settings)
    store = open_store(settings)
    view = store.registry.get_feature_view(SEGMENTS, settings.project, allow_cache=False)
    assert stale_segments(store, view, LAST) is None
    assert all(v.start is None for v in materialize(settings).views)

    _rebuild_with_gold(settings)
    assert stale_segments(store, view, LAST) is not None
    fresh = store.registry.get_feature_view("balances_flows", settings.project, allow_cache=False)
    assert stale_segments(store, fresh, LAST) is None  # only the segments view
    full = materialize(settings, full=True)
    assert all(v.note == "" for v in full.views)
    assert stale_segments(store, view, LAST) is None


def test_no_check_before_the_first_materialization(raw, tmp_path):
    settings = Settings(home=tmp_path / "home", project=f"t_{uuid.uuid4().hex[:10]}")
    settings.data_dir.mkdir(parents=True)
    (settings.data_dir / "raw").symlink_to(raw.raw_dir)
    build_sources(settings)
    apply(settings)
    store = open_store(settings)
    view = store.registry.get_feature_view(SEGMENTS, settings.project, allow_cache=False)
    assert view.most_recent_end_time is None
    assert stale_segments(store, view, datetime.fromisoformat(LAST.isoformat())) is None


def test_the_sample_spans_the_first_and_last_parts_ids(raw, tmp_path):
    """Customers are written in id order: a run that failed halfway leaves the largest ids with
    the old version, so the sample holds each end of the first and the last part."""
    settings = Settings(home=tmp_path / "home")
    settings.data_dir.mkdir(parents=True)
    (settings.data_dir / "raw").symlink_to(raw.raw_dir)
    build_sources(settings)
    parts = sorted((settings.sources_dir / SEGMENTS).glob("*.parquet"))
    ids = sample_ids(settings.sources_dir / SEGMENTS, AS_OF, LAST)
    assert 2 < len(ids) <= VERSION_SAMPLE_ROWS
    for part in (parts[0], parts[-1]):
        frame = pd.read_parquet(part, columns=[KEY, AS_OF])
        at = frame.loc[pd.to_datetime(frame[AS_OF], utc=True) == pd.Timestamp(LAST), KEY]
        assert {int(at.min()), int(at.max())} <= set(ids)
