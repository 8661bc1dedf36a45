"""A decision's inputs as the audit log keeps them, and back: ``decide`` gets exactly what it got.

The audit row of a ``/recommend`` call holds every argument of ``serving.decide.decide`` but the
catalogue (its version is kept): the customer's feature values, the context, the contact history
read from the log, the model scores at full precision, the levers and ``k``. JSON keeps floats
exactly (shortest repr), so the replayed decision is the logged one bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from serving.decide import Contact, Context, Decision, Levers, Scores

TIME = "$time"
"""Marks a datetime among the feature values, so it comes back as one."""


def _value(v: Any) -> Any:
    return {TIME: v.isoformat()} if isinstance(v, datetime) else v


def _restore(v: Any) -> Any:
    if isinstance(v, dict) and set(v) == {TIME}:
        return datetime.fromisoformat(v[TIME])
    return v


def decision_inputs(
    customer: Mapping[str, Any],
    context: Context,
    history: Sequence[Contact],
    scores: Scores,
    levers: Levers,
    k: int,
    decision: Decision,
) -> dict[str, Any]:
    """``decide``'s arguments (and the catalogue version it used), JSON-ready."""
    return {
        "catalogue_version": decision.catalogue_version,
        "customer": {name: _value(v) for name, v in customer.items()},
        "context": {
            "channel": context.channel,
            "now": context.now.isoformat(),
            "placement": context.placement,
            "weight": context.weight,
        },
        "history": [
            {
                "action_id": c.action_id,
                "channel": c.channel,
                "at": c.at.isoformat(),
                "outcome": c.outcome,
            }
            for c in history
        ],
        "scores": {
            "customer_value": scores.customer_value,
            "p_churn": scores.p_churn,
            "p_accept": dict(scores.p_accept),
            "uplift": dict(scores.uplift),
            "p_anyway": dict(scores.p_anyway),
            "contact_churn": scores.contact_churn,
        },
        "levers": dict(levers.weights),
        "k": k,
    }


def decide_arguments(
    inputs: Mapping[str, Any],
) -> tuple[dict[str, Any], Context, list[Contact], Scores, Levers, int]:
    """The arguments of ``decide`` (after the catalogue) from ``decision_inputs``' output."""
    c = inputs["context"]
    context = Context(c["channel"], datetime.fromisoformat(c["now"]), c["placement"], c["weight"])
    history = [
        Contact(h["action_id"], h["channel"], datetime.fromisoformat(h["at"]), h["outcome"])
        for h in inputs["history"]
    ]
    s = inputs["scores"]
    scores = Scores(
        s["customer_value"],
        s["p_churn"],
        s["p_accept"],
        s["uplift"],
        s.get("p_anyway", {}),
        float(s.get("contact_churn", 0.0)),
    )
    customer = {name: _restore(v) for name, v in inputs["customer"].items()}
    return customer, context, history, scores, Levers(inputs["levers"]), int(inputs["k"])
