"""A bank whose customer ids are strings, end to end: ``retain ingest`` (one snapshot, ids like
``7590-VHVEG``), ``features build/apply/materialize``, ``train churn``, ``promote churn``, then
the service answers for the bank's own ids, while every store holds pseudonyms only."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from retain.core.ids import pseudonym
from retain.core.settings import Settings
from tests.integration.conftest import RETAIN
from tests.integration.training.test_snapshot import write_snapshot_bank

pytestmark = pytest.mark.slow

ID_KEY = "a-test-key-of-32-characters-long"


def _bank_id(n: int) -> str:
    """A telco-style customer number: digits, a dash, letters (``7590-VHVEG``)."""
    letters = "".join(chr(ord("A") + (n // 26**i) % 26) for i in range(5))
    return f"{n % 10_000:04d}-{letters}"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, list[str], Path]:
    """The snapshot bank of ``test_snapshot`` (2,000 customers) with string ids, ingested,
    trained, promoted and materialized; its settings, bank ids and folder."""
    folder = tmp_path_factory.mktemp("string_ids")
    settings = Settings(home=folder / "home")
    mapping = write_snapshot_bank(folder, customers=2000)
    frame = pd.read_csv(folder / "snapshot.csv")
    frame["CustomerId"] = [_bank_id(int(n)) for n in frame["CustomerId"]]
    frame.to_csv(folder / "snapshot.csv", index=False)
    mapping["customer_ids"] = "string"
    (folder / "bank.yaml").write_text(yaml.safe_dump(mapping, sort_keys=False))
    env = {**os.environ, "RETAIN_HOME": str(settings.home), "RETAIN_ID_KEY": ID_KEY}
    for args in (
        ("ingest", "--mapping", str(folder / "bank.yaml")),
        ("features", "build"),
        ("features", "apply"),
        ("features", "materialize"),
        ("train", "churn", "--service", "churn_bank_v1", "--num-threads", "1"),
        ("promote", "churn"),
        ("features", "frame", "--service", "churn_bank_v1", "--out", str(folder / "frame.parquet")),
    ):
        done = subprocess.run([RETAIN, *args], env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, (args, done.stderr[-3000:])
    return settings, frame["CustomerId"].tolist(), folder


@pytest.fixture(scope="module")
def client(served: tuple[Settings, list[str], Path]) -> Iterator[object]:
    """``retain serve`` on the bank (a real server: one in-process service per test session)."""
    import httpx

    from serving.process import running_service

    settings, _, _ = served
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RETAIN_ID_KEY", ID_KEY)
        with (
            running_service(settings.home) as service,
            httpx.Client(base_url=service.url, timeout=60) as c,
        ):
            yield c


def test_the_service_answers_for_the_bank_s_own_string_ids(client, served):
    """/churn_score scores the bank's ids and answers with them; an id the bank does not have
    is not found, in its own item; a number is the id written as digits."""
    _, bank_ids, _ = served
    asked = [bank_ids[0], bank_ids[1], "0000-NOONE", 1234]
    r = client.post("/churn_score", json={"customer_ids": asked})
    assert r.status_code == 200, r.text
    scores = r.json()["scores"]
    assert [s["customer_id"] for s in scores] == [bank_ids[0], bank_ids[1], "0000-NOONE", "1234"]
    assert [s["status"] for s in scores] == ["ok", "ok", "not_found", "not_found"]
    assert 0.0 < scores[0]["churn_probability"] < 1.0 and scores[0]["reasons"]
    assert scores[0]["model_name"] == "retain-churn" and scores[0]["model_version"] == "1"
    assert scores[2]["message"] == "no customer 0000-NOONE in the feature store"


def test_the_customer_view_takes_the_bank_s_id_in_its_path(client, served):
    _, bank_ids, _ = served
    r = client.get(f"/customers/{quote(bank_ids[0], safe='')}")
    assert r.status_code == 200, r.text
    assert r.json()["customer_id"] == bank_ids[0] and r.json()["churn"]["status"] == "ok"
    assert client.get("/customers/0000-NOONE").status_code == 404


def test_the_stores_hold_pseudonyms_and_the_frame_the_bank_s_ids(served):
    """The raw tables and the feature sources are keyed by the ids' keyed hashes, not the
    bank's ids; the map back is retain's; ``features frame`` writes the bank's ids."""
    settings, bank_ids, folder = served
    keys = {pseudonym(b, ID_KEY.encode()) for b in bank_ids}
    for folder_ in (settings.raw_dir / "customers", settings.sources_dir / "balances_flows"):
        stored = pq.read_table(folder_, columns=["customer_id"])["customer_id"]
        assert str(stored.type) == "int64" and set(stored.to_pylist()) == keys
    online = (settings.feast_dir / "online.db").read_bytes()  # the embedded online store
    assert not any(b.encode() in online for b in bank_ids[:50])
    frame = pd.read_parquet(folder / "frame.parquet")
    assert set(frame["customer_id"]) == set(bank_ids)


@pytest.mark.parametrize(
    ("args", "key", "message"),
    [
        (
            ("recommend", "0001-AAAAA"),
            "another-key-of-32-characters-long",
            "RETAIN_ID_KEY is not the key the customer ids were ingested with",
        ),
        (
            ("ingest", "--check", "--mapping", "bank.yaml"),
            None,
            "string customer ids are stored as keyed hashes: RETAIN_ID_KEY is not set; set it",
        ),
    ],
    ids=["another-key", "no-key"],
)
def test_another_key_or_none_is_one_line_and_exit_2(served, args, key, message):
    """Without the key no string id can be hashed, and a key other than the ingestion's would
    find nobody: ``retain ingest`` and ``retain recommend`` (like the service, which then stays
    not ready) say which variable to set, in one line, with exit status 2."""
    settings, _, folder = served
    env = {k: v for k, v in os.environ.items() if k != "RETAIN_ID_KEY"}
    env |= {"RETAIN_HOME": str(settings.home)} | ({"RETAIN_ID_KEY": key} if key else {})
    done = subprocess.run(
        [RETAIN, *args], cwd=folder, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {message}") and done.stderr.count("\n") == 1
