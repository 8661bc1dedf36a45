"""Campaign audiences on the serving tests' simulated bank: the batch path decides each customer
exactly as ``/recommend`` does alone, logs exactly the decided customers, is served at
``POST /recommend/batch``, and ``retain recommend --audience`` decides a segment, a file or the
whole base, or refuses bad input in one line with nothing written."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from retain.core.settings import Settings
from serving.decision_log import DecisionLog
from serving.nba import Recommender
from serving.schemas import RecommendBatchRequest, RecommendRequest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RETAIN = str(Path(sys.executable).with_name("retain"))
UNKNOWN = 42
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
T0 = NOW - timedelta(days=60)
"""Decision times must fall in the service's window around now (400 days back, 1 day ahead)."""


@pytest.fixture(scope="module")
def recommender(home: Settings) -> Iterator[Recommender]:
    from serving.config import ServingConfig
    from serving.nba import load_recommender
    from serving.scoring import load_scorer

    loaded = load_recommender(home, load_scorer(home, ServingConfig.load(home)))
    loaded.log.close()  # the tests give it logs of their own
    yield loaded


def _fresh(recommender: Recommender, path: Path) -> Recommender:
    """The same models with an empty decision log of its own."""
    return dataclasses.replace(recommender, log=DecisionLog(f"sqlite:///{path}"))


def _comparable(response) -> dict:
    answer = response.model_dump(mode="json")
    answer.pop("decision_id")
    return answer


def test_a_batch_decides_each_customer_as_one_call_would(recommender, ids, tmp_path) -> None:
    """Twice, with the contact history of the first round in the log the second time (phone: one
    contact a week): every answer of the batch, in chunks of 7, equals ``/recommend``'s for the
    customer alone, reasons and trace included."""
    sample = ids["current"][-40:]
    asked = [*sample[:20], UNKNOWN, ids["left"][0], "not-an-id", *sample[20:]]
    one = _fresh(recommender, tmp_path / "one.db")
    many = _fresh(recommender, tmp_path / "many.db")
    offered = 0
    for at in (T0, T0 + timedelta(days=2)):
        context = {"at": at.isoformat(), "placement": "app_home", "weight": 0.8}
        batch = [
            item
            for part in many.decide_many(
                RecommendBatchRequest(customer_ids=asked, channel="phone", k=2, context=context),
                chunk=7,
            )
            for item in part
        ]
        assert [i.customer_id for i in batch] == asked
        for item in batch:
            if item.customer_id in (UNKNOWN, "not-an-id"):
                assert item.status == "not_found" and item.recommendation is None
                continue
            if item.customer_id == ids["left"][0]:
                assert item.status == "inactive" and "left the bank" in (item.message or "")
                continue
            alone = one.recommend(
                RecommendRequest(
                    customer_id=item.customer_id, channel="phone", k=2, context=context
                )
            )
            assert item.status == "ok" and item.recommendation is not None
            assert _comparable(item.recommendation) == _comparable(alone), item.customer_id
            offered += alone.actions[0].action_id != "no_action"
        if at != T0:  # the first round's phone contacts hold the week cap
            capped = [
                i
                for i in batch
                if i.recommendation and any(t.rule == "week_cap" for t in i.recommendation.trace)
            ]
            assert len(capped) >= 1
    assert offered >= 1, "no customer was offered anything: the comparison is too weak"
    one.log.close()
    many.log.close()


def test_the_log_grows_by_exactly_the_decided_customers(recommender, ids, tmp_path) -> None:
    """One decision and one replayable audit row per decided customer; one audit row per chunk
    for the customers that got none; repeated ids are refused before anything is logged."""
    from serving.actions import ActionCatalogue
    from serving.errors import InvalidRequestError
    from serving.replay import replay

    many = _fresh(recommender, tmp_path / "log.db")
    asked = [*ids["current"][-25:], UNKNOWN, "not-an-id", ids["left"][1]]
    request = RecommendBatchRequest(
        customer_ids=asked, channel="mobile", context={"at": T0.isoformat()}
    )
    items = [i for part in many.decide_many(request, api_key="crm", chunk=10) for i in part]
    decided = [i for i in items if i.status == "ok"]
    assert len(decided) == 25
    logged = many.log.records()
    assert sorted(r["decision_id"] for r in logged) == sorted(
        i.recommendation.decision_id for i in decided if i.recommendation
    )
    rows = many.log.audit_rows("recommend_batch")
    assert len(rows) == 25 + 1  # the unknown and the departed are in the last chunk
    assert {r["api_key"] for r in rows} == {"crm"}
    undecided = [r["customer_ids"] for r in rows if r["decision_id"] is None]
    assert undecided == [[UNKNOWN, None, ids["left"][1]]]  # the stores' keys: None for no key
    catalogue = ActionCatalogue.load()
    first = decided[0].recommendation
    assert first is not None and replay(many.log, first.decision_id, catalogue).same

    twice = RecommendBatchRequest(
        customer_ids=[ids["current"][-1], UNKNOWN, str(ids["current"][-1])], channel="mobile"
    )
    with pytest.raises(InvalidRequestError, match="named more than once"):
        list(many.decide_many(twice))
    assert len(many.log.records()) == 25
    many.log.close()


def test_the_endpoint_answers_each_customer_in_its_own_item(client, ids, home) -> None:
    sample = ids["current"][-30:-20]
    body = {
        "customer_ids": [*sample, UNKNOWN, ids["left"][2]],
        "channel": "branch",
        "k": 2,
        "context": {"at": (NOW - timedelta(days=300)).isoformat()},
    }
    r = client.post("/recommend/batch", json=body)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert (answer["decided"], answer["not_found"], answer["inactive"]) == (10, 1, 1)
    assert [d["customer_id"] for d in answer["decisions"]] == body["customer_ids"]
    log = DecisionLog.open(home)
    try:
        for d in answer["decisions"][:10]:
            rec = d["recommendation"]
            assert d["status"] == "ok" and 1 <= len(rec["actions"]) <= 2
            assert log.response(rec["decision_id"])["customer_id"] == d["customer_id"]
    finally:
        log.close()
    assert answer["decisions"][10]["message"] == f"no customer {UNKNOWN} in the feature store"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"customer_ids": [], "channel": "mobile"}, 400, "customer_ids"),
        ({"customer_ids": [1], "channel": "fax"}, 400, "channel"),
        ({"customer_ids": [1], "channel": "mobile", "k": 0}, 400, "k"),
        ({"customer_ids": [1, 1], "channel": "mobile"}, 400, "named more than once"),
        ({"customer_ids": list(range(1001)), "channel": "mobile"}, 413, "at most 1,000"),
        (
            {"customer_ids": [1], "channel": "mobile", "context": {"at": "1999-01-01T00:00Z"}},
            400,
            "outside the accepted window",
        ),
        ({"customer_ids": [1], "channel": "mobile", "kk": 3}, 400, "kk"),
    ],
)
def test_a_bad_batch_is_a_4xx_in_the_error_shape(client, body, status, message) -> None:
    r = client.post("/recommend/batch", json=body)
    assert r.status_code == status, r.text
    assert set(r.json()) == {"error", "field"} and message in r.json()["error"]


def test_the_batch_endpoint_is_documented_with_its_answers(client) -> None:
    spec = client.get("/docs.json").json()["paths"]["/recommend/batch"]["post"]
    assert {"400", "401", "403", "413", "503"} <= set(spec["responses"])
    body = spec["requestBody"]["content"]["application/json"]["schema"]
    assert "customer_ids" in body["properties"]


# --- the command line --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bank(own_bank: Callable[[str], Settings]) -> Settings:
    """A copy of the served bank: its decision log and its scores are its own."""
    return own_bank("")


def _retain(bank: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RETAIN, *args],
        env={**os.environ, "RETAIN_HOME": str(bank.home)},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def scored_bank(bank: Settings) -> Settings:
    """The copy with scores (``retain score`` run unless the served bank had them)."""
    if not any((bank.home / "scores").glob("as_of=*")):
        done = _retain(bank, "score")
        assert done.returncode == 0, done.stderr[-2000:]
    return bank


AT = ("--at", T0.isoformat())


def test_a_segment_audience_needs_scores(bank, tmp_path) -> None:
    scores = bank.home / "scores"
    aside = bank.home / "scores-aside"
    if scores.exists():
        scores.rename(aside)
    try:
        out = tmp_path / "segment.csv"
        done = _retain(
            bank, "recommend", "--audience", "segment:value_tier=mass", "--out", str(out)
        )
    finally:
        if aside.exists():
            aside.rename(scores)
    assert done.returncode == 2 and "no scores yet" in done.stderr, done.stderr[-2000:]
    assert len(done.stderr.strip().splitlines()) == 1 and not out.exists()


def test_a_segment_audience_is_decided_and_logged(scored_bank, tmp_path) -> None:
    from serving.at_risk import latest_scores

    frame = latest_scores(scored_bank).frame
    mature = frame.loc[frame["lifecycle_stage"] == "mature", "customer_id"].tolist()
    log = DecisionLog.open(scored_bank)
    before = len(log.records())
    out = tmp_path / "segment.csv"
    done = _retain(
        scored_bank,
        "recommend",
        "--audience",
        "segment:lifecycle_stage=mature",
        "--out",
        str(out),
        "--channel",
        "mobile",
        *AT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    table = pd.read_csv(out)
    assert sorted(set(table["customer_id"])) == sorted(mature)
    assert set(table["status"]) == {"ok"}
    assert set(table["lifecycle_stage"]) == {"mature"}  # the answers' segments: the table's
    assert (table.groupby("customer_id")["rank"].min() == 1).all()
    assert len(log.records()) == before + len(mature)
    log.close()
    assert f"{len(mature):,} decided and logged" in done.stderr
    assert "first action" in done.stdout
    assert [p.name for p in tmp_path.iterdir()] == ["segment.csv"]  # no temporary file left


def test_a_file_audience_reports_unknown_ids_and_writes_parquet(bank, ids, tmp_path) -> None:
    listed = tmp_path / "ids.csv"
    wanted = [*ids["current"][:5], UNKNOWN, ids["current"][0]]
    listed.write_text("name,customer_id\n" + "".join(f"x,{i}\n" for i in wanted))
    out = tmp_path / "file.parquet"
    done = _retain(bank, "recommend", "--audience", f"file:{listed}", "--out", str(out), *AT)
    assert done.returncode == 0, done.stderr[-2000:]
    table = pd.read_parquet(out)
    assert list(dict.fromkeys(table["customer_id"])) == wanted[:6]
    assert table.loc[table["customer_id"] == UNKNOWN, "status"].tolist() == ["not_found"]
    assert "1 unknown ids" in done.stderr and "1 repeated ids dropped" in done.stderr


def test_the_whole_base_is_every_active_customer(bank, ids) -> None:
    from retain.core.ids import integer_id
    from serving.audience import parse_spec, resolve

    audience = resolve(bank, parse_spec("all"), integer_id)
    assert sorted(audience.ids) == ids["current"] and audience.duplicates == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--audience", "segment:value_tier=gold"], "unknown value_tier 'gold'"),
        (["--audience", "file:/nonexistent/ids.txt"], "no audience file"),
    ],
)
def test_bad_audience_input_is_one_line_and_exit_2(scored_bank, tmp_path, args, message) -> None:
    out = tmp_path / "never.csv"
    done = _retain(scored_bank, "recommend", *args, "--out", str(out))
    assert done.returncode == 2, done.stderr[-2000:]
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"audience": "segment:colour=red"}, "unknown segment 'colour'"),
        ({"audience": "segment:value_tier=gold"}, "unknown value_tier 'gold'"),
        ({"audience": "segment:branch=99999"}, "unknown branch '99999'"),
        ({"audience": "file:{empty}"}, "names no customer"),
        ({"audience": "everyone"}, "use segment:<column>=<value>, file:<path> or all"),
        ({"audience": "all", "out_file": "{tmp}/x.json"}, "name a .csv or .parquet file"),
        ({"audience": "all", "out_file": "/nonexistent/x.csv"}, "does not exist"),
        ({"audience": "all", "channel": "fax"}, "--channel"),
        ({"audience": "all", "k": 0}, "--k"),
        ({"audience": "all", "at": "yesterday"}, "--at"),
        ({"audience": "all", "as_json": True}, "--json is for one customer"),
        ({}, "give a CUSTOMER_ID or --audience SPEC"),
        ({"customer_id": "1", "audience": "all"}, "give a CUSTOMER_ID or --audience SPEC"),
        ({"customer_id": "1", "out_file": "{tmp}/x.csv"}, "--out is for --audience"),
    ],
)
def test_bad_audience_input_is_refused_before_anything_is_decided(
    scored_bank, tmp_path, monkeypatch, options, message
) -> None:
    from retain.cli.recommend import recommend
    from retain.core.errors import RetainError

    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    kwargs = {
        k: Path(v.format(empty=empty, tmp=tmp_path)) if k == "out_file" else v
        for k, v in options.items()
    }
    if isinstance(kwargs.get("audience"), str):
        kwargs["audience"] = kwargs["audience"].format(empty=empty, tmp=tmp_path)
    kwargs.setdefault("out_file", tmp_path / "never.csv")
    monkeypatch.setenv("RETAIN_HOME", str(scored_bank.home))
    log = DecisionLog.open(scored_bank)
    before = len(log.records())
    with pytest.raises(RetainError, match=message.replace("(", r"\(")) as refused:
        recommend(**kwargs)
    assert "\n" not in str(refused.value)
    assert len(log.records()) == before
    log.close()
    assert [p.name for p in tmp_path.iterdir()] == ["empty.txt"]
