"""``retain features ...`` through the real console script, and the real ``feast`` CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from features.build import build_sources
from retain.core.settings import Settings

pytestmark = pytest.mark.integration

FEAST = str(Path(sys.executable).with_name("feast"))
REPO_ROOT = Path(__file__).resolve().parents[3]


def one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> str:
    """Assert exit status 2 and a single ``error:`` line on stderr mentioning ``words``."""
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for word in words:
        assert word in lines[0]
    return lines[0]


def test_materialize_before_apply_says_to_apply(run_cli, raw_settings: Settings):
    build_sources(raw_settings)
    one_line_error(run_cli("features", "materialize"), "retain features apply")
    assert not (raw_settings.feast_dir / "registry.db").exists()


def test_an_unreachable_registry_names_the_server_and_the_setting(run_cli, settings: Settings):
    """Production profile with PostgreSQL down: one line naming the server, no traceback."""
    env = {
        "RETAIN_PROFILE": "production",
        "RETAIN_POSTGRES_URL": "postgresql://postgres@127.0.0.1:1/test",
    }
    one_line_error(
        run_cli("features", "materialize", env=env), "cannot reach the PostgreSQL", "postgres_url"
    )


def test_apply_without_sources_says_to_build(run_cli, raw_settings: Settings):
    one_line_error(run_cli("features", "apply"), "retain features build")


def test_build_without_raw_tables_is_one_line(run_cli, settings: Settings):
    one_line_error(run_cli("features", "build"), "monthly")
    assert not settings.sources_dir.exists()


def test_a_corrupt_raw_file_is_named_and_nothing_is_written(run_cli, raw_settings: Settings):
    part = sorted((raw_settings.raw_dir / "monthly").glob("*.parquet"))[1]
    part.write_bytes(b"PAR1 this is not parquet")
    one_line_error(run_cli("features", "build"), str(part))
    assert not raw_settings.sources_dir.exists()
    assert not list(raw_settings.data_dir.glob(".sources*"))


def test_a_failed_build_keeps_the_previous_sources(raw_settings: Settings):
    """The build is atomic: a corrupt part leaves the earlier sources as they were."""
    from retain.core.errors import DataError

    build_sources(raw_settings)
    before = sorted(p.name for p in (raw_settings.sources_dir / "balances_flows").iterdir())
    (raw_settings.raw_dir / "monthly" / "part-00002.parquet").write_bytes(b"garbage")
    with pytest.raises(DataError, match="part-00002.parquet"):
        build_sources(raw_settings)
    after = sorted(p.name for p in (raw_settings.sources_dir / "balances_flows").iterdir())
    assert before == after


def test_the_feast_cli_lists_the_views_retain_applied(run_cli, raw_settings: Settings):
    """After `retain features build` and `apply`, `feast feature-views list` shows the same;
    `frame` writes a training frame; then a corrupt source part makes `materialize` name it."""
    built = run_cli("features", "build")
    assert built.returncode == 0, built.stderr
    applied = run_cli("features", "apply")
    assert applied.returncode == 0, applied.stderr
    env = {**os.environ, "RETAIN_HOME": str(raw_settings.home)}
    yaml_path = raw_settings.feast_dir / "feature_store.yaml"
    listed = subprocess.run(
        [FEAST, "-c", "features/repo", "-f", str(yaml_path), "feature-views", "list"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert listed.returncode == 0, listed.stderr
    names = {line.split()[0] for line in listed.stdout.splitlines()[1:] if line.strip()}
    assert names == {
        "customer_profile",
        "balances_flows",
        "engagement_channels",
        "service_complaints",
        "product_holdings",
        "contact_history",
        "customer_segments",
        "request_time",
    }

    out = raw_settings.home / "frame.parquet"
    framed = run_cli("features", "frame", "--out", str(out), "--as-of", "2024-03")
    assert framed.returncode == 0, framed.stderr
    frame = pd.read_parquet(out)
    assert list(frame.columns[:3]) == ["customer_id", "event_timestamp", "label"]
    assert set(frame["event_timestamp"]) == {pd.Timestamp("2024-03-31 23:59:59", tz="UTC")}

    part = raw_settings.sources_dir / "contact_history" / "part-00001.parquet"
    part.write_bytes(part.read_bytes()[:100])
    one_line_error(run_cli("features", "materialize"), str(part))
