"""``simulator.replay``: a world simulated once, revealed to the bank a month at a time."""

from __future__ import annotations

import pandas as pd
import pyarrow.dataset as ds
import pytest

from retain.core.errors import ConfigError
from retain.core.settings import Settings
from simulator import Drift, WorldConfig, read_manifest
from simulator.replay import advance, create_world, read_replay, world_settings

CONFIG = WorldConfig(
    customers=300, months=6, start="2024-01", seed=5, drift=(Drift("fee_change", "2024-05"),)
)


def _table(settings: Settings, name: str) -> pd.DataFrame:
    return ds.dataset(settings.raw_dir / name).to_table().to_pandas()


@pytest.fixture
def bank(settings: Settings) -> Settings:
    settings.home.mkdir(parents=True)
    create_world(settings, CONFIG, "2024-03")
    return settings


def test_the_bank_sees_nothing_after_the_revealed_month(bank: Settings):
    end = pd.Timestamp("2024-03-31 23:59:59", tz="UTC")
    assert _table(bank, "monthly")["month_end"].max() == end
    for name, column in (("customers", "join_date"), ("churn", "churned_at"),
                         ("campaigns", "sent_at")):  # fmt: skip
        assert (_table(bank, name)[column] <= end).all()
    world = world_settings(bank)
    assert len(_table(bank, "customers")) < len(_table(world, "customers"))
    manifest = read_manifest(bank)
    assert manifest is not None
    assert (manifest.end, manifest.months, manifest.drift) == ("2024-03", 3, [])


def test_each_advance_adds_one_month_and_leaves_the_past_as_it_was(bank: Settings):
    before = _table(bank, "monthly")
    replay, month = advance(bank)
    assert str(month) == "2024-04" and replay.revealed == "2024-04"
    after = _table(bank, "monthly")
    past = after[after["month_end"] <= before["month_end"].max()]
    key = ["customer_id", "month_end"]
    pd.testing.assert_frame_equal(
        past.sort_values(key).reset_index(drop=True), before.sort_values(key).reset_index(drop=True)
    )
    assert after["month_end"].max() == pd.Timestamp("2024-04-30 23:59:59", tz="UTC")
    advance(bank)
    manifest = read_manifest(bank)
    assert manifest is not None and manifest.drift == ["fee_change@2024-05"]


def test_a_world_with_no_month_left_is_one_line(bank: Settings):
    advance(bank), advance(bank), advance(bank)
    assert read_replay(bank) is not None and read_replay(bank).next_month is None  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="ends at 2024-06 and every month is revealed"):
        advance(bank)


def test_a_world_must_leave_a_month_to_reveal(settings: Settings):
    settings.home.mkdir(parents=True)
    with pytest.raises(ConfigError, match="must leave at least one month"):
        create_world(settings, CONFIG, "2024-06")


def test_a_bank_without_a_world_cannot_advance(settings: Settings):
    with pytest.raises(ConfigError, match="no simulated world"):
        advance(settings)
