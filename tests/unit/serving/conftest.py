"""Fixtures of the serving unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from retain.core.settings import Settings
from serving.decision_log import DecisionLog, new_decision_id

TABLES = ("retain_decisions", "retain_feedback", "retain_audit")


@pytest.fixture(params=["embedded", "production"])
def either_log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DecisionLog]:
    """The SQLite log and the PostgreSQL log of a project of their own (the PostgreSQL rows
    removed afterwards)."""
    settings = Settings(home=tmp_path, profile=request.param, project=f"t_{new_decision_id()[:8]}")
    log = DecisionLog.open(settings)
    yield log
    if request.param == "production":
        with log.engine.begin() as conn:
            for table in TABLES:
                conn.execute(
                    sa.text(f"delete from {table} where project_id = :p"), {"p": settings.project}
                )
    log.close()
