"""The churn score the uplift model is compared with: the churn model the caller gives, else the
uplift model's own no-contact churn (the control model)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retain.core.errors import DataError
from training.uplift.job import ChurnScorer, _churn_scores

ROWS = pd.DataFrame({"bal_total": [100.0, 200.0, 300.0]})
X = np.zeros((3, 1))


class ControlModel:
    """Stands in for the fitted uplift model: its churn without contact."""

    def churn_no_contact(self, x: np.ndarray) -> np.ndarray:
        return np.full(len(x), 0.5)


def _cannot_score(rows: pd.DataFrame) -> np.ndarray:
    raise DataError("cannot score: the input lacks feature(s) bank_extra")


def test_the_given_churn_model_scores_the_rows_under_its_own_name() -> None:
    scorer = ChurnScorer("retain-churn@champion", lambda rows: rows["bal_total"].to_numpy() / 1e3)
    p, name = _churn_scores(scorer, ROWS, ControlModel(), X)  # type: ignore[arg-type]
    assert name == "retain-churn@champion"
    assert p.tolist() == pytest.approx([0.1, 0.2, 0.3])


@pytest.mark.parametrize(
    "scorer",
    [None, ChurnScorer("retain-churn@champion", _cannot_score)],
    ids=["no churn model", "a churn model on other features"],
)
def test_otherwise_the_control_model_gives_the_churn_score(scorer: ChurnScorer | None) -> None:
    p, name = _churn_scores(scorer, ROWS, ControlModel(), X)  # type: ignore[arg-type]
    assert name == "control model"
    assert p.tolist() == [0.5, 0.5, 0.5]
