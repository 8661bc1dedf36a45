"""Batch scores of the whole base and the at-risk lists: ``retain score`` -> ``retain at-risk``
-> ``GET /at_risk``, on the served bank."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pandas as pd
import pytest

from retain.core.settings import Settings
from tests.integration.conftest import RETAIN


@pytest.fixture(scope="module")
def scored(home: Settings, materialized_at: pd.Timestamp) -> pd.DataFrame:
    """The base scored at the materialized month end (the scores table)."""
    from serving.batch import score_base

    run = score_base(home)
    assert run.as_of == materialized_at.date().isoformat()
    return pd.read_parquet(run.path)


def test_every_active_customer_is_scored_once_with_its_run_logged(home, scored, ids):
    """One row per customer with a snapshot at the as-of time, in one dated folder, and the run
    in MLflow with its model version and counts."""
    import mlflow

    from serving.batch import RUN_FILE, scores_root
    from training.tracking import tracking

    assert sorted(scored["customer_id"]) == ids["current"]
    folders = list(scores_root(home).iterdir())
    assert [f.name for f in folders if not f.name.startswith("as_of=")] == []
    run = pd.read_json(next(scores_root(home).glob(f"as_of=*/{RUN_FILE}")), typ="series")
    with tracking(home):
        logged = mlflow.get_run(run["mlflow_run_id"])
    assert logged.data.params["model"] == f"retain-churn v{run['model_version']}"
    assert logged.data.metrics["customers"] == len(scored)
    np.testing.assert_allclose(
        scored["value_at_stake"], scored["churn_probability"] * scored["value"]
    )
    assert scored["value"].gt(0).all() and scored["branch_id"].notna().all()


def test_batch_scores_and_segments_equal_the_served_ones(client, scored):
    """No batch/online skew: for a sample, /churn_score gives the batch probability, band and
    segments (the customer_segments view, read offline and online), and /customers and
    /recommend the same segments."""
    sample = scored.sample(25, random_state=0).sort_values("customer_id")
    ids = sample["customer_id"].tolist()
    served = client.post("/churn_score", json={"customer_ids": ids}).json()["scores"]
    np.testing.assert_allclose(
        [s["churn_probability"] for s in served], sample["churn_probability"], rtol=0, atol=1e-6
    )
    assert [s["risk_band"] for s in served] == sample["risk_band"].tolist()
    batch = [
        {
            "value_tier": r["value_tier"],
            "lifecycle_stage": r["lifecycle_stage"],
            "behaviour_segment": r["behaviour_segment"],
            "version": r["segments_version"],
        }
        for r in sample.to_dict("records")
    ]
    assert [s["segments"] for s in served] == batch
    assert len({b["version"] for b in batch}) == 1 and batch[0]["version"]
    for customer, segments in zip(ids[:5], batch[:5], strict=True):
        view = client.get(f"/customers/{customer}").json()
        assert view["segments"] == segments
    # One decision (logged) for a customer the recommend tests leave alone: the last of the base.
    last = scored["customer_id"].max()
    want = scored.loc[scored["customer_id"] == last].iloc[0]
    answer = client.post("/recommend", json={"customer_id": int(last), "channel": "mobile"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["segments"] == {
        "value_tier": want["value_tier"],
        "lifecycle_stage": want["lifecycle_stage"],
        "behaviour_segment": want["behaviour_segment"],
        "version": want["segments_version"],
    }


def test_the_service_lists_the_latest_scores_filtered_and_paged(client, scored):
    """Sorted by value at stake without an uplift champion (and says so), reasons for the page,
    and paging that walks the same order."""
    answer = client.get("/at_risk", params={"limit": 10})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["total"] == len(scored)
    items = body["items"]
    stakes = [i["value_at_stake"] for i in items]
    if body["note"] is not None:  # no uplift champion: nothing suggested
        assert stakes == sorted(stakes, reverse=True)
        assert all(i["action"] is None for i in items)
        top = scored.sort_values("value_at_stake", ascending=False)["customer_id"].head(10)
        assert [i["customer_id"] for i in items] == top.tolist()
    else:  # an uplift champion: actions that pay first, by expected saved value
        saved = [i["expected_saved_value"] for i in items if i["action"] is not None]
        assert saved == sorted(saved, reverse=True) and all(v > 0 for v in saved)
        assert [i["action"] is not None for i in items] == [True] * len(saved) + [False] * (
            len(items) - len(saved)
        )
    assert all(i["reasons"] for i in items)
    page = client.get("/at_risk", params={"limit": 5, "offset": 5}).json()["items"]
    assert [i["customer_id"] for i in page] == [i["customer_id"] for i in items[5:]]
    stage = scored["lifecycle_stage"].mode()[0]
    tier = scored["value_tier"].mode()[0]
    filtered = client.get("/at_risk", params={"segment": stage, "value_tier": tier}).json()
    want = scored[(scored["lifecycle_stage"] == stage) & (scored["value_tier"] == tier)]
    assert filtered["total"] == len(want)
    assert {i["lifecycle_stage"] for i in filtered["items"]} == {stage}


@pytest.mark.parametrize(
    "params",
    [
        {"segment": "vip"},
        {"branch": "99999"},
        {"value_tier": "gold"},
        {"min_value": -1},
        {"limit": 0},
    ],
)
def test_a_bad_filter_is_a_400_in_the_error_shape(client, scored, params):
    answer = client.get("/at_risk", params=params)
    assert answer.status_code == 400
    assert set(answer.json()) == {"error", "field"} and answer.json()["error"]


def test_the_command_line_writes_the_list_or_refuses_in_one_line(home, scored, tmp_path):
    env = {**os.environ, "RETAIN_HOME": str(home.home)}
    out = tmp_path / "at_risk.parquet"
    done = subprocess.run(
        [RETAIN, "at-risk", "--top", "5", "--format", "parquet", "--output", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    listed = pd.read_parquet(out)
    assert len(listed) == 5 and listed["reasons"].str.len().gt(0).all()
    assert set(scored["customer_id"]) >= set(listed["customer_id"])
    bad = subprocess.run(
        [RETAIN, "at-risk", "--segment", "vip", "--output", str(tmp_path / "x.csv")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2
    assert (
        bad.stderr.strip().splitlines() == [bad.stderr.strip()] and "unknown segment" in bad.stderr
    )
    assert not (tmp_path / "x.csv").exists()
