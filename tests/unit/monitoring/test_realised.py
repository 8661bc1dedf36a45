"""``monitoring.realised.auc_by_month``: each scorer's realised AUC per month."""

from __future__ import annotations

import math

import numpy as np

from monitoring.realised import auc_by_month


def test_each_scorer_gets_its_auc_per_month_on_rows_with_outcomes():
    months = np.array(["2024-01"] * 4 + ["2024-02"] * 4)
    labels = np.array([0, 0, 1, 1, 0, 1, np.nan, 0])
    perfect = np.array([0.1, 0.2, 0.8, 0.9, 0.1, 0.9, 0.5, 0.2])
    backwards = 1 - perfect
    table = auc_by_month(months, labels, {"new": perfect, "old": backwards})
    assert table["month"].tolist() == ["2024-01", "2024-02"]
    assert table["rows"].tolist() == [4, 3]  # the unlabelled row is left out
    assert table["new"].tolist() == [1.0, 1.0] and table["old"].tolist() == [0.0, 0.0]


def test_a_month_without_leavers_has_no_auc():
    table = auc_by_month(np.array(["2024-01"] * 3), np.zeros(3), {"m": np.array([0.1, 0.2, 0.3])})
    assert math.isnan(table["m"].iloc[0]) and table["rate"].iloc[0] == 0.0
