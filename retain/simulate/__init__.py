"""The simulated bank: customers, monthly behaviour, churn, campaigns, and the ground truth.

    from retain.simulate import WorldConfig, simulate
    manifest = simulate(WorldConfig(customers=1_000, seed=7), settings)

Ground truth for scoring models and policies: ``retain.simulate.truth``.
"""

from retain.simulate.config import SCENARIOS, Drift, WorldConfig
from retain.simulate.rates import HeadlineRates, headline_rates
from retain.simulate.run import Manifest, read_manifest, simulate

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
