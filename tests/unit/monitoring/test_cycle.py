"""``monitoring.cycle``: the month's steps in order, what each alert calls for, the exit status."""

from __future__ import annotations

import pytest

from monitoring.cycle import (
    CycleExit,
    CycleSteps,
    GateOutcome,
    MonitorOutcome,
    run_cycle,
    triage,
)
from retain.core.errors import DataError


def _alert(kind: str, subject: str = "x", status: str = "alert") -> dict[str, str]:
    return {"kind": kind, "subject": subject, "status": status, "detail": "figures"}


DRIFT = _alert("feature drift", "market_rate")
DECAY = _alert("performance", "ROC AUC")
QUALITY = _alert("data quality", "monthly.bal_current")
FAIRNESS = _alert("fairness", "high-risk flag rate, age band 18-29")


class Fake:
    """Steps that record their calls; the monitor finds ``alerts``, the gate says ``passes``."""

    def __init__(self, alerts: list[dict[str, str]], passes: bool = True) -> None:
        self.alerts, self.passes = alerts, passes
        self.calls: list[str] = []

    def step(self, name: str) -> str:
        self.calls.append(name)
        return f"{name} done"

    def steps(self) -> CycleSteps:
        def monitor() -> MonitorOutcome:
            self.calls.append("monitor")
            return MonitorOutcome(self.alerts, "monitored")

        def gate() -> GateOutcome:
            self.calls.append("gate")
            return GateOutcome(self.passes, "passed" if self.passes else "refused")

        return CycleSteps(
            new_data=lambda: self.step("new_data"),
            features=lambda: self.step("features"),
            score=lambda: self.step("score"),
            monitor=monitor,
            train=lambda: self.step("train"),
            gate=gate,
            rescore=lambda: self.step("rescore"),
        )


def test_a_quiet_month_runs_to_the_monitor_and_exits_0_without_training():
    fake = Fake([_alert("feature drift", status="warn")])
    result = run_cycle(fake.steps())
    assert fake.calls == ["new_data", "features", "score", "monitor"]
    assert result.exit == CycleExit.OK == 0
    assert result.promoted is None
    assert "nothing to do" in result.verdict


@pytest.mark.parametrize("found", [DRIFT, DECAY, _alert("attribution drift")])
def test_drift_or_decay_trains_a_challenger_and_a_promotion_exits_0(found):
    fake = Fake([found])
    result = run_cycle(fake.steps())
    assert fake.calls[-3:] == ["train", "gate", "rescore"]
    assert result.exit == CycleExit.OK and result.promoted is True


def test_a_refused_challenger_exits_3_and_keeps_the_champion_s_scores():
    fake = Fake([DRIFT], passes=False)
    result = run_cycle(fake.steps())
    assert fake.calls[-2:] == ["train", "gate"]  # no rescore: the champion did not change
    assert result.exit == CycleExit.REFUSED == 3 and result.promoted is False


def test_a_data_alert_holds_retraining_even_beside_drift_and_exits_4():
    fake = Fake([DRIFT, QUALITY])
    result = run_cycle(fake.steps())
    assert "train" not in fake.calls
    assert result.exit == CycleExit.DATA_ALERT == 4
    assert "fix the data" in result.verdict


def test_fairness_is_a_finding_that_never_sets_the_exit_status():
    fake = Fake([FAIRNESS])
    lines: list[tuple[str, str]] = []
    result = run_cycle(fake.steps(), lambda step, outcome: lines.append((step, outcome)))
    assert result.exit == CycleExit.OK and "train" not in fake.calls
    assert ("findings", "1 fairness finding(s), not alerts of change") in lines


def test_the_action_mix_of_the_decision_log_does_not_retrain_the_churn_model():
    t = triage([_alert("prediction drift", "action mix (decision log)")])
    assert t.action == "none" and t.other


def test_each_step_s_outcome_is_reported_in_order_with_the_moved_features_named():
    fake = Fake([DRIFT, _alert("feature drift", "rate_gap"), DECAY])
    lines: list[tuple[str, str]] = []
    result = run_cycle(fake.steps(), lambda step, outcome: lines.append((step, outcome)))
    steps = [s for s, _ in lines]
    assert steps == ["new data", "features", "score", "monitor", "decision", "train", "gate",
                     "rescore"]  # fmt: skip
    assert result.lines == lines
    decision = dict(lines)["decision"]
    assert "features moved: market_rate, rate_gap" in decision
    assert "3 alert(s) (feature drift, performance)" in decision


def test_a_failing_step_stops_the_cycle_before_the_next_one():
    fake = Fake([DRIFT])
    steps = fake.steps()

    def broken() -> str:
        raise DataError("the raw monthly table has no rows")

    with pytest.raises(DataError):
        run_cycle(CycleSteps(**{**steps.__dict__, "features": broken}))
    assert fake.calls == ["new_data"]
