"""Conditions every customer shares in a month: rates, fee level, channel shift, fund returns.

Drift scenarios act here, from their start month on. The path is drawn from the seed alone, so
every chunk of customers sees the same market.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.config import WorldConfig

RATE_WAR_JUMP = 1.75
"""Points the best competitor rate rises by in a rate war."""
FEE_CHANGE = 1.6
"""Factor on all fees after a fee change."""
MOBILE_SHIFT = 0.6
"""Share of branch transactions that move to mobile once a mobile shift is complete."""
MOBILE_RAMP_MONTHS = 6


@dataclass(frozen=True)
class Market:
    """One value per month index (0 = the first simulated month; the last ones are hidden)."""

    bank_rate: np.ndarray  # % a year, the bank's savings rate
    market_rate: np.ndarray  # % a year, the best competitor rate
    fee_level: np.ndarray  # factor on the bank's fee schedule
    mobile_shift: np.ndarray  # 0 .. MOBILE_SHIFT, share of branch activity moved to mobile
    fund_return: np.ndarray  # monthly return of the bank's funds

    @property
    def rate_gap(self) -> np.ndarray:
        return self.market_rate - self.bank_rate


def market_path(config: WorldConfig, n_steps: int) -> Market:
    """The market for ``n_steps`` months from ``config.start``, with the config's drift applied."""
    rng = np.random.default_rng([config.seed, 0x4D41524B])
    t = np.arange(n_steps)
    bank_rate = np.round(1.5 + np.cumsum(rng.normal(0, 0.04, n_steps)), 2).clip(0.25, None)
    market_rate = np.round(bank_rate + 0.6 + rng.normal(0, 0.08, n_steps), 2)
    fee_level = np.ones(n_steps)
    mobile_shift = np.zeros(n_steps)
    fund_return = rng.normal(0.004, 0.025, n_steps)
    if (s := config.drift_start_index("rate_war")) is not None:
        market_rate = market_rate + np.where(t >= s, RATE_WAR_JUMP, 0.0)
    if (s := config.drift_start_index("fee_change")) is not None:
        fee_level = np.where(t >= s, FEE_CHANGE, 1.0)
    if (s := config.drift_start_index("mobile_shift")) is not None:
        mobile_shift = MOBILE_SHIFT * np.clip((t - s + 1) / MOBILE_RAMP_MONTHS, 0, 1)
    return Market(bank_rate, market_rate, fee_level, mobile_shift, fund_return)
