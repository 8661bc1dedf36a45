"""The decision: each rule removes what it should and says why; EV ranks; nothing beats nothing."""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retain.core.errors import DataError
from retain.core.tables import CHANNELS, OUTCOMES, PRODUCTS, RETENTION_ACTIONS
from serving.actions import NO_ACTION, ActionCatalogue
from serving.decide import (
    MONTH,
    RULES,
    WEEK,
    Contact,
    Context,
    Decision,
    Levers,
    Scores,
    decide,
    remaining_capacity,
)

CATALOGUE = ActionCatalogue.load()
POLICY = CATALOGUE.policy
NOW = datetime(2025, 6, 30, 12, tzinfo=UTC)
XSELL = [f"xsell_{p}" for p in PRODUCTS]

CUSTOMER: dict[str, Any] = {
    "age": 40,
    "income_band": 4,
    "risk_tolerance": 5,
    "marketing_consent": True,
    "tenure_months": 60,
    "complaints_open": 1,
    "app_logins_3m": 0,
    **{f"has_{p}": p in ("current_account", "savings") for p in PRODUCTS},
}
SCORES = Scores(
    customer_value=3000.0,
    p_churn=0.4,
    p_accept={a: 0.3 for a in XSELL},
    uplift={a: 0.3 for a in RETENTION_ACTIONS},
)


def days_ago(n: float) -> datetime:
    return NOW - timedelta(days=n)


def run(
    customer: Mapping[str, Any] = CUSTOMER,
    channel: str = "branch",
    history: list[Contact] | None = None,
    scores: Scores = SCORES,
    levers: Levers | None = None,
    k: int = 3,
    weight: float = 1.0,
) -> Decision:
    return decide(
        CATALOGUE, customer, Context(channel, NOW, weight=weight), history or [], scores, levers, k
    )


def entry(decision: Decision, action_id: str):
    return next(t for t in decision.trace if t.action_id == action_id)


@pytest.mark.parametrize(
    ("action_id", "changes", "channel", "history", "rule", "why"),
    [
        ("xsell_wealth_funds", {}, "mobile", [], "channel", "not offered on mobile"),
        ("rm_call", {}, "sms_email", [], "channel", "sms_email"),
        ("xsell_mortgage", {"age": 70}, "branch", [], "eligibility", "age < 65"),
        ("xsell_mortgage", {"has_mortgage": True}, "branch", [], "eligibility", "has_mortgage"),
        ("xsell_mortgage", {"age": None}, "branch", [], "eligibility", "None"),
        ("xsell_green_deposit", {"has_savings": False}, "branch", [], "eligibility", "has_savings"),
        ("resolve_complaint", {"complaints_open": 0}, "branch", [], "eligibility", "complaints"),
        ("xsell_wealth_funds", {"risk_tolerance": 3}, "branch", [], "suitability", "R3"),
        ("xsell_credit_card", {"risk_tolerance": None}, "branch", [], "suitability", "R1"),
        ("xsell_insurance", {"marketing_consent": False}, "branch", [], "consent", "False"),
        ("fee_waiver", {"marketing_consent": None}, "branch", [], "consent", "consent unknown"),
        (
            "xsell_insurance",
            {},
            "branch",
            [Contact("rm_call", "branch", days_ago(2))],
            "week_cap",
            "limit is 1",
        ),
        (
            "xsell_insurance",
            {},
            "branch",
            [Contact("rm_call", "branch", days_ago(10)), Contact("x", "branch", days_ago(20))],
            "month_cap",
            "limit is 2",
        ),
        (
            "xsell_insurance",
            {},
            "mobile",
            [Contact("xsell_insurance", "sms_email", days_ago(45), "declined")],
            "cooldown",
            "cooldown 90 days",
        ),
        (
            "xsell_insurance",
            {},
            "mobile",
            [Contact("xsell_insurance", "phone", days_ago(3), "ignored")],
            "repeat",
            "last 7 days",
        ),
        (
            "xsell_insurance",
            {},
            "mobile",
            [Contact("xsell_insurance", "phone", days_ago(60), "accepted")],
            "repeat",
            "accepted",
        ),
        (
            "xsell_insurance",
            {},
            "mobile",
            [Contact("xsell_insurance", "phone", days_ago(20), "ignored")],
            "max_per_month",
            "limit is 1",
        ),
        (
            "resolve_complaint",
            {},
            "mobile",
            [Contact("resolve_complaint", "phone", days_ago(d), "ignored") for d in (10, 20)],
            "max_per_month",
            "limit is 2",
        ),
    ],
)
def test_rule_removes_action(
    action_id: str,
    changes: dict[str, Any],
    channel: str,
    history: list[Contact],
    rule: str,
    why: str,
) -> None:
    """An action that breaks a rule is removed, and the trace names the rule and why."""
    decision = run({**CUSTOMER, **changes}, channel, history)
    e = entry(decision, action_id)
    assert (e.status, e.rule) == ("removed", rule)
    assert why in e.detail
    assert action_id not in {a.action_id for a in decision.actions}


@pytest.mark.parametrize(
    ("action_id", "changes", "channel", "history"),
    [
        ("resolve_complaint", {"marketing_consent": False}, "branch", []),
        ("xsell_credit_card", {"risk_tolerance": 2}, "branch", []),
        (
            "xsell_insurance",
            {},
            "mobile",
            [Contact("xsell_insurance", "phone", days_ago(100), "declined")],
        ),
        ("xsell_insurance", {}, "mobile", [Contact("xsell_insurance", "phone", days_ago(31))]),
        ("xsell_insurance", {}, "mobile", [Contact("rm_call", "mobile", days_ago(1))]),
        ("xsell_insurance", {}, "mobile", [Contact("xsell_insurance", "phone", NOW + WEEK)]),
    ],
)
def test_rule_keeps_action(
    action_id: str, changes: dict[str, Any], channel: str, history: list[Contact]
) -> None:
    """An action within the rules is kept: the boundaries of each rule are where they say."""
    e = entry(run({**CUSTOMER, **changes}, channel, history, k=20), action_id)
    assert e.status in ("selected", "outranked"), e


@pytest.mark.parametrize(
    ("consent", "detail"),
    [
        (None, "needs marketing consent; consent unknown: treated as no consent"),
        (float("nan"), "needs marketing consent; consent unknown: treated as no consent"),
        ("absent", "needs marketing consent; consent unknown: treated as no consent"),
        (False, "needs marketing consent; marketing_consent is False"),
    ],
)
def test_unknown_consent_is_no_consent_and_the_trace_says_so(consent: Any, detail: str) -> None:
    """Consent the bank did not provide removes every action that needs consent, as a no would,
    and the trace tells unknown consent apart from a recorded no; service actions stay."""
    customer = {k: v for k, v in CUSTOMER.items() if k != "marketing_consent"}
    if consent != "absent":
        customer["marketing_consent"] = consent
    decision = run(customer, k=20)
    for action in CATALOGUE.actions:
        e = entry(decision, action.id)
        if action.needs_consent:
            assert (e.status, e.rule, e.detail) == ("removed", "consent", detail) or (
                e.status == "removed" and e.rule in ("channel", "eligibility", "suitability")
            )
    assert entry(decision, "xsell_insurance").detail == detail
    assert entry(decision, "resolve_complaint").status in ("selected", "outranked")


def test_first_broken_rule_is_recorded() -> None:
    """An action breaking several rules is removed by the first, in the documented order."""
    customer = {**CUSTOMER, "age": 17, "risk_tolerance": 1, "marketing_consent": False}
    assert entry(run(customer, "mobile"), "xsell_wealth_funds").rule == "channel"
    assert entry(run(customer, "branch"), "xsell_wealth_funds").rule == "eligibility"
    assert [name for name, _ in RULES][:4] == ["channel", "eligibility", "suitability", "consent"]


@pytest.mark.parametrize(
    ("scores", "action_id", "why"),
    [
        (replace(SCORES, p_accept={}), "xsell_insurance", "P(accept)"),
        (replace(SCORES, p_churn=None), "fee_waiver", "P(churn)"),
        (replace(SCORES, uplift={}), "rm_call", "uplift"),
    ],
)
def test_missing_score_removes_action(scores: Scores, action_id: str, why: str) -> None:
    """An action whose EV needs a score the caller did not supply is removed by ``score``."""
    e = entry(run(scores=scores), action_id)
    assert (e.status, e.rule) == ("removed", "score")
    assert why in e.detail


def test_expected_values() -> None:
    """EV follows the documented formulas for each kind, levers and context weight included."""
    scores = Scores(
        customer_value=2000.0,
        p_churn=0.5,
        p_accept={"xsell_insurance": 0.2},
        uplift={"rm_call": 0.25},
    )
    levers = Levers({"cross_sell": 2.0, "retention": 0.5, "service": 1.0})
    d = run(channel="phone", scores=scores, levers=levers, k=20, weight=0.5)
    assert entry(d, "xsell_insurance").expected_value == pytest.approx(0.2 * 300 * 0.5 * 2 - 30)
    assert entry(d, "rm_call").expected_value == pytest.approx(0.5 * 0.25 * 2000 * 0.5 - 45)
    # Service: P(accept) defaults to 1.
    assert entry(d, "resolve_complaint").expected_value == pytest.approx(150 * 0.5 - 40)
    top = run(channel="sms_email", scores=scores, levers=levers, weight=0.5).actions[0]
    assert (top.action_id, top.kind, top.channel) == ("xsell_insurance", "cross_sell", "sms_email")
    assert top.propensity == 0.2


def test_negative_uplift_is_not_worth_it() -> None:
    """A retention offer that would push the customer away has negative EV and is not chosen."""
    d = run(scores=replace(SCORES, uplift={a: -0.2 for a in RETENTION_ACTIONS}), k=20)
    for a in RETENTION_ACTIONS:
        e = entry(d, a)
        assert e.status in ("not_worth", "removed")
        if e.status == "not_worth":
            assert e.expected_value is not None and e.expected_value < 0


def test_ranked_by_expected_value_top_k() -> None:
    """The top k by EV, best first; the rest are outranked in the trace."""
    d = run(channel="mobile", k=2)
    assert len(d.actions) == 2
    evs = [a.expected_value for a in d.actions]
    assert evs == sorted(evs, reverse=True)
    kept = [
        t for t in d.trace if t.status in ("selected", "outranked") and t.action_id != NO_ACTION
    ]
    assert max(t.expected_value or 0 for t in kept) == pytest.approx(evs[0], abs=1e-3)
    assert sum(t.status == "outranked" for t in kept) == len(kept) - 2


def test_channel_capacity_limits_k() -> None:
    """No more actions than the channel has contacts left this week."""
    history = [Contact("rm_call", "mobile", days_ago(d)) for d in (1, 2)]
    assert remaining_capacity(POLICY, history, Context("mobile", NOW)) == 1
    d = run(channel="mobile", history=history, k=3)
    assert len(d.actions) == 1
    assert any("contact(s) left" in t.detail for t in d.trace if t.status == "outranked")


@pytest.mark.parametrize(
    "levers",
    [Levers({"cross_sell": 0, "retention": 0, "service": 0}), Levers({"cross_sell": -1})],
)
def test_no_action_when_nothing_is_worth_it(levers: Levers) -> None:
    """With every EV at or below 0, the decision is ``no_action`` alone."""
    customer = {**CUSTOMER, "complaints_open": 0, "app_logins_3m": 5}
    scores = replace(SCORES, uplift={a: 0.0 for a in RETENTION_ACTIONS})
    d = run(customer, levers=levers, scores=scores)
    assert d.is_no_action
    assert entry(d, NO_ACTION).status == "selected"
    assert d.actions[0].channel == "branch"


def test_no_action_when_caps_are_reached() -> None:
    """A channel at its limit gets ``no_action``, every other action removed by the cap."""
    d = run(history=[Contact("xsell_savings", "branch", days_ago(1))])
    assert d.is_no_action
    rules = {t.rule for t in d.trace if t.action_id != NO_ACTION}
    assert "week_cap" in rules
    assert rules <= {"channel", "eligibility", "suitability", "consent", "week_cap"}


def test_decision_records_version_and_context() -> None:
    """The decision carries the catalogue version, channel, placement and time for the log."""
    d = decide(CATALOGUE, CUSTOMER, Context("mobile", NOW, placement="home_banner"), [], SCORES)
    assert (d.catalogue_version, d.channel, d.placement, d.at) == (
        CATALOGUE.version,
        "mobile",
        "home_banner",
        NOW,
    )
    assert [t.action_id for t in d.trace] == list(CATALOGUE.ids())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"context": Context("fax", NOW)}, "unknown channel"),
        ({"context": Context("mobile", NOW.replace(tzinfo=None))}, "timezone"),
        ({"context": Context("mobile", NOW, weight=-1)}, "weight"),
        ({"k": 0}, "k must be"),
        ({"scores": replace(SCORES, p_churn=1.5)}, "P\\(churn\\)"),
        ({"scores": replace(SCORES, p_accept={"xsell_savings": float("nan")})}, "xsell_savings"),
        ({"scores": replace(SCORES, uplift={"rm_call": 2.0})}, "rm_call"),
        ({"scores": replace(SCORES, customer_value=-1)}, "customer value"),
        ({"history": [Contact("rm_call", "phone", NOW, "maybe")]}, "outcome"),
        ({"history": [Contact("rm_call", "phone", NOW.replace(tzinfo=None))]}, "timezone"),
    ],
)
def test_bad_inputs_are_data_errors(kwargs: dict[str, Any], message: str) -> None:
    """Inputs the caller got wrong raise a DataError that says what is wrong."""
    args: dict[str, Any] = {
        "catalogue": CATALOGUE,
        "customer": CUSTOMER,
        "context": Context("mobile", NOW),
        "history": [],
        "scores": SCORES,
        "k": 3,
    }
    with pytest.raises(DataError, match=message):
        decide(**{**args, **kwargs})


# --- properties over random customers, histories and scores ----------------------------------

ACTION_IDS = list(CATALOGUE.ids())
maybe = st.none() | st.just(float("nan"))
customers = st.fixed_dictionaries(
    {
        "age": st.integers(14, 95) | st.none(),
        "income_band": st.integers(1, 5) | st.none(),
        "risk_tolerance": st.integers(1, 5) | st.none(),
        "marketing_consent": st.booleans() | st.none(),
        "tenure_months": st.integers(0, 400) | maybe,
        "complaints_open": st.integers(0, 3) | st.none(),
        "app_logins_3m": st.integers(0, 60) | st.none(),
        **{f"has_{p}": st.booleans() | st.none() for p in PRODUCTS},
    }
)
contacts = st.builds(
    Contact,
    action_id=st.sampled_from(ACTION_IDS),
    channel=st.sampled_from(CHANNELS),
    at=st.floats(0, 200).map(lambda d: NOW - timedelta(days=d)),
    outcome=st.sampled_from([*OUTCOMES, None]),
)
prob = st.floats(0, 1)
scores_st = st.builds(
    Scores,
    customer_value=st.floats(0, 20_000),
    p_churn=prob | st.none(),
    p_accept=st.dictionaries(st.sampled_from(XSELL + ["resolve_complaint"]), prob),
    uplift=st.dictionaries(st.sampled_from(RETENTION_ACTIONS), st.floats(-1, 1)),
)
levers_st = st.builds(
    Levers,
    st.dictionaries(st.sampled_from(["cross_sell", "retention", "service"]), st.floats(0, 3)),
)


ORACLE_OPS = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def allowed(action_id: str, customer: Mapping[str, Any]) -> bool:
    """An independent reading of eligibility, suitability and consent."""
    a = CATALOGUE[action_id]
    for c in a.eligibility:
        x = customer.get(c.feature)
        if x is None or x != x:
            return False
        ok = (x in c.value) if c.op == "in" else ORACLE_OPS[c.op](x, c.value)  # type: ignore[operator]
        if not ok:
            return False
    tolerance = customer.get("risk_tolerance") or 1
    if a.risk_level > tolerance:
        return False
    return not (a.needs_consent and customer.get("marketing_consent") is not True)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    customer=customers,
    channel=st.sampled_from(CHANNELS),
    history=st.lists(contacts, max_size=12),
    scores=scores_st,
    levers=levers_st,
    k=st.integers(1, 5),
)
def test_decision_properties(
    customer: dict[str, Any],
    channel: str,
    history: list[Contact],
    scores: Scores,
    levers: Levers,
    k: int,
) -> None:
    """Whatever the customer: only allowed actions, a full trace, and no_action iff nothing pays."""
    context = Context(channel, NOW)
    d = decide(CATALOGUE, customer, context, history, scores, levers, k)
    ids = [a.action_id for a in d.actions]

    # The trace accounts for every catalogue action exactly once, in catalogue order.
    assert [t.action_id for t in d.trace] == ACTION_IDS
    assert all((t.status == "removed") == (t.rule is not None) for t in d.trace)
    assert {t.action_id for t in d.trace if t.status == "selected"} == set(ids)

    if d.is_no_action:
        assert all(
            t.status in ("removed", "not_worth") for t in d.trace if t.action_id != NO_ACTION
        )
        return
    assert 1 <= len(ids) <= min(k, remaining_capacity(POLICY, history, context))
    assert len(set(ids)) == len(ids) and NO_ACTION not in ids
    evs = [a.expected_value for a in d.actions]
    assert evs == sorted(evs, reverse=True) and min(evs) > 0
    for a in d.actions:
        assert allowed(a.action_id, customer), a
        assert channel in CATALOGUE[a.action_id].channels


@settings(max_examples=200, deadline=None)
@given(customer=customers, scores=scores_st, levers=levers_st, k=st.integers(1, 5))
def test_no_action_iff_every_ev_is_not_positive(
    customer: dict[str, Any], scores: Scores, levers: Levers, k: int
) -> None:
    """Scaled so every EV is negative, the answer is no_action; with a positive one, it is not."""
    d = decide(CATALOGUE, customer, Context("mobile", NOW), [], scores, levers, k)
    kept = [t.expected_value for t in d.trace if t.status != "removed" and t.action_id != NO_ACTION]
    assert d.is_no_action == all(ev is not None and ev <= 0 for ev in kept)
    zero = Levers({"cross_sell": 0.0, "retention": 0.0, "service": 0.0})
    assert decide(CATALOGUE, customer, Context("mobile", NOW), [], scores, zero, k).is_no_action


steps = st.lists(
    st.tuples(
        st.floats(0.01, 6.0),  # days until the next decision
        st.sampled_from(CHANNELS),
        st.integers(1, 4),  # k
        st.lists(st.sampled_from(OUTCOMES), min_size=4, max_size=4),  # answers to what is sent
    ),
    min_size=5,
    max_size=40,
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(customer=customers, scores=scores_st, steps=steps)
def test_caps_and_cooldowns_hold_over_a_sequence(
    customer: dict[str, Any],
    scores: Scores,
    steps: list[tuple[float, str, int, list[str]]],
) -> None:
    """Deciding again and again, with the answers fed back, never breaks a limit or a cooldown."""
    customer = {**customer, "marketing_consent": True, "risk_tolerance": 5}
    history: list[Contact] = []
    now = NOW
    for gap, channel, k, answers in steps:
        now += timedelta(days=gap)
        d = decide(CATALOGUE, customer, Context(channel, now), history, scores, Levers(), k)
        if not d.is_no_action:
            for a, outcome in zip(d.actions, answers, strict=False):
                history.append(Contact(a.action_id, channel, now, outcome))

    for c in history:
        window_week = [h for h in history if c.at - WEEK < h.at <= c.at]
        window_month = [h for h in history if c.at - MONTH < h.at <= c.at]
        assert sum(h.channel == c.channel for h in window_week) <= POLICY.per_week[c.channel]
        assert sum(h.channel == c.channel for h in window_month) <= POLICY.per_month[c.channel]
        action = CATALOGUE[c.action_id]
        same = [h for h in window_month if h.action_id == c.action_id]
        assert len(same) <= action.max_per_month
        earlier = [h for h in history if h.action_id == c.action_id and h.at < c.at]
        for h in earlier:
            gap_days = (c.at - h.at) / timedelta(days=1)
            assert gap_days >= POLICY.repeat_days
            if h.outcome == "declined":
                assert gap_days >= action.cooldown_days
            if h.outcome == "accepted":
                assert gap_days >= POLICY.accepted_days
