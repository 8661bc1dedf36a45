"""``bentoml build`` packs the service from ``bentofile.yaml``: the service, its routes, the code
it imports with its data files, the pinned requirements, and nothing else of the repository."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[3]
BENTOML = str(Path(sys.executable).with_name("bentoml"))


def test_bentoml_build_makes_a_bento(tmp_path: Path) -> None:
    env = {**os.environ, "BENTOML_HOME": str(tmp_path), "BENTOML_DO_NOT_TRACK": "true"}
    done = subprocess.run(
        [BENTOML, "build", str(ROOT)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    (bento,) = [p for p in (tmp_path / "bentos" / "retain").iterdir() if p.name != "latest"]
    info = yaml.safe_load((bento / "bento.yaml").read_text())
    assert info["service"] == "serving.service:ChurnService"
    routes = {r["route"] for r in info["schema"]["routes"]}
    assert {"/churn_score", "/recommend", "/feedback"} <= routes
    src = bento / "src"
    for needed in (
        "serving/service.py",
        "serving/actions.yaml",
        "serving/reasons.toml",
        "features/value.toml",
        "features/repo/retain_repo.py",
        "training/registry.py",
        "retain/core/settings.py",
    ):
        assert (src / needed).is_file(), needed
    for left_out in ("simulator", "tests", "benchmarks", "retain/cli", ".venv"):
        assert not (src / left_out).exists(), left_out
    assert not list(src.rglob("__pycache__"))
    pins = (bento / "env" / "python" / "requirements.txt").read_text()
    assert "bentoml==1.4.40" in pins and "lightgbm==" in pins
