"""Settings from retain.toml and the environment, and the MLflow names they lead to."""

from __future__ import annotations

from pathlib import Path

import pytest

from retain.core.errors import ConfigError
from retain.core.settings import Settings
from training.tracking import artifact_location, namespaced, tracking_uri


def test_the_environment_wins_over_the_file(tmp_path: Path):
    (tmp_path / "retain.toml").write_text('project = "bank_a"\nmlflow_url = "http://a:5000"\n')
    s = Settings.load({"RETAIN_HOME": str(tmp_path), "RETAIN_MLFLOW_URL": "http://b:5000"})
    assert (s.project, s.mlflow_url) == ("bank_a", "http://b:5000")


def test_an_unknown_setting_is_named_with_the_known_ones(tmp_path: Path):
    (tmp_path / "retain.toml").write_text('mlflow_uri = "http://a:5000"\n')
    with pytest.raises(ConfigError, match="unknown setting.*mlflow_uri.*known: .*mlflow_url"):
        Settings.load({"RETAIN_HOME": str(tmp_path)})


def test_names_carry_the_project_except_the_default_one(tmp_path: Path):
    assert namespaced(Settings(home=tmp_path), "retain-churn") == "retain-churn"
    bank = Settings(home=tmp_path, project="bank_a")
    assert namespaced(bank, "retain-churn") == "bank_a.retain-churn"


def test_a_tracking_server_replaces_the_store_and_keeps_the_files(tmp_path: Path):
    local = Settings(home=tmp_path)
    assert tracking_uri(local).startswith("sqlite:///")
    assert artifact_location(local) == (tmp_path / "mlflow" / "artifacts").as_uri()
    served = Settings(home=tmp_path, profile="production", mlflow_url="http://mlflow:5000")
    assert tracking_uri(served) == "http://mlflow:5000"
    assert artifact_location(served) is None
