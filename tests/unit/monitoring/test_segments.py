"""Feature drift per segment: a shift confined to one segment is found there, even where the
whole population hides it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitoring.config import MonitoringConfig
from monitoring.drift import feature_drift, numeric_drift
from monitoring.segments import (
    age_band,
    bin_codes,
    psi_rows,
    segment_drift,
    worst_pairs,
    worst_segments,
)


def _frame(rng: np.random.Generator, n: int, shift_north: float = 0.0) -> pd.DataFrame:
    region = rng.choice(
        ["north", "south", "east", "west", "centre"], n, p=[0.1, 0.3, 0.2, 0.2, 0.2]
    )
    balance = rng.gamma(2.0, 1000.0, n)
    balance = np.where(region == "north", balance * (1 + shift_north), balance)
    return pd.DataFrame(
        {
            "region": region,
            "age": rng.integers(18, 90, n),
            "balance": balance.astype("float32"),
            "logins": pd.array(rng.poisson(4, n), dtype="Int64"),
        }
    )


def test_age_bands():
    out = age_band(pd.Series([18, 29, 30, 44, 45, 59, 60, 95, None], dtype="Int64"))
    assert out.tolist() == ["<30", "<30", "30-44", "30-44", "45-59", "45-59", "60+", "60+", None]


def test_bins_are_the_whole_window_drift_bins():
    """One level holding every row gives the PSI of ``numeric_drift`` exactly."""
    rng = np.random.default_rng(1)
    r = pd.Series(np.where(rng.random(5000) < 0.1, np.nan, rng.normal(size=5000)))
    c = pd.Series(np.where(rng.random(4000) < 0.2, np.nan, rng.normal(0.3, 1, size=4000)))
    br, bc, k = bin_codes(r, c, 10)
    counts = np.vstack([np.bincount(br, minlength=k), np.bincount(bc, minlength=k)])
    psi = psi_rows(counts[:1], counts[1:])[0]
    assert psi == pytest.approx(numeric_drift(r.to_numpy(), c.to_numpy(), 10).psi, rel=1e-12)


def test_a_shift_in_one_region_is_found_there_and_hidden_overall():
    """Balances in the north (a tenth of the customers) rise by 60%: overall the balance's PSI
    stays below the warn threshold, in the north it alerts; nothing else moves."""
    rng = np.random.default_rng(7)
    ref, cur = _frame(rng, 40_000), _frame(rng, 40_000, shift_north=0.6)
    config = MonitoringConfig(segments=("region", "age_band"))
    features = ["balance", "logins", "region"]
    pairs = segment_drift(ref, cur, features, config)
    top = pairs.iloc[0]
    assert (top["segment"], top["level"], top["feature"], top["status"]) == (
        "region",
        "north",
        "balance",
        "alert",
    )
    assert (pairs["status"].iloc[1:].isin(["ok", "n/a"])).all()
    overall = feature_drift(ref, cur, features, config)
    assert overall.set_index("feature").loc["balance", "psi"] < config.psi_warn
    levels = worst_segments(pairs, overall)
    assert levels.iloc[0][["level", "feature", "hidden"]].tolist() == ["north", "balance", True]
    assert levels["hidden"].sum() == 1


def test_a_small_level_is_not_judged():
    rng = np.random.default_rng(2)
    ref, cur = _frame(rng, 3000), _frame(rng, 3000, shift_north=3.0)
    pairs = segment_drift(ref, cur, ["balance"], MonitoringConfig(segments=("region",)))
    north = pairs[pairs["level"] == "north"].iloc[0]
    assert north["status"] == "n/a" and north["psi"] > 1  # about 300 rows: below 1,000


def test_a_features_own_thresholds_judge_it_in_every_segment():
    rng = np.random.default_rng(7)
    ref, cur = _frame(rng, 40_000), _frame(rng, 40_000, shift_north=0.6)
    config = MonitoringConfig(
        segments=("region",), features={"balance": {"psi_warn": 5.0, "psi_alert": 9.0}}
    )
    pairs = segment_drift(ref, cur, ["balance"], config)
    assert set(pairs["status"]) == {"ok"}


def test_a_local_drift_is_named_even_where_a_global_one_is_larger():
    """Every region's logins move a lot; the north's balances move too: the north's line
    names its balance, the hidden drift, not the logins every level shares."""
    rng = np.random.default_rng(7)
    ref, cur = _frame(rng, 40_000), _frame(rng, 40_000, shift_north=0.6)
    cur["logins"] = cur["logins"] + 3
    features = ["balance", "logins"]
    config = MonitoringConfig(segments=("region",))
    pairs = segment_drift(ref, cur, features, config)
    overall = feature_drift(ref, cur, features, config)
    levels = worst_segments(pairs, overall).set_index("level")
    assert levels.loc["north", ["feature", "hidden"]].tolist() == ["balance", True]
    assert levels.loc["south", ["feature", "hidden"]].tolist() == ["logins", False]
    top = worst_pairs(pairs, overall, 3)
    assert top.iloc[0][["level", "feature", "hidden"]].tolist() == ["north", "balance", True]
    assert len(top) == 3


def test_default_segments_missing_from_the_frames_are_left_out():
    rng = np.random.default_rng(3)
    ref, cur = _frame(rng, 2000), _frame(rng, 2000)
    pairs = segment_drift(ref, cur, ["balance"], MonitoringConfig())
    assert set(pairs["segment"]) == {"region", "age_band"}


def test_a_segment_is_not_judged_on_the_features_it_is_made_of():
    """A year later everyone is a year older: within an age band, age and birth year move by
    construction, and are not judged there."""
    rng = np.random.default_rng(5)
    ref = _frame(rng, 20_000).assign(birth_year=lambda f: 2023 - f["age"])
    cur = ref.assign(age=ref["age"] + 1)
    features = ["age", "birth_year", "region", "balance"]
    pairs = segment_drift(ref, cur, features, MonitoringConfig(segments=("age_band", "region")))
    by_segment = pairs.groupby("segment")["feature"].unique()
    assert set(by_segment["age_band"]) == {"region", "balance"}
    assert set(by_segment["region"]) == {"age", "birth_year", "balance"}
