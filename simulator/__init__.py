"""The simulated bank: customers, monthly behaviour, churn, campaigns, and the ground truth.

    from simulator import WorldConfig, simulate
    manifest = simulate(WorldConfig(customers=1_000, seed=7), settings)

Ground truth for scoring models and policies: ``simulator.truth``.
"""

from simulator.config import SCENARIOS, Drift, WorldConfig
from simulator.rates import HeadlineRates, headline_rates
from simulator.run import Manifest, read_manifest, simulate

__all__ = [
    "SCENARIOS",
    "Drift",
    "HeadlineRates",
    "Manifest",
    "WorldConfig",
    "headline_rates",
    "read_manifest",
    "simulate",
]
