"""Fairness slices: four-fifths ratios of flag and offer rates, AUC by group."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from monitoring.config import MonitoringConfig
from monitoring.fairness import auc_by_group, fairness_alerts, rate_ratios


def test_a_group_flagged_at_under_four_fifths_of_the_top_rate_alerts():
    gender = pd.Series(["f"] * 1000 + ["m"] * 1000)
    band = pd.Series(["<30", "60+"] * 1000)  # 12% flagged in each
    flag = np.r_[np.arange(1000) < 100, np.arange(1000) < 140]  # f 10%, m 14%
    out = rate_ratios(
        "high-risk flag", {"gender": gender, "age band": band}, flag, MonitoringConfig()
    )
    g = out[out["attribute"] == "gender"].set_index("group")
    assert g["rate"].tolist() == pytest.approx([0.10, 0.14])
    assert g.loc["f", "ratio"] == pytest.approx(0.10 / 0.14)
    assert g["status"].tolist() == ["alert", "ok"]
    lines = fairness_alerts(out)
    assert [(a["subject"], a["status"]) for a in lines] == [
        ("high-risk flag rate, gender f", "alert")
    ]
    assert "ratio 0.71" in lines[0]["detail"] and "14.0% for m" in lines[0]["detail"]


def test_small_groups_and_missing_values_are_reported_not_judged():
    band = pd.Series(["<30"] * 500 + ["60+"] * 500 + [None] * 20)
    flag = np.r_[np.zeros(500, bool), np.arange(500) < 50, np.ones(20, bool)]
    out = rate_ratios("offer", {"age band": band}, flag, MonitoringConfig())
    rows = out.set_index("group")
    assert rows.loc["(missing)", "status"] == "n/a" and rows.loc["(missing)", "rate"] == 1.0
    assert rows.loc["<30", "status"] == "alert" and rows.loc["<30", "ratio"] == 0.0
    assert rows.loc["60+", "ratio"] == 1.0


def test_no_flag_at_all_is_no_alarm():
    out = rate_ratios(
        "offer", {"g": pd.Series(["a", "b"] * 200)}, np.zeros(400), MonitoringConfig()
    )
    assert out["status"].tolist() == ["ok", "ok"] and out["ratio"].isna().all()


def test_auc_by_group_leaves_out_unlabelled_rows_and_one_class_groups():
    rng = np.random.default_rng(4)
    n = 4000
    p = rng.random(n)
    y = (rng.random(n) < p).astype(float)
    g = pd.Series(np.where(np.arange(n) < 2000, "a", "b"))
    y[:100] = np.nan
    groups = {"g": g, "h": pd.Series(["x"] * (n - 10) + ["y"] * 10)}
    y[-10:] = 0.0
    out = auc_by_group(groups, y, p).set_index(["attribute", "group"])
    assert out.loc[("g", "a"), "rows"] == 1900
    assert 0.7 < out.loc[("g", "a"), "auc"] < 0.9
    assert math.isnan(out.loc[("h", "y"), "auc"])
