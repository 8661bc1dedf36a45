"""Replay a logged decision: its logged inputs through ``serving.decide.decide`` again, compared
with what was answered (the ranked actions and the whole trace).

Replays the decision rules, not the models: the scores are taken as logged, with the model
versions that produced them and the customer's feature values and snapshot time beside them.
"""

from __future__ import annotations

from dataclasses import dataclass

from retain.core.errors import ConfigError
from serving.actions import ActionCatalogue
from serving.audit import decide_arguments
from serving.decide import decide
from serving.decision_log import DecisionLog, UnknownDecisionError
from serving.nba import trace_out


@dataclass(frozen=True)
class Replay:
    decision_id: str
    same: bool
    differences: list[str]
    """What differs, one line each ("actions: ..." or "trace <action>: ...")."""


def replay(log: DecisionLog, decision_id: str, catalogue: ActionCatalogue) -> Replay:
    """Decide again from the logged inputs of ``decision_id`` and compare with the answer.

    Raises:
        UnknownDecisionError: no such decision, or it was logged without its inputs (before
            the audit log existed).
        ConfigError: ``catalogue`` is not the version the decision was made with.
    """
    rows = [  # /recommend, /recommend/batch or `retain recommend --audience` decided it
        r
        for r in log.audit_rows(decision_id=decision_id)
        if str(r["endpoint"]).startswith("recommend")
    ]
    if not rows or rows[0]["inputs"] is None:
        raise UnknownDecisionError(f"no audit record with the inputs of decision {decision_id!r}")
    inputs = rows[0]["inputs"]
    if str(inputs["catalogue_version"]) != catalogue.version:
        raise ConfigError(
            f"decision {decision_id} was made with catalogue version "
            f"{inputs['catalogue_version']}, the catalogue here is version {catalogue.version}"
        )
    answered = log.response(decision_id)
    decision = decide(catalogue, *decide_arguments(inputs))
    differences = []
    actions = [(a.action_id, a.channel, a.expected_value) for a in decision.actions]
    logged = [(a["action_id"], a["channel"], a["expected_value"]) for a in answered["actions"]]
    if actions != logged:
        differences.append(f"actions: logged {logged}, replayed {actions}")
    trace = {t.action_id: t.model_dump(mode="json") for t in trace_out(decision)}
    for item in answered["trace"]:
        again = trace.pop(item["action_id"], None)
        if again != item:
            differences.append(f"trace {item['action_id']}: logged {item}, replayed {again}")
    differences += [f"trace {a}: not logged, replayed {t}" for a, t in trace.items()]
    return Replay(decision_id, not differences, differences)
