"""Offer acceptance from the decision log: realised against predicted, per action and channel."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from scipy.stats import binomtest

from monitoring.acceptance import (
    ALL,
    acceptance,
    acceptance_alerts,
    read_delivered,
    wilson_interval,
)
from monitoring.config import MonitoringConfig
from monitoring.monitor import MonitorResult
from monitoring.report import render_html, summary_json
from retain.core.errors import ConfigError
from serving.decide import Decision, RankedAction
from serving.decision_log import DecisionLog, LogItem, new_decision_id
from serving.schemas import RecommendedAction, RecommendResponse
from tests.unit.monitoring.test_report import result  # noqa: F401 (a fixture)

AT = datetime(2025, 3, 10, 9, tzinfo=UTC)
CONFIG = MonitoringConfig()


@pytest.fixture
def log(tmp_path: Path) -> Iterator[DecisionLog]:
    log = DecisionLog(f"sqlite:///{tmp_path / 'log.db'}", "p")
    yield log
    log.close()


def _decision(channel: str, actions: list[tuple[str, float | None]], at: datetime = AT) -> LogItem:
    """One decision as the service logs it, its response carrying each action's propensity
    (null for a retention action)."""
    decision_id = new_decision_id()
    kinds = ["cross_sell" if p is not None else "retention" for _, p in actions]
    decision = Decision(
        tuple(
            RankedAction(a, kind, channel, 1.0, p)
            for (a, p), kind in zip(actions, kinds, strict=True)
        ),
        (),
        "test",
        channel,
        "default",
        at,
    )
    response = RecommendResponse(
        decision_id=decision_id,
        customer_id=1,
        channel=channel,
        placement="default",
        at=at,
        actions=[
            RecommendedAction(
                rank=rank,
                action_id=a,
                kind=kind,  # type: ignore[arg-type]
                description=a,
                channel=channel,
                expected_value=1.0,
                propensity=p,
            )
            for rank, ((a, p), kind) in enumerate(zip(actions, kinds, strict=True), start=1)
        ],
        churn_probability=0.1,
        customer_value=100.0,
        trace=[],
        models={},
        catalogue_version="test",
    )
    return decision_id, 1, decision, response.model_dump_json(), None


def _decide(
    log: DecisionLog, channel: str, actions: list[tuple[str, float | None]], at: datetime = AT
) -> str:
    """Log one decision through the real API; its id."""
    item = _decision(channel, actions, at)
    log.record(*item[:4])
    return item[0]


def _fill(
    log: DecisionLog,
    action: str,
    channel: str,
    predicted: float | None,
    outcomes: dict[str, int],
    unanswered: int = 0,
) -> None:
    """Decisions delivering ``action``: ``outcomes`` answered as given, ``unanswered`` not."""
    answers = [o for o, n in outcomes.items() for _ in range(n)] + [None] * unanswered
    items = [_decision(channel, [(action, predicted)]) for _ in answers]
    log.record_many(items)
    for item, outcome in zip(items, answers, strict=True):
        if outcome is not None:
            log.record_feedback(item[0], action, outcome, AT + timedelta(days=1))


def _judge(log: DecisionLog, config: MonitoringConfig = CONFIG):
    return acceptance(read_delivered(str(log.engine.url), log.project), config)


def _row(table: pd.DataFrame, action: str, channel: str = ALL) -> dict:
    rows = table[(table["action"] == action) & (table["channel"] == channel)]
    assert len(rows) == 1
    return rows.iloc[0].to_dict()


def test_counts_rate_and_wilson_interval(log: DecisionLog):
    """Answered share, outcome counts, accepted over answered and its Wilson interval (the same
    as scipy's), the predicted mean of the answered actions; within the interval: ok."""
    _fill(log, "xsell_card", "mobile", 0.2, {"accepted": 30, "declined": 100, "ignored": 20}, 50)
    r = _row(_judge(log).table, "xsell_card")
    assert (r["delivered"], r["answered"], r["accepted"], r["declined"], r["ignored"]) == (
        200,
        150,
        30,
        100,
        20,
    )
    assert r["answered_share"] == pytest.approx(0.75)
    assert r["realised"] == pytest.approx(0.2)
    ci = binomtest(30, 150).proportion_ci(confidence_level=0.95, method="wilson")
    assert (r["ci_low"], r["ci_high"]) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert r["predicted"] == pytest.approx(0.2)
    assert (r["gap"], r["status"]) == (0.0, "ok")
    assert _row(_judge(log).table, "xsell_card", "mobile")["answered"] == 150


def test_wilson_interval_stays_in_bounds_at_the_edges():
    assert wilson_interval(0, 50, 0.95)[0] == 0.0
    assert wilson_interval(50, 50, 0.95)[1] == 1.0
    low, high = wilson_interval(0, 0, 0.95)
    assert low != low and high != high  # NaN: nothing to say


def test_a_clearly_wrong_prediction_alerts_and_a_matching_one_does_not(log: DecisionLog):
    """Predicted 0.5, accepted 10% of 200 answers: one alert line for the action (not one per
    channel as well); an action predicted at its realised rate stays quiet."""
    _fill(log, "xsell_loan", "mobile", 0.5, {"accepted": 10, "declined": 90})
    _fill(log, "xsell_loan", "branch", 0.5, {"accepted": 10, "declined": 90})
    _fill(log, "xsell_savings", "mobile", 0.3, {"accepted": 36, "declined": 84})
    judged = _judge(log)
    wrong, right = _row(judged.table, "xsell_loan"), _row(judged.table, "xsell_savings")
    assert wrong["status"] == "alert" and wrong["gap"] == pytest.approx(0.5 - wrong["ci_high"])
    assert right["status"] == "ok"
    lines = acceptance_alerts(judged)
    assert [(a["subject"], a["status"]) for a in lines] == [("xsell_loan", "alert")]
    assert "predicted 0.500, realised 0.100" in lines[0]["detail"]
    s = judged.summary()
    assert (s["acceptance_actions_judged"], s["acceptance_actions_off"]) == (2, 1)
    assert s["acceptance_answered"] == 320


def test_a_miss_confined_to_one_channel_is_named_with_its_channel(log: DecisionLog):
    _fill(log, "xsell_card", "mobile", 0.2, {"accepted": 200, "declined": 800})
    _fill(log, "xsell_card", "branch", 0.2, {"accepted": 45, "declined": 75})
    judged = _judge(log)
    assert _row(judged.table, "xsell_card")["status"] == "ok"
    assert _row(judged.table, "xsell_card", "branch")["status"] == "alert"
    assert [a["subject"] for a in acceptance_alerts(judged)] == ["xsell_card on branch"]


def test_a_small_count_is_not_judged_however_far_off(log: DecisionLog):
    _fill(log, "xsell_loan", "mobile", 0.9, {"declined": 20})
    judged = _judge(log)
    r = _row(judged.table, "xsell_loan")
    assert r["realised"] == 0.0 and r["gap"] > 0.5 and r["status"] == "n/a"
    assert acceptance_alerts(judged) == []
    assert _row(_judge(log, replace(CONFIG, acceptance_min_answered=20)).table, "xsell_loan")[
        "status"
    ] == ("alert")


def test_an_action_without_a_prediction_is_counted_not_judged(log: DecisionLog):
    _fill(log, "rm_call", "phone", None, {"accepted": 150, "declined": 50})
    r = _row(_judge(log).table, "rm_call")
    assert r["realised"] == pytest.approx(0.75) and r["status"] == "n/a"
    assert r["predicted"] != r["predicted"]  # NaN


def test_a_log_without_feedback_says_so_and_raises_no_alert(log: DecisionLog):
    _fill(log, "xsell_card", "mobile", 0.9, {}, unanswered=300)
    judged = _judge(log)
    assert "no feedback yet" in judged.note and "300 delivered actions" in judged.note
    assert acceptance_alerts(judged) == []
    assert judged.summary()["acceptance_answered"] == 0


def test_every_delivered_action_of_a_decision_is_read_in_its_window_and_project(
    log: DecisionLog, tmp_path: Path
):
    """Each ranked action is a row with its own propensity and feedback; decisions outside
    ``(start, end]``, without actions or of another project are not."""
    first = _decide(log, "mobile", [("xsell_card", 0.3), ("xsell_loan", 0.1)])
    log.record_feedback(first, "xsell_loan", "accepted", AT)
    _decide(log, "mobile", [], AT)
    _decide(log, "mobile", [("xsell_card", 0.3)], AT + timedelta(days=40))
    other = DecisionLog(str(log.engine.url), "other")
    _decide(other, "mobile", [("xsell_card", 0.3)])
    other.close()
    out = read_delivered(str(log.engine.url), "p", AT - timedelta(days=1), AT)
    assert out[["action", "rank", "outcome"]].values.tolist() == [
        ["xsell_card", 1, None],
        ["xsell_loan", 2, "accepted"],
    ]
    assert out["predicted"].tolist() == [0.3, 0.1]  # the answered decision's response
    assert str(out["at"].dt.tz) == "UTC"
    missing = tmp_path / "none" / "log.db"
    assert read_delivered(f"sqlite:///{missing}", "p").empty and not missing.parent.exists()


def test_acceptance_reaches_the_page_and_the_json(result: MonitorResult, log: DecisionLog):  # noqa: F811
    _fill(log, "xsell_loan", "mobile", 0.5, {"accepted": 10, "declined": 90})
    full = replace(result, acceptance=_judge(log))
    page = render_html(full, {})
    assert "<h2>Offer acceptance: realised against predicted</h2>" in page
    assert "xsell_loan" in page
    data = json.loads(json.dumps(summary_json(full), allow_nan=False))
    assert data["acceptance"]["table"][0]["action"] == "xsell_loan"
    quiet = replace(result, acceptance=acceptance(read_delivered("sqlite:///x", "p"), CONFIG))
    assert "no action was delivered" in render_html(quiet, {})


@pytest.mark.parametrize(
    "bad",
    [
        {"acceptance_gap_warn": 0.1, "acceptance_gap_alert": 0.05},
        {"acceptance_confidence": 1.0},
        {"acceptance_min_answered": 0},
    ],
)
def test_bad_acceptance_thresholds_are_refused(bad: dict):
    with pytest.raises(ConfigError):
        MonitoringConfig.from_dict(bad)


def test_the_monitor_judges_the_action_mix_current_window_only(tmp_path: Path, capsys):
    """``retain monitor`` reads the acceptance of the decisions the action mix calls current
    (here the log's latest month), and prints one line of it."""
    from monitoring.decisions import action_mix, read_decisions, split_windows
    from monitoring.monitor import _acceptance
    from retain.cli.monitor import _print_acceptance
    from retain.core.settings import Settings
    from serving.decision_log import log_url

    settings = Settings(home=tmp_path, project="p")
    log = DecisionLog.open(settings)
    old = [_decision("mobile", [("xsell_old", 0.5)], AT - timedelta(days=90)) for _ in range(5)]
    log.record_many(old)
    log.record_feedback(old[0][0], "xsell_old", "declined", AT)
    _fill(log, "xsell_loan", "mobile", 0.5, {"accepted": 10, "declined": 90})
    log.close()
    decisions = read_decisions(log_url(settings), "p")
    never = (pd.Timestamp("1990-01-01", tz="UTC"), pd.Timestamp("1990-02-01", tz="UTC"))
    ref, cur, basis = split_windows(decisions, never, never, months=1)
    judged = _acceptance(settings, CONFIG, action_mix(ref, cur, CONFIG, basis))
    assert judged.table["action"].unique().tolist() == ["xsell_loan"]
    assert judged.window == "2025-03..2025-03"
    assert [a["subject"] for a in acceptance_alerts(judged)] == ["xsell_loan"]
    report = MonitorResult.__new__(MonitorResult)
    report.acceptance, report.summary = judged, judged.summary()
    _print_acceptance(report)
    line = capsys.readouterr().out
    assert "100 of 100 delivered actions answered" in line and "1 of 1 judged" in line
