"""``retain evaluate uplift-ceiling``: the observable ceiling of uplift on a simulated bank."""

from __future__ import annotations

import json
import math
import os
import subprocess

from retain.core.settings import Settings
from tests.conftest import RETAIN, CliRunner


def _evaluate(home: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """``retain evaluate ARGS`` on the served bank (the shared ``home``)."""
    return subprocess.run(
        [RETAIN, "evaluate", *args],
        env={**os.environ, "RETAIN_HOME": str(home.home)},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_ceiling_is_measured_on_the_simulated_bank(home: Settings) -> None:
    """It fits the true effects from the served features and writes each offer's correlation
    with them on the test window, and the share of their variance it explains."""
    done = _evaluate(home, "uplift-ceiling", "--test-months", "3", "--num-threads", "1")
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads((home.reports_dir / "uplift_ceiling.json").read_text())
    assert -1 <= figures["ceiling_corr_mean"] <= 1 and math.isfinite(figures["ceiling_r2_mean"])
    assert figures["train_rows"] > 0 and figures["test_rows"] > 0
    assert "ceiling_corr_rate_boost" in figures and "rate_boost" in done.stdout


def test_without_a_simulated_bank_it_says_what_to_run(run_cli: CliRunner) -> None:
    """On a home without ground truth it stops with one line, exit status 2 (``churn-ceiling``
    looks the truth up through the same function)."""
    done = run_cli("evaluate", "uplift-ceiling")
    assert done.returncode == 2
    assert "no simulated ground truth" in done.stderr and "Traceback" not in done.stderr


def test_a_ceiling_of_no_customers_is_one_line(run_cli: CliRunner) -> None:
    done = run_cli("evaluate", "nba", "--ceiling-customers", "0")
    assert done.returncode == 2
    assert done.stderr.strip() == "error: --ceiling-customers must be a positive number, got 0"


def test_the_churn_model_is_measured_against_both_ceilings(home: Settings) -> None:
    """retain's churn model, the booster fitted to the true P(churn) and the truth itself are
    scored on the same test rows; the truth, which knows the path after the as-of date, ranks
    the churners best."""
    done = _evaluate(home, "churn-ceiling")
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads((home.reports_dir / "churn_ceiling.json").read_text())
    for key in ("model_auc", "logistic_auc", "observable_auc"):
        assert 0.6 < figures[key] < figures["truth_auc"], key
    assert figures["gap_to_observable"] == figures["observable_auc"] - figures["model_auc"]
    assert figures["test_rows"] > 0 and figures["customers"] > 1000
    assert "observable ceiling" in done.stdout
