"""What to simulate: the size of the bank, the period, the seed and the drift scenarios."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from retain.core.errors import ConfigError

SCENARIOS: dict[str, str] = {
    "rate_war": "competitors raise their deposit rate by 1.75 points; rate-sensitive customers "
    "pull deposits away and more of them leave",
    "mobile_shift": "branch transactions move to the mobile app over six months",
    "fee_change": "the bank raises its fees by 60%",
}
"""Drift scenarios that can be switched on from a chosen month."""

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
MAX_MONTHS = 240


def parse_month(text: str, option: str) -> pd.Period:
    """``"2024-03"`` as a monthly period.

    Raises:
        ConfigError: ``text`` is not ``YYYY-MM``.
    """
    if not isinstance(text, str) or not _MONTH.match(text):
        raise ConfigError(f"{option} must look like YYYY-MM (for example 2023-01), got {text!r}")
    return pd.Period(text, freq="M")


@dataclass(frozen=True)
class Drift:
    """A drift scenario switched on from the first day of ``start`` (``YYYY-MM``) on."""

    scenario: str
    start: str

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ConfigError(
                f"unknown drift scenario {self.scenario!r}: use one of {', '.join(SCENARIOS)}"
            )
        parse_month(self.start, f"--drift {self.scenario}@")

    @classmethod
    def parse(cls, text: str) -> Drift:
        """Read ``SCENARIO@YYYY-MM``, the command line's form.

        Raises:
            ConfigError: the text is not of that form or names an unknown scenario.
        """
        scenario, sep, start = text.partition("@")
        if not sep:
            raise ConfigError(
                f"--drift must look like SCENARIO@YYYY-MM (rate_war@2024-01), got {text!r}"
            )
        return cls(scenario.strip(), start.strip())

    def __str__(self) -> str:
        return f"{self.scenario}@{self.start}"


@dataclass(frozen=True)
class WorldConfig:
    """The simulated bank to build. The same config (seed and chunk size too) gives the same data.

    Attributes:
        customers: customers in the customers table (about a fifth join during the period).
        months: monthly snapshots, the first at the end of ``start``.
        start: first month, ``YYYY-MM``.
        seed: random seed.
        chunk_size: customers simulated together and written to one part file.
        drift: drift scenarios and the months they start.
    """

    customers: int = 10_000
    months: int = 24
    start: str = "2023-01"
    seed: int = 7
    chunk_size: int = 50_000
    drift: tuple[Drift, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for name, value in (
            ("customers", self.customers),
            ("months", self.months),
            ("chunk-size", self.chunk_size),
        ):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
                raise ConfigError(f"--{name} must be a positive number, got {value}")
        if self.months > MAX_MONTHS:
            raise ConfigError(f"--months must be at most {MAX_MONTHS}, got {self.months}")
        if (
            isinstance(self.seed, bool)
            or not isinstance(self.seed, int | np.integer)
            or self.seed < 0
        ):
            raise ConfigError(f"--seed must be a number >= 0, got {self.seed}")
        first = parse_month(self.start, "--start")
        object.__setattr__(self, "drift", tuple(self.drift))
        last = first + (self.months - 1)
        seen: set[str] = set()
        for d in self.drift:
            if not isinstance(d, Drift):
                raise ConfigError(f"drift must be a list of Drift(scenario, start), got {d!r}")
            if d.scenario in seen:
                raise ConfigError(f"--drift {d.scenario} is given twice; give each scenario once")
            seen.add(d.scenario)
            month = parse_month(d.start, f"--drift {d.scenario}@")
            if not first <= month <= last:
                raise ConfigError(
                    f"--drift {d} starts outside the simulated months {first}..{last}"
                )

    @property
    def first_month(self) -> pd.Period:
        return pd.Period(self.start, freq="M")

    @property
    def last_month(self) -> pd.Period:
        return self.first_month + (self.months - 1)

    @property
    def n_chunks(self) -> int:
        return -(-self.customers // self.chunk_size)

    def drift_start_index(self, scenario: str) -> int | None:
        """Index of the first month the scenario is on (0 = ``start``), or None when it is off."""
        for d in self.drift:
            if d.scenario == scenario:
                return int((pd.Period(d.start, freq="M") - self.first_month).n)
        return None
