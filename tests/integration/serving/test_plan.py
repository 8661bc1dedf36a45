"""``retain plan`` through the real command line on the served bank: the plan file and what lies
beside it, the comparison with the riskiest-first plan on the simulated truth, and bad input."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retain.core.errors import NotReadyError
from retain.core.settings import Settings
from tests.integration.conftest import RETAIN

BUDGET = 5000
CAPACITY = {"phone": 15, "branch": 5}


def _plan(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RETAIN, "plan", *args],
        env={**os.environ, "RETAIN_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def scores(home: Settings) -> pd.DataFrame:
    """The served bank's scores (written once; ``retain score`` writes the same table again)."""
    from serving.batch import score_base
    from serving.candidates import scores_table

    try:
        folder = scores_table(home).folder
    except NotReadyError:
        folder = Path(score_base(home, log_run=False).path)
    return pd.read_parquet(folder)


def test_the_plan_keeps_its_limits_and_beats_the_riskiest_first_on_the_truth(
    home, scores, tmp_path
):
    """One action at most per customer, within the budget and the capacities, each worth more
    than nothing; the curve, its plot and the summary beside it; on the simulated truth, more
    value than contacting the riskiest customers first with the cheapest offer."""
    out = tmp_path / "plan.parquet"
    capacity = ",".join(f"{c}={n}" for c, n in CAPACITY.items())
    done = _plan(
        home.home,
        *("--budget", str(BUDGET), "--capacity", capacity, "--format", "parquet"),
        *("--out", str(out), "--html", str(tmp_path / "summary.html")),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    plan = pd.read_parquet(out)
    assert plan["customer_id"].is_unique and set(plan["customer_id"]) <= set(scores["customer_id"])
    assert plan["cost"].sum() <= BUDGET and (plan["expected_value"] > 0).all()
    for channel, n in CAPACITY.items():
        assert (plan["channel"] == channel).sum() <= n
    summary = json.loads((tmp_path / "plan.json").read_text())
    assert summary["contacts"] == len(plan)
    assert summary["expected_value"] == pytest.approx(plan["expected_value"].sum())
    assert summary["gap"] <= 1e-3
    curve = pd.read_csv(tmp_path / "plan.curve.csv")
    assert curve["expected_value"].is_monotonic_increasing
    assert summary["break_even_budget"] in curve["budget"].round(2).tolist()
    assert (tmp_path / "plan.curve.png").stat().st_size > 1000
    page = (tmp_path / "summary.html").read_text()
    assert "The campaign plan" in page and "riskiest_first" in page
    if "retain-uplift" not in summary["models"]:  # no retention offer without uplift
        assert any("no retain-uplift champion" in n for n in summary["notes"])
        assert (plan["kind"] == "cross_sell").all()
    compared = summary["compared"]
    retain, baseline = compared["retain"], compared["riskiest_first"]
    assert 0 < baseline["spent"] <= BUDGET and baseline["contacts"] > 0
    # On this bank the riskiest-first campaign loses money on the truth; retain's does not.
    assert retain["true_value"] > baseline["true_value"]
    assert retain["true_value"] > 0 > baseline["true_value"]
    assert "riskiest_first:" in done.stdout and "true value" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--budget", "0"), "above 0"),
        (("--budget", "-5"), "above 0"),
        (("--budget", "100", "--capacity", "pigeon=3"), "unknown channel 'pigeon'"),
        (("--budget", "100", "--capacity", "phone:3"), "CHANNEL=CONTACTS"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(home, tmp_path, args, message):
    out = tmp_path / "plan.csv"
    done = _plan(home.home, *args, "--out", str(out))
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert message in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_no_scores_or_an_empty_base_is_one_line(tmp_path):
    """Before ``retain score``, or on a scores table with nobody in it: exit 2, nothing written."""
    home = tmp_path / "home"
    out = tmp_path / "plan.csv"
    done = _plan(home, "--budget", "100", "--out", str(out))
    assert done.returncode == 2 and "run `retain score`" in done.stderr
    folder = home / "scores" / "as_of=2024-12-31"
    folder.mkdir(parents=True)
    (folder / "_run.json").write_text(json.dumps({"as_of": "2024-12-31"}))
    from serving.batch import COLUMNS

    empty = pa.table({c: pa.array([], pa.float64()) for c in COLUMNS})
    pq.write_table(empty, folder / "part-00000.parquet")
    done = _plan(home, "--budget", "100", "--out", str(out))
    assert done.returncode == 2 and "hold no customer" in done.stderr
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert not out.exists()
