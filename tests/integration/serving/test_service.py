"""The churn service on a small simulated bank: in-process (ASGI + TestClient) and for real
(``bentoml serve`` in a subprocess, called with ``bentoml.SyncHTTPClient``)."""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from retain.core.settings import Settings
from serving.process import free_port, running_service

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RETAIN = str(Path(sys.executable).with_name("retain"))
BENTOML = str(Path(sys.executable).with_name("bentoml"))
UNKNOWN = 42


@pytest.fixture(scope="module")
def scorer(home: Settings):
    from serving.config import ServingConfig
    from serving.scoring import load_scorer

    return load_scorer(home, ServingConfig())


def test_it_is_ready_once_model_explainer_and_store_are(client):
    """/readyz and /livez answer 200 once start-up has loaded everything."""
    assert client.get("/readyz").status_code == 200
    assert client.get("/livez").status_code == 200


def test_it_scores_a_batch_with_reasons_model_and_freshness(client, ids, materialized_at):
    """Each customer gets a probability, a band, three reasons, the model and the snapshot time."""
    batch = ids["current"][:5]
    r = client.post("/churn_score", json={"customer_ids": batch})
    assert r.status_code == 200, r.text
    scores = r.json()["scores"]
    assert [s["customer_id"] for s in scores] == batch
    for s in scores:
        assert s["status"] == "ok"
        assert 0.0 <= s["churn_probability"] <= 1.0
        assert s["risk_band"] in ("low", "medium", "high")
        assert s["model_name"] == "retain-churn" and s["model_version"] == "1"
        assert pd.Timestamp(s["feature_timestamp"]) == materialized_at
        assert s["feature_age_days"] > 0
        assert len(s["reasons"]) == 3
        weights = [abs(x["weight"]) for x in s["reasons"]]
        assert weights == sorted(weights, reverse=True)
        for reason in s["reasons"]:
            assert reason["text"] and reason["feature"]
            assert reason["direction"] == ("up" if reason["weight"] > 0 else "down")


def test_unknown_and_departed_customers_are_answered_per_item(client, ids):
    """An unknown id is not_found and one who left is inactive; the rest of the batch is scored."""
    batch = [ids["current"][0], UNKNOWN, ids["left"][0]]
    r = client.post("/churn_score", json={"customer_ids": batch})
    assert r.status_code == 200, r.text
    ok, unknown, left = r.json()["scores"]
    assert ok["status"] == "ok"
    assert unknown["status"] == "not_found" and unknown["churn_probability"] is None
    assert str(UNKNOWN) in unknown["message"]
    assert left["status"] == "inactive" and "left the bank" in left["message"]
    assert ok["segments"]["value_tier"] is not None
    assert set(unknown["segments"].values()) == set(left["segments"].values()) == {None}


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"{", None, 400),
        (b"", None, 400),
        (b"[1, 2]", None, 400),
        (b'{"ids": [1]}', None, 400),
        (b'{"customer_ids": []}', None, 400),
        (b'{"customer_ids": [1], "ids": [2]}', None, 400),
        (b'{"customer_ids": "1"}', None, 400),
        (b'{"customer_ids": [1.5]}', None, 400),
        (b'{"customer_ids": [-1]}', None, 400),
        (b'{"customer_ids": [99999999999999999999]}', None, 400),
        (('{"customer_ids": [' + ",".join(["1"] * 1001) + "]}").encode(), None, 400),
        (b"customer_ids=1", {"content-type": "application/x-www-form-urlencoded"}, 415),
        (b"xx", {"content-type": "multipart/form-data"}, 415),
    ],
)
def test_a_bad_request_gets_a_4xx_with_a_message(client, body, headers, status, caplog):
    """Malformed bodies, wrong types, empty or oversized lists: a 4xx that says what is wrong,
    in one shape, and no traceback in the log."""
    with caplog.at_level(logging.INFO):
        r = client.post(
            "/churn_score", content=body, headers=headers or {"content-type": "application/json"}
        )
    assert r.status_code == status, r.text
    assert set(r.json()) == {"error", "field"} and isinstance(r.json()["error"], str)
    assert not [x for x in caplog.records if x.levelno >= logging.ERROR or x.exc_info]


def test_the_customer_view_has_profile_segments_products_behaviour_and_risk(client, ids):
    """GET /customers/{id} gives a relationship manager one view of the customer; its segments
    are the ones its churn score carries."""
    r = client.get(f"/customers/{ids['current'][0]}")
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["status"] == "ok"
    assert view["profile"]["region"] and view["profile"]["age"] > 0
    segments = view["segments"]
    assert segments["value_tier"] in ("mass", "affluent", "private")
    assert segments["lifecycle_stage"] in ("new", "growing", "mature", "declining", "dormant")
    assert segments["behaviour_segment"] in ("low_activity", "digital", "branch", "mixed")
    assert segments["version"] and view["churn"]["segments"] == segments
    assert view["total_balance"] is not None
    assert isinstance(view["products"], list) and view["products"]
    assert view["behaviour"]["tx_total"] is not None
    assert view["churn"]["status"] == "ok" and len(view["churn"]["reasons"]) == 3


@pytest.mark.parametrize(
    ("path", "status"), [(f"/customers/{UNKNOWN}", 404), ("/customers/x", 404)]
)
def test_the_customer_view_of_an_unknown_or_malformed_id_is_a_4xx(client, path, status):
    """Text where the bank's ids are whole numbers is no customer's id: 404, like an unknown."""
    r = client.get(path)
    assert r.status_code == status
    assert set(r.json()) == {"error", "field"}


def test_a_malformed_id_in_the_customer_view_is_a_400_like_the_post_endpoints(client):
    """FastAPI's 422 {"detail": [...]} is answered as 400 {"error", "field"}."""
    r = client.get(f"/customers/{'x' * 129}")
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "customer_id" and isinstance(r.json()["error"], str)


def test_the_customer_view_of_a_departed_customer_says_so(client, ids):
    r = client.get(f"/customers/{ids['left'][0]}")
    assert r.status_code == 200
    assert r.json()["status"] == "inactive" and r.json()["churn"]["churn_probability"] is None


def test_an_unreachable_store_is_a_quick_503_with_a_message(client, monkeypatch, caplog):
    """When the online store cannot be read the service answers 503 and says so, logs it at
    WARNING and keeps the store's address out of the answer."""
    from features.online import OnlineFeatures
    from retain.core.errors import OnlineStoreError

    def down(self, ids, request_time="feature_time"):
        raise OnlineStoreError(
            "the online feature store is unreachable (ConnectionError: Error 111 connecting to "
            "10.0.0.7:6379. Connection refused.)"
        )

    monkeypatch.setattr(OnlineFeatures, "read", down)
    with caplog.at_level(logging.WARNING, logger="serving.service"):
        r = client.post("/churn_score", json={"customer_ids": [1]})
    assert r.status_code == 503 and "unreachable" in r.json()["error"]
    assert "10.0.0.7" not in r.text and "6379" not in r.text
    assert any("10.0.0.7:6379" in x.getMessage() for x in caplog.records)
    assert client.get("/customers/1").status_code == 503
    assert client.get("/readyz").status_code == 503


def test_a_dead_redis_fails_fast_rather_than_hang(home: Settings):
    """Reading from a Redis online store that does not answer raises OnlineStoreError at once."""
    from feast import FeatureStore
    from feast.repo_config import RepoConfig

    import features.store
    from features.online import OnlineFeatures, serving_store_config
    from features.store import store_config
    from retain.core.errors import OnlineStoreError

    dead = replace(home, profile="production", redis_url=f"redis://127.0.0.1:{free_port()}/0")
    config = store_config(home)  # the registry on file, the online store in a dead Redis
    config["online_store"] = serving_store_config(dead, timeout_s=0.5)["online_store"]
    repo = Path(features.store.__file__).parent / "repo"
    store = FeatureStore(config=RepoConfig(repo_path=repo, **config), repo_path=str(repo))
    online = OnlineFeatures(store, "churn_v1")
    started = time.perf_counter()
    with pytest.raises(OnlineStoreError, match="unreachable"):
        online.read([1])
    assert time.perf_counter() - started < 5


def test_a_service_without_a_model_or_store_is_not_ready_and_says_why(tmp_path):
    """Created on an empty home the service still starts: not ready, and calls answer 503 with
    the cause (the class itself, no server)."""
    import asyncio
    import json

    from serving.service import ChurnService

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RETAIN_HOME", str(tmp_path / "empty"))
        service = ChurnService.inner()
    assert service.__is_ready__() is False
    r = asyncio.run(service.churn_score(customer_ids=[1]))
    assert r.status_code == 503
    assert "retain features apply" in json.loads(r.body)["error"]


def test_online_values_equal_feasts_own_online_read(home, scorer, ids):
    """The service's reader gives the values ``get_online_features`` gives for the service."""
    store = scorer.online.store
    sample = ids["current"][:10] + ids["left"][:3]
    rows = scorer.online.read(sample)
    entity_rows = [
        {"customer_id": c, "request_epoch_s": int(t)}
        for c, t in zip(sample, rows.request_epoch_s, strict=True)
    ]
    expected = store.get_online_features(
        features=store.get_feature_service("churn_v1"), entity_rows=entity_rows
    ).to_dict()
    for name in scorer.features:
        got = [rows.row(i, [name])[name] for i in range(len(sample))]
        want = [None if v is None or v != v else v for v in expected[name]]
        assert got == pytest.approx(want, nan_ok=True), name


def test_served_probabilities_equal_offline_ones_at_the_materialized_time(
    client, home, scorer, ids, materialized_at
):
    """No training/serving skew: for a sample of customers, the served probability equals the
    model's probability on Feast's historical features at the materialized time."""
    rng = np.random.default_rng(0)
    sample = sorted(rng.choice(ids["current"], size=25, replace=False).tolist())
    served = client.post("/churn_score", json={"customer_ids": sample}).json()["scores"]

    store = scorer.online.store
    when = materialized_at.tz_convert("UTC")
    entity = pd.DataFrame(
        {
            "customer_id": sample,
            "event_timestamp": pd.Series([when] * len(sample)).astype("datetime64[ns, UTC]"),
            "request_epoch_s": int(when.timestamp()),
        }
    )
    offline = store.get_historical_features(
        entity_df=entity, features=store.get_feature_service("churn_v1")
    ).to_df()
    offline = offline.set_index("customer_id").loc[sample]
    expected = scorer.loaded.model.predict_proba(offline)
    got = np.array([s["churn_probability"] for s in served])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


def test_bentoml_serve_answers_a_real_client_and_exports_metrics(home, ids):
    """``retain serve`` (``bentoml serve``) in a subprocess: ready, scores over HTTP, metrics."""
    import bentoml
    import httpx

    with running_service(home.home) as service:
        url = service.url
        with bentoml.SyncHTTPClient(url) as c:
            result = c.churn_score(customer_ids=[ids["current"][0], UNKNOWN])
        scores = result["scores"]
        assert [s["status"] for s in scores] == ["ok", "not_found"]
        metrics = httpx.get(f"{url}/metrics", timeout=5).text
    assert "retain_scored_customers" in metrics
    assert 'retain_served_model{model="retain-churn",version="1"} 1.0' in metrics
    for histogram in ("retain_churn_probability", "retain_feature_age_days"):
        assert f"{histogram}_count 1.0" in metrics  # the one customer found
    assert 'bentoml_service_request_duration_seconds_count{endpoint="/churn_score"' in metrics
    # Its own Prometheus folder: another service starting on this host does not empty it.
    port = url.rsplit(":", 1)[1]
    folders = list((home.home / "serving").glob(f"bentoml-*-{port}/prometheus_multiproc_dir"))
    assert len(folders) == 1 and any(folders[0].glob("*.db"))


def test_registered_models_carry_no_customer_rows(home):
    """The churn champion records its input schema, but no input example (real feature rows)."""
    from mlflow.models import get_model_info

    from training.registry import CHAMPION
    from training.tracking import namespaced, tracking

    with tracking(home):
        info = get_model_info(f"models:/{namespaced(home, 'retain-churn')}@{CHAMPION}")
    assert info.signature is not None and info.signature.inputs.input_names()
    assert info.saved_input_example_info is None
    files = {p.name for p in (home.mlflow_dir / "artifacts").rglob("*") if p.is_file()}
    assert not files & {"input_example.json", "serving_input_example.json"}
