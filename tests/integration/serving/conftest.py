"""Fixtures of the service tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from retain.core.settings import Settings
from tests.integration.conftest import copy_home


@pytest.fixture(scope="session")
def own_bank(home: Settings, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Settings]:
    """Makes a copy of the served bank (Feast repo pointed at it) with the given ``serving.toml``
    lines before the bank's own: a test that changes or stops its service leaves the other tests'
    bank alone."""

    def copy(serving_toml: str = "") -> Settings:
        dest = tmp_path_factory.mktemp("bank") / "home"
        copy_home(home.home, dest, "serving", "serve.log")
        store = dest / "feast" / "feature_store.yaml"
        store.write_text(store.read_text().replace(str(home.home), str(dest)))
        config = dest / "serving.toml"
        kept = config.read_text() if config.exists() else ""
        config.write_text(f"{serving_toml}\n{kept}")
        return Settings(home=dest)

    return copy
