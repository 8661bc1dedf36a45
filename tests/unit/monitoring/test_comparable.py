"""``monitoring.comparable``: what a quiet month is compared on, so it raises no alarm."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from monitoring.comparable import (
    NEVER,
    cap_recency,
    comparable_config,
    comparable_frames,
    gaussian_units,
    judge_market,
    market_moves,
    market_wide,
    monthly_steps,
    warm_reference,
)
from monitoring.config import MonitoringConfig
from monitoring.drift import feature_drift

MONTHS = list(pd.date_range("2023-01-31", periods=12, freq="ME", tz="UTC"))


def test_the_data_s_warm_up_months_leave_the_reference():
    assert warm_reference(MONTHS[:9], MONTHS, 6) == MONTHS[6:9]
    assert warm_reference(MONTHS[8:10], MONTHS, 6) == MONTHS[8:10]


def test_a_reference_inside_the_warm_up_is_not_comparable_when_no_month_follows_it():
    """Nothing to compare with: the caller does not judge drift (a warm-up reference would make
    every later month drift by construction)."""
    assert warm_reference(MONTHS[:4], MONTHS[:6], 6) == []


def test_recency_past_the_cap_and_never_read_alike():
    capped = cap_recency(pd.Series([0.0, 3.0, 6.0, 17.0, np.nan]), 6)
    assert capped.tolist() == [0.0, 3.0, 6.0, 6.0, 6.0]


def _frame(months: list[pd.Timestamp], rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    at = np.repeat(months, rows)
    k = len(at)
    index = np.repeat(np.arange(len(months)), rows)
    return pd.DataFrame(
        {
            "event_timestamp": at,
            "market_rate": 2.0 + 0.01 * index,  # one value per month for everyone
            "balance": rng.gamma(2.0, 1000.0, k),
            "months_since_contact": np.where(rng.random(k) < 0.3, rng.integers(0, 30, k), np.nan),
        }
    )


def test_only_features_with_one_value_per_month_are_market_wide():
    frame = _frame(MONTHS[:4], 50, 1)
    assert market_wide(frame, ["market_rate", "balance"], "event_timestamp") == ["market_rate"]
    assert market_wide(frame[frame["event_timestamp"] == MONTHS[0]], ["market_rate"],
                       "event_timestamp") == []  # fmt: skip


def test_the_tests_are_judged_at_the_family_wise_level_and_a_market_rate_by_its_move():
    config = MonitoringConfig(features={"balance": {"psi_alert": 0.5}})
    judged = comparable_config(config, ["a", "b", "c", "d", "e"], ["market_rate", "balance"])
    assert math.isclose(judged.p_value, 0.01)
    rate = judged.for_feature("market_rate")
    assert rate.psi_alert == NEVER and rate.wasserstein_alert == NEVER  # judge_market's
    assert judged.for_feature("balance").psi_alert == 0.5  # the bank's own thresholds win


def test_a_quiet_month_stays_quiet_and_a_market_jump_still_alerts():
    """A reference of three months and a later month from the same process: the rate is back
    where it was and the recency feature's history grew; nothing alerts. A rate war's jump of
    1.75 points alerts on the rate alone."""
    ref = _frame(MONTHS[6:9], 3000, 2)
    quiet = _frame([MONTHS[11]], 3000, 3)
    # A longer history: some customers never contacted within it now have an old contact.
    never = quiet["months_since_contact"].isna() & (np.arange(len(quiet)) % 2 == 0)
    quiet.loc[never, "months_since_contact"] = 12 + np.arange(never.sum()) % 20
    features = ["market_rate", "balance", "months_since_contact"]
    config = MonitoringConfig()
    judged = comparable_config(config, features, market_wide(ref, features, "event_timestamp"))
    r, c = comparable_frames(ref, quiet, features, config.recency_cap_months)
    assert (feature_drift(r, c, features, judged)["status"] == "ok").all()
    raw = feature_drift(ref, quiet, features, config)
    alerted = set(raw.loc[raw["status"] == "alert", "feature"])
    assert alerted == {"market_rate", "months_since_contact"}
    war = quiet.assign(market_rate=quiet["market_rate"] + 1.75)
    r, c = comparable_frames(ref, war, features, config.recency_cap_months)
    history = _frame(MONTHS[:6], 1, 4)  # the warm-up's rates: two steps alone are too few
    moves = market_moves(ref, war, ["market_rate"], "event_timestamp", history)
    table = judge_market(feature_drift(r, c, features, judged), moves, config)
    table = table.set_index("feature")
    assert table.loc["market_rate", "status"] == "alert"
    assert table.loc["balance", "status"] == "ok"


def test_a_last_answer_counts_only_while_it_is_recent():
    frame = pd.DataFrame(
        {
            "satisfaction_last": [7.0, 8.0, 9.0, np.nan],
            "months_since_survey": [1.0, 6.0, 20.0, np.nan],
        }
    )
    features = ["satisfaction_last", "months_since_survey"]
    ref, _ = comparable_frames(frame, frame, features, 6)
    assert ref["satisfaction_last"].tolist()[:1] == [7.0]
    assert ref["satisfaction_last"].iloc[1:].isna().all()
    assert ref["months_since_survey"].tolist() == [1.0, 6.0, 6.0, 6.0]
    assert frame["satisfaction_last"].iloc[0] == 7.0  # the caller's frame is left alone


def test_a_market_rate_is_judged_by_its_move_in_random_walk_steps():
    """Steps of 0.05 a month in the reference: 0.1 more four months on is one unit (quiet); a
    jump of 1.75 is 17.5 units, Student's t with 3 degrees of freedom (the spread is estimated
    from three steps): 3.5 standard normal units, a warning. Eight more steps of the same
    spread before the reference (its warm-up months, say) make the same jump an alert."""
    ref = pd.DataFrame({"event_timestamp": MONTHS[8:12], "rate": [2.0, 2.05, 2.0, 2.05]})
    earlier = pd.DataFrame({"event_timestamp": MONTHS[:8], "rate": [2.0, 2.05] * 4})
    later = list(pd.date_range("2024-04-30", periods=1, freq="ME", tz="UTC"))
    for value, history, status in (
        (2.15, None, "ok"),
        (2.05 + 1.75, None, "warn"),
        (2.05 + 1.75, earlier, "alert"),
    ):
        cur = pd.DataFrame({"event_timestamp": later, "rate": [value]})
        moves = market_moves(ref, cur, ["rate"], "event_timestamp", history)
        steps = 3 if history is None else 11
        raw = abs(value - 2.05) / (0.05 * 2)
        assert math.isclose(moves["rate"], gaussian_units(raw, steps), rel_tol=1e-9)
        table = pd.DataFrame({"feature": ["rate", "balance"], "psi": [9.0, 0.3],
                              "status": ["alert", "alert"]})  # fmt: skip
        judged = judge_market(table, moves, MonitoringConfig()).set_index("feature")
        assert judged.loc["rate", "status"] == status
        assert judged.loc["balance", "status"] == "alert" and math.isnan(
            judged.loc["balance", "move"]
        )


def test_a_market_rate_needs_three_reference_months():
    ref = pd.DataFrame({"event_timestamp": MONTHS[:2], "rate": [2.0, 2.1]})
    cur = pd.DataFrame({"event_timestamp": [MONTHS[5]], "rate": [5.0]})
    assert math.isnan(market_moves(ref, cur, ["rate"], "event_timestamp")["rate"])


def test_a_champion_trained_within_the_warm_up_is_judged_against_the_months_after_it():
    assert warm_reference(MONTHS[:3], MONTHS, 6, before=MONTHS[11]) == MONTHS[6:9]
    assert warm_reference(MONTHS[:3], MONTHS, 6, before=MONTHS[7]) == MONTHS[6:7]
    assert warm_reference(MONTHS[:3], MONTHS, 6, before=MONTHS[6]) == []


def test_a_reference_needs_its_minimum_of_comparable_months():
    """Three months at least (two steps of a market rate): with two before the current window,
    none; a training window with too few months after the warm-up takes the months after it."""
    assert warm_reference(MONTHS[:3], MONTHS, 6, before=MONTHS[8], min_months=3) == []
    assert warm_reference(MONTHS[:3], MONTHS, 6, before=MONTHS[9], min_months=3) == MONTHS[6:9]
    assert warm_reference(MONTHS[4:8], MONTHS, 6, before=MONTHS[11], min_months=3) == MONTHS[6:10]
    assert warm_reference(MONTHS[4:10], MONTHS, 6, before=MONTHS[11], min_months=3) == MONTHS[6:10]


def test_the_move_in_standard_normal_units_keeps_its_false_alarm_rate_on_short_references():
    """Random walks of Gaussian steps, three reference months and the next: the move reaches 2
    standard normal units in about 4.6% of them, as it should; the raw ratio (Student's t with
    two degrees of freedom) would reach 2 in 18%."""
    rng = np.random.default_rng(11)
    walks = 1500
    path = np.cumsum(rng.normal(0, 0.1, (4, walks)), axis=0)
    names = [f"r{i}" for i in range(walks)]
    frame = pd.DataFrame(path, columns=names).assign(event_timestamp=MONTHS[:4])
    moves = market_moves(frame.iloc[:3], frame.iloc[3:], names, "event_timestamp")
    share = np.mean([moves[n] >= 2 for n in names])
    assert 0.03 < share < 0.065
    assert gaussian_units(2.0, 2) < 1.4 and math.isclose(
        gaussian_units(2.0, 10**6), 2.0, rel_tol=1e-3
    )


def test_steps_over_a_gap_are_scaled_to_one_month():
    at = [MONTHS[0], MONTHS[1], MONTHS[3]]
    steps = monthly_steps(pd.Series([0.0, 1.0, 3.0], index=at))
    assert np.allclose(steps, [1.0, 2.0 / math.sqrt(2)])


def test_a_jump_since_the_month_before_the_current_window_counts_too():
    """A reference ending five months before the current month: a 1.5-point jump from the
    month before is only 6.7 raw units from the reference's last month (a walk spreads over
    five months), 15 from the month before; the history holds that month."""
    rates = [2.0, 2.1] * 9  # 18 months, steps of 0.1
    frame = pd.DataFrame(
        {
            "event_timestamp": pd.date_range("2023-01-31", periods=19, freq="ME", tz="UTC"),
            "rate": [*rates, 2.1 + 1.5],
        }
    )
    ref, history, cur = (
        frame.iloc[8:14],
        frame.iloc[list(range(8)) + [14, 15, 16, 17]],
        frame.iloc[18:],
    )
    moves = market_moves(ref, cur, ["rate"], "event_timestamp", history)
    assert math.isclose(moves["rate"], gaussian_units(15.0, 17), rel_tol=1e-6)
    assert math.isclose(
        market_moves(ref, cur, ["rate"], "event_timestamp")["rate"],
        gaussian_units(abs(3.6 - 2.1) / (0.1 * math.sqrt(5)), 5),
        rel_tol=1e-6,
    )
