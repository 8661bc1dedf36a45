"""Bad input to the training commands: one line on stderr and a non-zero exit, no traceback."""

from __future__ import annotations

import pytest


def one_line_error(result) -> str:
    """The single ``error:`` line of a failed command (progress bars may precede it)."""
    lines = [ln for ln in result.stderr.strip().splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr[-2000:]
    return errors[0]


def test_an_unknown_model_name_is_refused(run_cli):
    """`retain train foo` names the models there are."""
    assert "unknown model 'foo'" in one_line_error(run_cli("train", "foo"))


def test_promotion_without_a_challenger_is_refused(run_cli):
    """`retain promote churn` on an empty registry says to train first."""
    assert "no challenger" in one_line_error(run_cli("promote", "churn"))


def test_rollback_without_a_champion_is_refused(run_cli):
    """`retain rollback churn` with no champion says so."""
    assert "no champion" in one_line_error(run_cli("rollback", "churn"))


@pytest.mark.slow
def test_training_with_no_labelled_months_is_refused(settings, run_cli):
    """Three months of history hold no 90-day label: training says so in one line."""
    from tests.integration.training.test_churn import make_bank

    make_bank(settings.home, customers=200, months=3)
    assert "no labelled as-of months" in one_line_error(run_cli("train", "churn"))
