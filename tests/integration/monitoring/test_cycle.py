"""``retain cycle`` on a small simulated bank with a churn champion: one month with a rate war
switched on, end to end (the simulator's world, Feast, the monitor, MLflow, the gate)."""

from __future__ import annotations

import os
import subprocess

import pytest

from retain.core.settings import Settings
from tests.integration.conftest import RETAIN


def _retain(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RETAIN, *args],
        env={**os.environ, "RETAIN_HOME": str(settings.home)},
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture
def bank(settings: Settings) -> Settings:
    """1,000 customers over 2023-01..2024-12, the feature store applied, a churn champion (the
    alias set directly: the gate is not what is tested here). The cycle materializes. Two years,
    so that the monitor's reference lies past the simulated bank's first year (its burn-in and
    the features' lookback, ``monitoring.comparable``)."""
    for args in (
        ("simulate", "--customers", "1000", "--months", "24", "--seed", "11"),
        ("features", "build"),
        ("features", "apply"),
        ("train", "churn", "--seed", "11"),
    ):
        done = _retain(settings, *args)
        assert done.returncode == 0, f"{args}: {done.stderr[-2000:]}"
    from training.tracking import client

    client(settings).set_registered_model_alias("retain-churn", "champion", "1")
    return settings


def test_a_month_of_rate_war_is_caught_named_and_answered_through_the_gate(bank: Settings):
    """The first cycle draws the bank's world (one month ahead, the rate war from it), reveals
    2025-01, builds, materializes and scores it; the monitor's alerts name the rates the
    scenario moved, a challenger is trained and gated: exit 0 when promoted, 3 when refused.
    The world then has no month left: the next cycle is one line and exit status 2."""
    done = _retain(bank, "cycle", "--drift", "rate_war@2025-01", "--ahead", "1", "--no-mlflow")
    assert done.returncode in (0, 3), done.stderr[-3000:]
    out = done.stdout
    lines = {line.split(":", 1)[0]: line for line in out.splitlines() if ":" in line}
    assert "simulated the bank's life 2023-01..2025-01 (rate_war@2025-01)" in lines["new data"]
    assert "revealed 2025-01" in lines["new data"]
    assert "up to 2025-01-31" in lines["features"]
    assert "customers at 2025-01-31 with retain-churn v1" in lines["score"]
    assert "against 2025-01..2025-01: status alert" in lines["monitor"]
    decision = lines["decision"]
    assert decision.startswith("decision: retrain:")
    assert "features moved: " in decision
    for rate in ("market_rate", "rate_gap"):  # every alert line is printed
        assert f"  alert  feature drift: {rate}: " in out
    assert "challenger v2 trained" in lines["train"]
    promoted = done.returncode == 0
    assert ("is the champion" in lines["gate"]) is promoted
    assert ("rescore" in lines) is promoted
    assert f"(exit {done.returncode})" in lines["outcome"]
    again = _retain(bank, "cycle")
    assert again.returncode == 2
    assert again.stderr.strip().startswith(
        "error: the simulated world of this bank ends at 2025-01 and every month is revealed"
    )
