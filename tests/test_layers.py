"""The import graph keeps the architecture: every import points down, only the entrance knows the
simulator, and no two modules import each other. The contracts are in ``pyproject.toml``
(``[tool.importlinter]``); ``lint-imports`` prints the same report."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES: list[str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
    "root_packages"
]


def _lint(*args: str, root: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(ROOT / "pyproject.toml"), *args],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("contract", ["layers", "ground-truth", "no-cycles"])
def test_the_import_graph_keeps_the_contract(contract: str) -> None:
    """It names the importing and the imported module of every import that breaks a contract."""
    result = _lint("--contract", contract)
    assert result.returncode == 0, result.stdout[result.stdout.find("Broken contracts") :]


@pytest.mark.parametrize(
    ("module", "line", "contract", "expected"),
    [
        ("retain/core/_probe.py", "import retain.cli.app", "layers", "retain.core._probe -> "),
        ("training/_probe.py", "import simulator.truth", "ground-truth", "training._probe -> "),
        ("serving/_probe.py", "import serving.service", "no-cycles", "._probe"),
    ],
)
def test_a_wrong_import_is_caught(
    tmp_path: Path, module: str, line: str, contract: str, expected: str
) -> None:
    """A copy of the tree with one wrong import breaks the contract, and the report names it."""
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    (tmp_path / module).write_text(f"{line}  # noqa: F401\n")
    if contract == "no-cycles":  # the probe and the service import each other
        service = tmp_path / "serving" / "service.py"
        service.write_text(
            service.read_text()
            + "\n\ndef _probe() -> None:\n    import serving._probe  # noqa: F401\n"
        )
    result = _lint("--contract", contract, root=tmp_path)
    assert result.returncode != 0
    assert expected in result.stdout
