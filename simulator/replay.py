"""A simulated bank lived month by month: the whole life simulated once into a world folder, each
month revealed to the bank as the raw tables cut at that month's end.

Why not extend the bank by one simulated month: the simulator draws each customer's whole life at
once. The joiners (``population.draw_profiles``), the market path (``market.market_path``) and each
chunk's random stream depend on the number of months, so the same seed over one more month gives a
different past. A world simulated once over the whole span, revealed a month at a time, keeps the
past fixed, as a real bank's is.

What a cut keeps is what the bank knows at the month's end: customers who joined by then, monthly
snapshots up to it, leavers who left by then, contacts sent by then; the simulator's own last
month follows the same rule. The truth tables are cut the same way.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from retain.core.errors import ConfigError, DataError
from retain.core.settings import Settings
from simulator.config import WorldConfig, parse_month
from simulator.output import Staging
from simulator.run import Manifest, read_manifest, simulate

WORLD_FOLDER = "world"
"""The world's home, inside the bank's home folder."""
STATE_FILE = "replay.json"

BURN_IN_MONTHS = 6
"""Months a simulated bank takes to settle: its customers start from drawn states, and current
balances fall from about 25% above their steady level over the first five months (seed 3, 2,000
customers: median 1,612 in the first month, 1,279 in the sixth, within 4% of it after). A monitor
compares with months past this plus its features' lookback."""

CUTS: dict[str, tuple[str, str]] = {
    "customers": ("raw/customers", "join_date"),
    "monthly": ("raw/monthly", "month_end"),
    "churn": ("raw/churn", "churned_at"),
    "campaigns": ("raw/campaigns", "sent_at"),
    "truth_monthly": ("truth/monthly", "month_end"),
}
"""Per table written: its folder under ``data/`` and the column that says when a row became
known."""


@dataclass(frozen=True)
class Replay:
    """Where a replay stands: the world's months and the last one the bank has seen."""

    first: str
    last: str
    revealed: str

    @property
    def next_month(self) -> pd.Period | None:
        """The month the next cycle reveals, or None when the world has no more."""
        nxt = pd.Period(self.revealed, freq="M") + 1
        return nxt if nxt <= pd.Period(self.last, freq="M") else None


def world_settings(settings: Settings) -> Settings:
    return settings.with_home(settings.home / WORLD_FOLDER)


def read_replay(settings: Settings) -> Replay | None:
    """The replay state of the bank under ``settings``, or None when it has no world."""
    path = world_settings(settings).home / STATE_FILE
    if not path.is_file():
        return None
    return Replay(**json.loads(path.read_text()))


def _write_replay(settings: Settings, replay: Replay) -> None:
    path = world_settings(settings).home / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(replay), indent=2) + "\n")
    tmp.replace(path)


def month_end(month: pd.Period) -> pd.Timestamp:
    """The last instant of ``month`` (23:59:59.999999 UTC of its last day)."""
    return pd.Timestamp(month.end_time).tz_localize("UTC").floor("us")


def create_world(settings: Settings, config: WorldConfig, revealed: str) -> Replay:
    """Simulate the whole life ``config`` describes into the world folder and reveal it to the bank
    up to ``revealed`` (``YYYY-MM``), replacing the bank's raw tables.

    Raises:
        ConfigError: ``revealed`` is not within the world's months but its last.
    """
    month = parse_month(revealed, "revealed month")
    if not config.first_month <= month < config.last_month:
        raise ConfigError(
            f"a world of {config.first_month}..{config.last_month} cannot start revealed at "
            f"{month}: it must leave at least one month to reveal"
        )
    world = world_settings(settings)
    world.home.mkdir(parents=True, exist_ok=True)
    (world.home / STATE_FILE).unlink(missing_ok=True)  # no state: no world until it is whole
    simulate(config, world)
    replay = Replay(str(config.first_month), str(config.last_month), str(month))
    reveal(settings, month)
    _write_replay(settings, replay)
    return replay


def advance(settings: Settings) -> tuple[Replay, pd.Period]:
    """Reveal the world's next month to the bank.

    Raises:
        ConfigError: no world, or the world has no month left.
    """
    replay = read_replay(settings)
    if replay is None:
        raise ConfigError("this bank has no simulated world to advance")
    nxt = replay.next_month
    if nxt is None:
        raise ConfigError(
            f"the simulated world ends at {replay.last} and every month is revealed: remove "
            f"{world_settings(settings).home} and start a longer one (--ahead)"
        )
    reveal(settings, nxt)
    replay = replace(replay, revealed=str(nxt))
    _write_replay(settings, replay)
    return replay, nxt


def _part(path: Path) -> int:
    return int(path.stem.removeprefix("part-"))


def _cut(path: Path, column: str, until: pd.Timestamp) -> pa.Table:
    table = pq.read_table(path)
    bound = pa.scalar(until.to_pydatetime(), table.schema.field(column).type)
    keep = pc.less_equal(table[column], bound)
    return table.filter(pc.fill_null(keep, False))


def reveal(settings: Settings, month: pd.Period) -> Manifest:
    """Replace the bank's raw and truth tables with the world's, cut at the end of ``month``.

    Written through the simulator's staging folder: a failure leaves the bank's data as it was.

    Raises:
        DataError: the world folder holds no simulated bank.
    """
    world = world_settings(settings)
    manifest = read_manifest(world)
    if manifest is None:
        raise DataError(f"no simulated world under {world.home}: its manifest is missing")
    until = month_end(month)
    rows: dict[str, int] = {}
    with Staging(settings) as staging:
        for name, (folder, column) in CUTS.items():
            for part in sorted((world.data_dir / folder).glob("part-*.parquet")):
                cut = _cut(part, column, until)
                staging.write(name, _part(part), cut)
                rows[name] = rows.get(name, 0) + cut.num_rows
        for part in sorted((world.data_dir / "truth" / "customers").glob("part-*.parquet")):
            staging.write("truth_customers", _part(part), pq.read_table(part))
        first = pd.Period(manifest.start, freq="M")
        body = asdict(manifest)
        body.pop("data_dir")
        body.update(
            months=int((month - first).n) + 1,
            end=str(month),
            drift=[d for d in manifest.drift if pd.Period(d.split("@")[1], freq="M") <= month],
            row_counts={k: v for k, v in rows.items() if not k.startswith("truth")},
        )
        staging.commit(body)
    return Manifest(**{**body, "data_dir": str(settings.data_dir)})
