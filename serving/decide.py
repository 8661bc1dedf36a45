"""The next best action: candidates -> rules -> expected value -> arbitration, with a full trace.

For one customer and one context (channel, placement, time), every catalogue action is either
removed by the first rule it breaks, or scored by its expected value (EV) and ranked:

1. rules, in order (``RULES``): ``channel`` (allowed on the context's channel), ``eligibility``
   (every condition of the catalogue holds), ``suitability`` (the action's risk level is at most
   the customer's ``risk_tolerance``; an unknown tolerance counts as 1), ``consent`` (an action
   that needs consent needs ``marketing_consent`` true; unknown consent, as from a bank that does
   not provide it, counts as none and the trace says so), then the contact policy: ``week_cap`` and
   ``month_cap`` (contacts on the channel in the last 7 / 30 days), ``cooldown`` (declined within
   the action's ``cooldown_days``), ``repeat`` (contacted within ``repeat_days``, or accepted
   within ``accepted_days``), ``max_per_month`` (the action's contacts in the last 30 days); last,
   ``score`` (the caller supplied no model score the EV needs).
2. expected value, with ``lever`` the business weight of the action's kind:

   - cross-sell: P(accept) x value x context weight x lever - cost;
   - retention: P(churn) x uplift x customer value x lever - cost, where uplift is the relative
     cut in P(churn) if the action is offered (negative for a customer the contact would push away);
   - service: P(accept) x value x context weight x lever - cost, where value is the catalogue's
     value of doing it and P(accept) defaults to 1 (the service is offered where the customer's
     problem shows, e.g. an open complaint);
   - ``no_action``: 0, the baseline.
3. arbitration: the actions with EV > 0, best first, at most ``k`` and at most the contacts the
   channel has left this week and month; ``no_action`` alone when none is worth more than nothing.

Every catalogue action gets exactly one trace entry. Everything here is pure: the caller reads
features, runs the models and keeps the contact history (the decision log with feedback).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from retain.core.errors import DataError
from retain.core.tables import CHANNELS, OUTCOMES
from serving.actions import NO_ACTION, Action, ActionCatalogue, ContactPolicy

WEEK = timedelta(days=7)
MONTH = timedelta(days=30)

Status = Literal["selected", "outranked", "not_worth", "removed"]


@dataclass(frozen=True)
class Context:
    """Where and when the decision is made.

    ``weight`` scales what an accepted offer is worth in this placement (say 0.6 for a banner,
    1.0 for a conversation with an adviser); it applies to cross-sell and service actions.
    """

    channel: str
    now: datetime
    placement: str = "default"
    weight: float = 1.0


@dataclass(frozen=True)
class Contact:
    """One action delivered to the customer, with the answer once known (None: no answer yet)."""

    action_id: str
    channel: str
    at: datetime
    outcome: str | None = None


@dataclass(frozen=True)
class Scores:
    """Model outputs for this customer, supplied by the caller.

    Args:
        customer_value: the customer's value to the bank (what retention saves), >= 0.
        p_churn: P(churn within the horizon); needed by retention actions.
        p_accept: P(accept) per cross-sell (needed) or service action (default 1).
        uplift: relative cut in P(churn) per retention action if offered, in [-1, 1].
        p_anyway: per cross-sell, P(the customer opens the product without the offer): the
            offer's value counts only the openings it causes. Empty: P(accept) is all counted.
        contact_churn: the P(churn) a cross-sell contact adds (may be negative), costed at the
            customer's value.
    """

    customer_value: float = 0.0
    p_churn: float | None = None
    p_accept: Mapping[str, float] = field(default_factory=dict)
    uplift: Mapping[str, float] = field(default_factory=dict)
    p_anyway: Mapping[str, float] = field(default_factory=dict)
    contact_churn: float = 0.0


@dataclass(frozen=True)
class Levers:
    """Business weights by action kind (``cross_sell``, ``retention``, ``service``); default 1."""

    weights: Mapping[str, float] = field(default_factory=dict)

    def of(self, kind: str) -> float:
        return float(self.weights.get(kind, 1.0))


@dataclass(frozen=True)
class RankedAction:
    action_id: str
    kind: str
    channel: str
    expected_value: float
    propensity: float | None


@dataclass(frozen=True)
class TraceEntry:
    """What happened to one catalogue action: ``rule`` is set when ``status`` is ``removed``."""

    action_id: str
    status: Status
    rule: str | None
    detail: str
    expected_value: float | None = None


@dataclass(frozen=True)
class Decision:
    """The ranked actions (``no_action`` alone when nothing is worth doing) and the full trace."""

    actions: tuple[RankedAction, ...]
    trace: tuple[TraceEntry, ...]
    catalogue_version: str
    channel: str
    placement: str
    at: datetime

    @property
    def is_no_action(self) -> bool:
        return len(self.actions) == 1 and self.actions[0].action_id == NO_ACTION


@dataclass(frozen=True)
class RuleInput:
    """Everything a rule may look at."""

    customer: Mapping[str, Any]
    context: Context
    history: Sequence[Contact]
    policy: ContactPolicy
    scores: Scores


Rule = Callable[[Action, RuleInput], str | None]
"""A rule returns None when the action passes, else why it is removed."""


def _since(history: Sequence[Contact], now: datetime, window: timedelta) -> list[Contact]:
    """Contacts in (now - window, now]; a future contact (replaying the log) does not count."""
    return [c for c in history if now - window < c.at <= now and c.action_id != NO_ACTION]


def rule_channel(action: Action, x: RuleInput) -> str | None:
    if x.context.channel not in action.channels:
        return f"not offered on {x.context.channel} (only {', '.join(action.channels)})"
    return None


def rule_eligibility(action: Action, x: RuleInput) -> str | None:
    for cond in action.eligibility:
        if not cond.holds(x.customer):
            return f"{cond} fails: {cond.feature} is {x.customer.get(cond.feature)!r}"
    return None


def customer_risk_tolerance(customer: Mapping[str, Any]) -> int:
    """The customer's tolerance 1..5; unknown or out of range counts as 1, the most prudent."""
    t = customer.get("risk_tolerance")
    if isinstance(t, bool) or not isinstance(t, int | float) or math.isnan(t):
        return 1
    return int(t) if 1 <= t <= 5 else 1


def rule_suitability(action: Action, x: RuleInput) -> str | None:
    tolerance = customer_risk_tolerance(x.customer)
    if action.risk_level > tolerance:
        return f"risk level {action.risk_level} exceeds the customer's tolerance R{tolerance}"
    return None


def rule_consent(action: Action, x: RuleInput) -> str | None:
    consent = x.customer.get("marketing_consent")
    if not action.needs_consent or consent is True:
        return None
    if consent is None or (isinstance(consent, float) and math.isnan(consent)):
        return "needs marketing consent; consent unknown: treated as no consent"
    return f"needs marketing consent; marketing_consent is {consent!r}"


def _channel_cap(x: RuleInput, window: timedelta, caps: Mapping[str, int], name: str) -> str | None:
    ch = x.context.channel
    used = sum(c.channel == ch for c in _since(x.history, x.context.now, window))
    if used >= caps[ch]:
        return f"{used} contact(s) on {ch} in the last {name}; the limit is {caps[ch]}"
    return None


def rule_week_cap(action: Action, x: RuleInput) -> str | None:
    return _channel_cap(x, WEEK, x.policy.per_week, "7 days")


def rule_month_cap(action: Action, x: RuleInput) -> str | None:
    return _channel_cap(x, MONTH, x.policy.per_month, "30 days")


def rule_cooldown(action: Action, x: RuleInput) -> str | None:
    window = timedelta(days=action.cooldown_days)
    declines = [
        c
        for c in _since(x.history, x.context.now, window)
        if c.action_id == action.id and c.outcome == "declined"
    ]
    if declines:
        last = max(c.at for c in declines)
        return f"declined on {last.isoformat()}; cooldown {action.cooldown_days} days"
    return None


def rule_repeat(action: Action, x: RuleInput) -> str | None:
    now = x.context.now
    recent = [c for c in _since(x.history, now, timedelta(days=x.policy.repeat_days))]
    if any(c.action_id == action.id for c in recent):
        return f"already offered in the last {x.policy.repeat_days} days"
    taken = _since(x.history, now, timedelta(days=x.policy.accepted_days))
    if any(c.action_id == action.id and c.outcome == "accepted" for c in taken):
        return f"accepted in the last {x.policy.accepted_days} days"
    return None


def rule_max_per_month(action: Action, x: RuleInput) -> str | None:
    n = sum(c.action_id == action.id for c in _since(x.history, x.context.now, MONTH))
    if n >= action.max_per_month:
        return f"offered {n} time(s) in the last 30 days; the limit is {action.max_per_month}"
    return None


def rule_score(action: Action, x: RuleInput) -> str | None:
    if action.kind == "cross_sell" and action.id not in x.scores.p_accept:
        return "no P(accept) supplied"
    if action.kind == "retention":
        if x.scores.p_churn is None:
            return "no P(churn) supplied"
        if action.id not in x.scores.uplift:
            return "no uplift estimate: retention actions need a retain-uplift champion"
    return None


RULES: tuple[tuple[str, Rule], ...] = (
    ("channel", rule_channel),
    ("eligibility", rule_eligibility),
    ("suitability", rule_suitability),
    ("consent", rule_consent),
    ("week_cap", rule_week_cap),
    ("month_cap", rule_month_cap),
    ("cooldown", rule_cooldown),
    ("repeat", rule_repeat),
    ("max_per_month", rule_max_per_month),
    ("score", rule_score),
)
"""The rules in the order they are applied; an action is removed by the first it breaks."""


def first_broken_rule(action: Action, x: RuleInput) -> tuple[str, str] | None:
    """``(rule, why)`` for the first rule the action breaks, or None when it passes them all."""
    for name, rule in RULES:
        why = rule(action, x)
        if why is not None:
            return name, why
    return None


def expected_value(
    action: Action, scores: Scores, context: Context, levers: Levers
) -> tuple[float, float | None, str]:
    """The action's EV, its propensity (P(accept), when known) and the arithmetic, as text.

    The action must have passed ``rule_score``.
    """
    lever = levers.of(action.kind)
    if action.kind == "none":
        return 0.0, None, "doing nothing is worth 0"
    if action.kind == "retention":
        p, u = scores.p_churn, scores.uplift[action.id]
        assert p is not None
        ev = p * u * scores.customer_value * lever - action.cost
        text = (
            f"P(churn) {p:.3f} x uplift {u:.3f} x customer value {scores.customer_value:g}"
            f" x lever {lever:g} - cost {action.cost:g} = {ev:.2f}"
        )
        return ev, scores.p_accept.get(action.id), text
    p = scores.p_accept.get(action.id, 1.0)
    if action.kind == "cross_sell" and action.id in scores.p_anyway:
        anyway = scores.p_anyway[action.id]
        churn = scores.contact_churn * scores.customer_value
        ev = p * (1 - anyway) * action.value * context.weight * lever - action.cost - churn
        text = (
            f"P(accept) {p:.3f} x P(not opening anyway) {1 - anyway:.3f} x value "
            f"{action.value:g} x context weight {context.weight:g} x lever {lever:g} - cost "
            f"{action.cost:g} - contact churn {scores.contact_churn:.4f} x customer value "
            f"{scores.customer_value:g} = {ev:.2f}"
        )
        return ev, p, text
    ev = p * action.value * context.weight * lever - action.cost
    text = (
        f"P(accept) {p:.3f} x value {action.value:g} x context weight {context.weight:g}"
        f" x lever {lever:g} - cost {action.cost:g} = {ev:.2f}"
    )
    return ev, p, text


def remaining_capacity(policy: ContactPolicy, history: Sequence[Contact], context: Context) -> int:
    """Contacts the context's channel may still take: the tighter of its week and month limits."""
    ch = context.channel
    week = sum(c.channel == ch for c in _since(history, context.now, WEEK))
    month = sum(c.channel == ch for c in _since(history, context.now, MONTH))
    return max(0, min(policy.per_week[ch] - week, policy.per_month[ch] - month))


def _check_inputs(context: Context, history: Sequence[Contact], scores: Scores, k: int) -> None:
    if context.channel not in CHANNELS:
        raise DataError(f"unknown channel {context.channel!r}; expected one of {list(CHANNELS)}")
    if context.now.tzinfo is None:
        raise DataError("the decision time must be timezone-aware (UTC)")
    if not (math.isfinite(context.weight) and context.weight >= 0):
        raise DataError(f"the context weight must be a finite number >= 0, not {context.weight}")
    if k < 1:
        raise DataError(f"k must be at least 1, not {k}")
    for c in history:
        if c.at.tzinfo is None:
            raise DataError(f"contact {c.action_id} at {c.at}: the time must be timezone-aware")
        if c.outcome is not None and c.outcome not in OUTCOMES:
            raise DataError(
                f"contact {c.action_id}: outcome {c.outcome!r} is not one of {OUTCOMES}"
            )
    probs = dict(scores.p_accept)
    if scores.p_churn is not None:
        probs["P(churn)"] = scores.p_churn
    for name, p in probs.items():
        if not (math.isfinite(p) and 0 <= p <= 1):
            raise DataError(f"score {name}: a probability must be in [0, 1], not {p}")
    for name, p in scores.p_anyway.items():
        if not (math.isfinite(p) and 0 <= p <= 1):
            raise DataError(f"P(open anyway) {name}: a probability must be in [0, 1], not {p}")
    if not (math.isfinite(scores.contact_churn) and -1 <= scores.contact_churn <= 1):
        raise DataError(f"contact churn must be in [-1, 1], not {scores.contact_churn}")
    for name, u in scores.uplift.items():
        if not (math.isfinite(u) and -1 <= u <= 1):
            raise DataError(f"uplift {name}: must be in [-1, 1], not {u}")
    if not (math.isfinite(scores.customer_value) and scores.customer_value >= 0):
        raise DataError(f"customer value must be a finite number >= 0, not {scores.customer_value}")


def decide(
    catalogue: ActionCatalogue,
    customer: Mapping[str, Any],
    context: Context,
    history: Sequence[Contact],
    scores: Scores,
    levers: Levers | None = None,
    k: int = 3,
) -> Decision:
    """The next best actions for one customer in one context.

    Args:
        catalogue: the validated action catalogue.
        customer: feature values by name (the online features of the customer).
        context: channel, time, placement and its weight.
        history: the customer's past contacts with their outcomes (from the decision log).
        scores: model outputs; an action without the score its EV needs is removed (``score``).
        levers: business weights by kind; all 1 when None.
        k: the most actions to return.

    Returns:
        The ranked actions and a trace with one entry per catalogue action, in catalogue order.

    Raises:
        DataError: an unknown channel, a naive time, k < 1, or a score out of range.
    """
    levers = levers or Levers()
    _check_inputs(context, history, scores, k)
    x = RuleInput(customer, context, history, catalogue.policy, scores)

    entries: dict[str, TraceEntry] = {}
    scored: list[tuple[float, Action, float | None, str]] = []
    for action in catalogue.actions:
        if action.id == NO_ACTION:
            continue
        broken = first_broken_rule(action, x)
        if broken is not None:
            entries[action.id] = TraceEntry(action.id, "removed", broken[0], broken[1])
            continue
        ev, propensity, text = expected_value(action, scores, context, levers)
        if ev <= 0:
            entries[action.id] = TraceEntry(action.id, "not_worth", None, text, ev)
        else:
            scored.append((ev, action, propensity, text))

    # Best first; ties broken by catalogue order, so the decision is deterministic.
    order = {a.id: i for i, a in enumerate(catalogue.actions)}
    scored.sort(key=lambda s: (-s[0], order[s[1].id]))
    take = min(k, remaining_capacity(catalogue.policy, history, context))
    ranked = [
        RankedAction(a.id, a.kind, context.channel, round(ev, 4), p)
        for ev, a, p, _ in scored[:take]
    ]
    for i, (ev, a, _, text) in enumerate(scored):
        if i < take:
            entries[a.id] = TraceEntry(a.id, "selected", None, f"rank {i + 1}: {text}", ev)
        else:
            why = f"below the top {k}" if take == k else f"beyond the {take} contact(s) left"
            entries[a.id] = TraceEntry(a.id, "outranked", None, f"{why}: {text}", ev)

    if ranked:
        entries[NO_ACTION] = TraceEntry(
            NO_ACTION, "outranked", None, "an action is worth more than doing nothing", 0.0
        )
    else:
        ranked = [RankedAction(NO_ACTION, "none", context.channel, 0.0, None)]
        entries[NO_ACTION] = TraceEntry(
            NO_ACTION, "selected", None, "no action is worth more than doing nothing", 0.0
        )
    return Decision(
        actions=tuple(ranked),
        trace=tuple(entries[a.id] for a in catalogue.actions),
        catalogue_version=catalogue.version,
        channel=context.channel,
        placement=context.placement,
        at=context.now,
    )
