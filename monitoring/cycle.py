"""One month of the bank's life, as steps in order: new data in, features built and
materialized, the base scored, the monitor run, and where drift or decay crosses an alert
threshold, a challenger trained and put through the gate.

The steps are arguments (``CycleSteps``): this module decides what runs and what the outcome
means; the command line supplies the steps (the simulator, ingestion, Feast, MLflow). What a
monitor's alert calls for:

- drift or decay (feature, prediction, segment and attribution drift; estimated or realised
  performance): a model trained on the new months may answer it, so a challenger is trained and
  gated;
- the data or the pipeline (data quality, freshness, online/offline skew): retraining on data
  that failed its checks would teach the model the fault, so nothing is trained and the cycle
  asks for a person;
- fairness: a standing finding about the model and the bank, reported every month, never an
  alert of change. On a simulated bank churn truly differs by age, so an accurate model flags
  age bands at different rates every month; as an exit status it would fire every month and
  teach the operator to ignore the scheduler. It is printed and kept in the report, and the
  gate's slice check (``training/gate.py``: AUC by age band and value tier) still refuses a
  challenger that is worse for a group.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

Alert = dict[str, str]


class CycleExit(IntEnum):
    """The exit status of ``retain cycle``, for a scheduler."""

    OK = 0
    """Nothing crossed an alert threshold that needs acting on, or a challenger was promoted."""
    USER_ERROR = 2
    """Bad input or a missing prerequisite (one line on stderr; nothing changed)."""
    REFUSED = 3
    """Drift or decay alerted, a challenger was trained and the gate refused it: the champion
    stays and a person should look."""
    DATA_ALERT = 4
    """The data or the pipeline alerted (quality, freshness, skew): nothing was retrained."""


RETRAIN_KINDS = frozenset(
    {"feature drift", "prediction drift", "segment drift", "attribution drift", "performance"}
)
"""Alert kinds a model trained on the new months may answer."""
DATA_KINDS = frozenset({"data quality", "freshness", "skew", "online store"})
"""Alert kinds about the data or the pipeline: fix them, do not train on them."""
FINDING_KINDS = frozenset({"fairness"})
"""Standing findings: reported, never the exit status (see the module's docstring)."""
NOT_MODEL = frozenset({"action mix (decision log)"})
"""Prediction drift subjects that say how the decisions changed, not the churn model."""


@dataclass(frozen=True)
class Triage:
    """The monitor's alert lines (status ``alert`` only; warnings are information), sorted by
    what they call for."""

    retrain: list[Alert] = field(default_factory=list)
    data: list[Alert] = field(default_factory=list)
    findings: list[Alert] = field(default_factory=list)
    other: list[Alert] = field(default_factory=list)

    @property
    def action(self) -> str:
        """``hold`` (data alerts: fix first), ``retrain``, or ``none``."""
        if self.data:
            return "hold"
        return "retrain" if self.retrain else "none"


def triage(alerts: Sequence[Alert]) -> Triage:
    """Sort the monitor's alert lines; warnings and unknown kinds never trigger anything."""
    out = Triage()
    for a in alerts:
        if a["status"] != "alert":
            continue
        kind = a["kind"]
        if kind in FINDING_KINDS:
            out.findings.append(a)
        elif kind in DATA_KINDS:
            out.data.append(a)
        elif kind in RETRAIN_KINDS and a["subject"] not in NOT_MODEL:
            out.retrain.append(a)
        else:
            out.other.append(a)
    return out


def moved_features(t: Triage) -> list[str]:
    """The features named by feature drift alerts, in the monitor's order (most severe first)."""
    return [a["subject"] for a in t.retrain if a["kind"] == "feature drift"]


@dataclass(frozen=True)
class MonitorOutcome:
    """What the monitor step hands back: its alert lines and one line to print."""

    alerts: list[Alert]
    summary: str


@dataclass(frozen=True)
class GateOutcome:
    """What the gate decided about the challenger."""

    promoted: bool
    summary: str


@dataclass(frozen=True)
class CycleSteps:
    """The steps of one month. Each returns one line that says what it did; a user's mistake or
    a missing prerequisite is a ``RetainError``, which stops the cycle."""

    new_data: Callable[[], str]
    features: Callable[[], str]
    score: Callable[[], str]
    monitor: Callable[[], MonitorOutcome]
    train: Callable[[], str]
    gate: Callable[[], GateOutcome]
    rescore: Callable[[], str]
    """The base scored again with the new champion after a promotion."""


@dataclass
class CycleResult:
    """What a cycle did: one ``(step, outcome)`` line per step run, the triage, the exit."""

    lines: list[tuple[str, str]]
    triage: Triage
    promoted: bool | None
    """None: no challenger was trained."""
    exit: CycleExit

    @property
    def verdict(self) -> str:
        """The cycle's outcome in words."""
        if self.triage.action == "hold":
            return "data or pipeline alert: nothing retrained; fix the data first"
        if self.promoted is None:
            return "no alert that retraining answers: nothing to do"
        if self.promoted:
            return "drift or decay alerted: the challenger passed the gate and is the champion"
        return "drift or decay alerted: the gate refused the challenger; the champion stays"


def run_cycle(
    steps: CycleSteps, on_step: Callable[[str, str], None] = lambda step, outcome: None
) -> CycleResult:
    """Run one month's steps in order and decide the exit status.

    Args:
        steps: the month's steps.
        on_step: called with ``(step, outcome)`` as each step ends, to print it.
    """
    lines: list[tuple[str, str]] = []

    def done(step: str, outcome: str) -> None:
        lines.append((step, outcome))
        on_step(step, outcome)

    done("new data", steps.new_data())
    done("features", steps.features())
    done("score", steps.score())
    monitored = steps.monitor()
    done("monitor", monitored.summary)
    t = triage(monitored.alerts)
    if t.findings:
        done("findings", f"{len(t.findings)} fairness finding(s), not alerts of change")
    if t.action == "hold":
        subjects = ", ".join(f"{a['kind']}: {a['subject']}" for a in t.data[:3])
        done("decision", f"hold: {len(t.data)} data or pipeline alert(s) ({subjects})")
        return CycleResult(lines, t, None, CycleExit.DATA_ALERT)
    if t.action == "none":
        done("decision", "no alert that retraining answers")
        return CycleResult(lines, t, None, CycleExit.OK)
    moved = moved_features(t)
    kinds = sorted({a["kind"] for a in t.retrain})
    named = f"; features moved: {', '.join(moved[:8])}" if moved else ""
    more = f" +{len(moved) - 8}" if len(moved) > 8 else ""
    done("decision", f"retrain: {len(t.retrain)} alert(s) ({', '.join(kinds)}){named}{more}")
    done("train", steps.train())
    gate = steps.gate()
    done("gate", gate.summary)
    if not gate.promoted:
        return CycleResult(lines, t, False, CycleExit.REFUSED)
    done("rescore", steps.rescore())
    return CycleResult(lines, t, True, CycleExit.OK)
