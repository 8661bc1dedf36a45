"""One installation, one namespace; model files any host can read: `retain tracking-server` on a
PostgreSQL store of its own, two projects training and promoting through it, and a service-side
home that reaches the champion through the server's URL alone."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from retain.core.errors import NotReadyError
from retain.core.settings import Settings
from training.churn.job import train_churn
from training.churn.load import load_model
from training.churn.synthetic import synthetic_dataset
from training.config import TrainConfig
from training.promote import promote, rollback
from training.registry import version_by_alias
from training.tracking import client

from ..conftest import RETAIN, tracking_server

pytestmark = pytest.mark.slow
FAST = TrainConfig(num_threads=1, shap_sample=100, num_boost_round=30)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A tracking server on a fresh PostgreSQL database; yields its URL and artifacts folder."""
    import psycopg

    root = tmp_path_factory.mktemp("tracking")
    name = f"retain_ts_{np.random.randint(1e9)}"
    admin = "postgresql://postgres@127.0.0.1:5432/test"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    artifacts = root / "artifacts"
    env = {
        **os.environ,
        "RETAIN_HOME": str(root / "server-home"),
        "RETAIN_PROFILE": "production",
        "RETAIN_POSTGRES_URL": f"postgresql://postgres@127.0.0.1:5432/{name}",
    }
    try:
        with tracking_server(env, artifacts) as url:
            yield url, artifacts
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def data():
    return synthetic_dataset(customers=1200, seed=5)


def test_two_projects_on_one_store_never_see_each_others_models(tmp_path: Path, server, data):
    """Same store, two projects: own versions, own champions, own rollback history; and a home
    on another host (nothing local) loads the champion through the server's URL alone."""
    url, artifacts = server
    a = Settings(home=tmp_path / "a", mlflow_url=url, project="bank_a")
    b = Settings(home=tmp_path / "b", mlflow_url=url, project="bank_b")

    first_a = train_churn(a, FAST, data=data)
    assert promote(a, data=data, config=FAST).decision.promote
    first_b = train_churn(b, FAST, data=data)
    assert first_a.version == first_b.version == "1"
    assert promote(b, data=data, config=FAST).decision.promote
    train_churn(a, FAST, data=data)
    assert version_by_alias(a, "retain-churn", "challenger").version == "2"
    assert version_by_alias(b, "retain-churn", "challenger").version == "1"
    with pytest.raises(NotReadyError, match="first champion"):
        rollback(b)
    names = {m.name for m in client(a).search_registered_models()}
    assert names == {"bank_a.retain-churn", "bank_b.retain-churn"}

    # The service's host: another home, no store of its own, only the server's URL.
    service = Settings(home=tmp_path / "service", mlflow_url=url, project="bank_a")
    loaded = load_model(service)
    assert loaded.version == "1"
    rows = data.frame.head(200)
    trained = load_model(a)
    assert np.array_equal(loaded.model.predict_proba(rows), trained.model.predict_proba(rows))
    assert not (tmp_path / "service" / "mlflow").exists()
    assert not (tmp_path / "a" / "mlflow").exists()
    assert any(p.name == "MLmodel" for p in artifacts.rglob("MLmodel"))


def test_the_server_refuses_to_run_on_a_server(tmp_path: Path):
    """Pointing the server at a server is a configuration mistake: one line, exit 2."""
    env = {**os.environ, "RETAIN_HOME": str(tmp_path), "RETAIN_MLFLOW_URL": "http://x:1"}
    done = subprocess.run(
        [RETAIN, "tracking-server"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: mlflow_url is set")
