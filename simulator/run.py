"""``simulate``: build the whole bank chunk by chunk and write it under the home folder."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from retain.core.churn import ChurnDefinition
from retain.core.progress import Progress, silent
from retain.core.settings import Settings
from simulator.calendar import US_PER_SECOND, horizon_fractions, month_bounds
from simulator.campaigns import EXPERIMENT_RATE
from simulator.config import WorldConfig
from simulator.market import market_path
from simulator.output import Staging
from simulator.rates import Counts, HeadlineRates, headline_rates
from simulator.truth import LOOKAHEAD
from simulator.world import Calendar, simulate_chunk

MANIFEST_VERSION = 1


@dataclass(frozen=True)
class Manifest:
    """What was simulated, how many rows each table got, and the headline rates."""

    seed: int
    customers: int
    months: int
    start: str
    end: str
    chunk_size: int
    drift: list[str]
    horizon_days: int
    row_counts: dict[str, int]
    rates: dict[str, float]
    counts: dict[str, int]
    experiment_rate: float = EXPERIMENT_RATE
    version: int = MANIFEST_VERSION
    data_dir: str = field(default="", compare=False)

    @property
    def headline(self) -> HeadlineRates:
        return HeadlineRates(**self.rates)

    @classmethod
    def read(cls, path: Path) -> Manifest:
        return cls(**json.loads(path.read_text()))


def calendar_for(config: WorldConfig, definition: ChurnDefinition) -> Calendar:
    starts, ends = month_bounds(config.first_month, config.months + LOOKAHEAD)
    horizon_us = int(definition.horizon.total_seconds()) * US_PER_SECOND
    first = config.first_month
    return Calendar(
        first_year_month=first.year * 12 + first.month - 1,
        starts=starts,
        ends=ends,
        fractions=horizon_fractions(starts, ends, horizon_us, LOOKAHEAD),
    )


def simulate(
    config: WorldConfig,
    settings: Settings,
    progress: Progress = silent,
    definition: ChurnDefinition | None = None,
) -> Manifest:
    """Simulate the bank described by ``config`` and write it under ``settings.data_dir``.

    Memory is bounded by ``config.chunk_size``: each chunk of customers is simulated over all
    months and written as part file ``part-<chunk>`` of every table before the next one starts.

    Args:
        config: what to simulate.
        settings: where to write it.
        progress: called as ``progress(done, total)`` after every simulated month of every chunk.
        definition: churn definition whose horizon the ground truth uses (the default one).

    Returns:
        The manifest, also written to ``settings.data_dir / "manifest.json"``.

    Raises:
        ConfigError: the home folder cannot be written.
    """
    definition = definition or ChurnDefinition()
    calendar = calendar_for(config, definition)
    market = market_path(config, config.months + LOOKAHEAD)
    total = config.n_chunks * (config.months + LOOKAHEAD)
    done = 0
    counts = Counts()
    rows: dict[str, int] = {}

    def tick() -> None:
        nonlocal done
        done += 1
        progress(done, total)

    with Staging(settings) as staging:
        for chunk in range(config.n_chunks):
            result = simulate_chunk(config, chunk, market, calendar, on_month=tick)
            for name, table in result.tables.items():
                staging.write(name, chunk, table)
                rows[name] = rows.get(name, 0) + table.num_rows
            counts = counts + result.counts
            del result
        manifest = Manifest(
            seed=config.seed,
            customers=config.customers,
            months=config.months,
            start=str(config.first_month),
            end=str(config.last_month),
            chunk_size=config.chunk_size,
            drift=[str(d) for d in config.drift],
            horizon_days=definition.horizon_days,
            row_counts=rows,
            rates=headline_rates(counts).as_dict(),
            counts=asdict(counts),
        )
        body = asdict(manifest)
        body.pop("data_dir")
        staging.commit(body)
    return Manifest(**{**body, "data_dir": str(settings.data_dir)})


def read_manifest(settings: Settings) -> Manifest | None:
    """The manifest of the data under the home folder, or None when nothing was simulated."""
    path = settings.data_dir / "manifest.json"
    return Manifest.read(path) if path.exists() else None
