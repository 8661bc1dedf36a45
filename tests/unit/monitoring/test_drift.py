"""Feature drift statistics on small arrays, checked against scipy and by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from monitoring.config import MonitoringConfig
from monitoring.drift import (
    MISSING,
    categorical_drift,
    feature_drift,
    is_numeric,
    judge,
    level_counts,
    numeric_drift,
    psi,
    quantile_edges,
)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(11)


def test_psi_is_zero_for_equal_shares_and_matches_the_formula():
    """It is 0 for the same shares and sum (c - r) ln(c / r) otherwise."""
    assert psi([10, 20, 30], [1, 2, 3]) == pytest.approx(0.0)
    r, c = np.array([0.5, 0.3, 0.2]), np.array([0.2, 0.3, 0.5])
    assert psi(r * 100, c * 100) == pytest.approx(float(np.sum((c - r) * np.log(c / r))))


def test_psi_stays_finite_with_an_empty_bin():
    """An empty bin counts as a tiny share: large but finite."""
    value = psi([50, 50, 0], [40, 40, 20])
    assert math.isfinite(value) and value > 0.5


def test_psi_of_an_empty_sample_is_zero():
    assert psi([0, 0], [3, 4]) == 0.0


def test_quantile_edges_are_deciles_and_collapse_on_ties():
    """Deciles of 1..100 are 10, 20, ..., 90; a mostly-zero feature gets fewer edges."""
    assert quantile_edges(np.arange(1.0, 101.0), 10).tolist() == [
        float(k) for k in range(10, 100, 10)
    ]
    zeros = np.sort(np.r_[np.zeros(80), np.arange(1.0, 21.0)])
    assert quantile_edges(zeros, 10).tolist() == [0.0, 10.0]


@pytest.mark.parametrize("shift", [0.0, 0.3, 1.0])
def test_ks_statistic_and_p_value_match_scipy(rng, shift):
    """KS statistic and asymptotic p-value equal scipy's ks_2samp on the same samples."""
    r = rng.normal(size=3000)
    c = rng.normal(shift, 1.0, size=2000)
    d = numeric_drift(r, c)
    expected = stats.ks_2samp(r, c, method="asymp")
    assert d.statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert d.p_value == pytest.approx(expected.pvalue, rel=1e-6, abs=1e-300)


def test_ks_handles_ties_like_scipy(rng):
    """Integer-valued counts (many ties) give scipy's statistic."""
    r = rng.poisson(2.0, 5000).astype(float)
    c = rng.poisson(2.4, 4000).astype(float)
    assert numeric_drift(r, c).statistic == pytest.approx(stats.ks_2samp(r, c).statistic)


@pytest.mark.parametrize("shift", [0.0, 0.5, 2.0])
def test_wasserstein_matches_scipy_scaled_by_the_reference_std(rng, shift):
    """The distance is scipy's Wasserstein-1 over the reference's (population) std."""
    r = rng.gamma(2.0, 3.0, 4000)
    c = rng.gamma(2.0, 3.0, 3000) + shift
    d = numeric_drift(r, c)
    expected = stats.wasserstein_distance(r, c) / r.std()
    assert d.distance == pytest.approx(expected, rel=1e-9)


def test_wasserstein_is_unit_free():
    """Scaling both samples by 1000 (euros to thousands) leaves the distance unchanged."""
    r, c = np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 3.0, 4.0, 9.0])
    assert numeric_drift(r, c).distance == pytest.approx(numeric_drift(r * 1000, c * 1000).distance)


def test_numeric_psi_uses_reference_deciles_and_a_missing_bin():
    """A shift of the missing share alone shows in PSI (its own bin), not in KS or Wasserstein."""
    values = np.arange(1000.0)
    current = values.copy()
    current[:500] = np.nan  # the lower half is missing now
    d = numeric_drift(values, current)
    assert d.missing_reference == 0.0 and d.missing_current == 0.5
    shares_r = np.r_[np.full(10, 0.1), 0.0]
    shares_c = np.r_[np.zeros(5), np.full(5, 0.1), 0.5]
    assert d.psi == pytest.approx(psi(shares_r * 1000, shares_c * 1000))


def test_identical_samples_do_not_drift(rng):
    x = rng.normal(size=1000)
    d = numeric_drift(x, x.copy())
    assert (d.psi, d.distance, d.statistic) == (pytest.approx(0.0), 0.0, 0.0)
    assert d.p_value == pytest.approx(1.0)


def test_a_constant_reference_is_scaled_by_one():
    d = numeric_drift(np.ones(10), np.full(10, 3.0))
    assert d.distance == pytest.approx(2.0)


def test_an_all_missing_sample_gives_no_distance():
    d = numeric_drift(np.array([1.0, 2.0]), np.array([np.nan, np.nan]))
    assert d.distance == 0.0 and d.p_value == 1.0 and d.missing_current == 1.0 and d.psi > 1


def test_level_counts_put_missing_values_in_their_own_level():
    counts = level_counts(pd.Series(["a", "b", None]), pd.Series(["b", "c", "c", None]))
    assert counts.to_dict("index") == {
        "a": {"reference": 1, "current": 0},
        "b": {"reference": 1, "current": 1},
        "c": {"reference": 0, "current": 2},
        MISSING: {"reference": 1, "current": 1},
    }


def test_categorical_drift_matches_scipy():
    """Jensen-Shannon distance (base 2) and the chi-square test of homogeneity are scipy's."""
    ref = pd.Series(["branch"] * 60 + ["mobile"] * 30 + ["phone"] * 10)
    cur = pd.Series(["branch"] * 30 + ["mobile"] * 60 + ["phone"] * 10)
    d = categorical_drift(ref, cur, "preferred_channel")
    assert d.kind == "categorical" and d.distance_name == "jensen_shannon"
    assert d.distance == pytest.approx(jensenshannon([60, 30, 10], [30, 60, 10], base=2))
    chi = stats.chi2_contingency(np.array([[60, 30, 10], [30, 60, 10]]), correction=False)
    assert d.statistic == pytest.approx(chi.statistic)
    assert d.p_value == pytest.approx(chi.pvalue)


def test_a_single_level_gives_no_test():
    d = categorical_drift(pd.Series(["x"] * 5), pd.Series(["x"] * 7))
    assert (d.psi, d.distance, d.statistic, d.p_value) == (pytest.approx(0.0), 0.0, 0.0, 1.0)


@pytest.mark.parametrize(
    ("series", "numeric"),
    [
        (pd.Series([1.0, 2.0]), True),
        (pd.Series([1, None], dtype="Int64"), True),
        (pd.Series([True, None], dtype="boolean"), False),
        (pd.Series([True, False]), False),
        (pd.Series(["a", "b"]), False),
    ],
)
def test_booleans_and_strings_are_categorical(series, numeric):
    assert is_numeric(series) is numeric


def test_judge_uses_the_worse_of_psi_and_distance_on_large_samples():
    """On large samples the status is the worse of PSI's and the distance's."""
    d = numeric_drift(np.arange(5000.0), np.arange(5000.0) + 300)  # W/std = 300/1443 = 0.21
    assert judge(d, MonitoringConfig(psi_warn=50, psi_alert=50)).status == "alert"
    assert judge(d, MonitoringConfig(psi_warn=0.0, psi_alert=0.0, wasserstein_alert=9)).status == (
        "alert"
    )
    # A moderate distance whose test does not reject at the level judged stays a warning.
    within_noise = MonitoringConfig(psi_warn=50, psi_alert=50, wasserstein_alert=0.3, p_value=1e-12)
    assert judge(d, within_noise).status == "warn"


def test_a_moderate_shift_beyond_the_sampling_noise_alerts():
    """A shift of 0.15 standard deviations (between warn 0.1 and alert 0.2): on 1,200 rows a
    side KS does not reject at 0.05 / 87 features, a warning; on 20,000 it does, an alert. A
    small shift that is certain (0.05 on 20,000 rows) stays quiet."""
    from scipy.stats import norm

    judged = MonitoringConfig(psi_warn=50, psi_alert=50, p_value=0.05 / 87)
    for n, shift, status in ((1200, 0.15, "warn"), (20_000, 0.15, "alert"), (20_000, 0.05, "ok")):
        r = norm.ppf((np.arange(n) + 0.5) / n)
        d = numeric_drift(r, r + shift)
        assert d.distance == pytest.approx(shift / r.std(), rel=1e-6)
        assert judge(d, judged).status == status, (n, shift, d.p_value)


def test_judge_uses_the_p_value_on_small_samples():
    """Below ``test_below_rows`` a significant test alerts even with a small distance."""
    config = MonitoringConfig(psi_warn=10, psi_alert=10, test_below_rows=1000)
    r, c = np.linspace(0, 1, 200), np.linspace(0.15, 1.15, 200)
    assert judge(numeric_drift(r, c), config).status == "alert"
    big = MonitoringConfig(
        psi_warn=10, psi_alert=10, wasserstein_warn=5, wasserstein_alert=5, test_below_rows=0
    )
    assert judge(numeric_drift(r, c), big).status == "ok"


def test_a_mostly_missing_feature_is_a_small_sample():
    """20 values present in 2,000 rows: their distance is noise, the test is judged (and a
    test that does not reject does not alert)."""
    config = MonitoringConfig(psi_warn=10, psi_alert=10)
    r = pd.Series(["a", "b"] * 10 + [None] * 1980)
    c = pd.Series(["a"] * 15 + ["b"] * 5 + [None] * 1980)
    d = categorical_drift(r, c)
    assert d.distance > config.jensen_shannon_alert and d.p_value > 0.05
    assert judge(d, config).status == "ok"


def test_feature_drift_covers_every_feature_most_severe_first(rng):
    """A frame of mixed types: one row per feature, the drifted ones first, with statuses."""
    n = 4000
    ref = pd.DataFrame(
        {
            "balance": rng.gamma(2.0, 1000.0, n),
            "logins": pd.array(rng.poisson(5, n), dtype="Int64"),
            "channel": rng.choice(["branch", "mobile"], n, p=[0.7, 0.3]),
            "has_card": pd.array(rng.random(n) < 0.5, dtype="boolean"),
        }
    )
    cur = ref.copy()
    cur["balance"] = cur["balance"] * 0.4  # deposits drain
    cur["channel"] = rng.choice(["branch", "mobile"], n, p=[0.3, 0.7])  # mobile shift
    out = feature_drift(ref, cur, list(ref.columns), threads=2)
    assert len(out) == 4
    assert set(out.head(2)["feature"]) == {"balance", "channel"}
    assert set(out.head(2)["status"]) == {"alert"}
    assert set(out.tail(2)["status"]) == {"ok"}
    kinds = dict(zip(out["feature"], out["kind"], strict=True))
    assert kinds == {
        "balance": "numeric",
        "logins": "numeric",
        "channel": "categorical",
        "has_card": "categorical",
    }
    assert feature_drift(ref, cur, list(ref.columns), threads=1).equals(out)


def test_feature_drift_names_a_missing_feature():
    with pytest.raises(KeyError, match="nope"):
        feature_drift(pd.DataFrame({"a": [1.0]}), pd.DataFrame({"a": [1.0]}), ["a", "nope"])
