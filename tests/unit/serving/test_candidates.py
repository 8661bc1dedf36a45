"""The plan's candidates: the same rules and expected values as /recommend and ``retain score``,
the contact history from the decision log, one row per capped channel."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from retain.core.errors import NotReadyError
from retain.core.settings import Settings
from retain.core.tables import CHANNELS, PRODUCTS
from serving.actions import ActionCatalogue
from serving.candidates import (
    KINDS,
    candidate_rows,
    contact_history,
    customer_records,
    expected_values,
    history_masks,
    recent_contacts,
    scores_table,
)
from serving.decide import Contact, Context, Levers, Scores, decide, expected_value
from serving.decision_log import DecisionLog, new_decision_id

NOW = datetime(2025, 1, 15, 10, tzinfo=UTC)


def customers() -> pd.DataFrame:
    """Three customers: one who may get anything, one without consent, one prudent (R1)."""
    products = {f"has_{p}": [False, False, True] for p in PRODUCTS if p != "current_account"}
    return pd.DataFrame(
        {
            "customer_key": [11, 12, 13],
            "customer_id": [11, 12, 13],
            "churn_probability": [0.4, 0.3, 0.2],
            "value": [1000.0, 800.0, 600.0],
            "age": pd.array([40, 50, 30], dtype="Int64"),
            "income_band": pd.array([4, 3, 2], dtype="Int64"),
            "tenure_months": pd.array([60, 12, 30], dtype="Int64"),
            "risk_tolerance": pd.array([5, 5, 1], dtype="Int64"),
            "marketing_consent": pd.array([True, False, True], dtype="boolean"),
            "preferred_channel": ["phone", "mobile", "sms_email"],
            "has_current_account": pd.array([True, True, False], dtype="boolean"),
            **{k: pd.array(v, dtype="boolean") for k, v in products.items()},
        }
    )


def catalogue_actions() -> list:
    return [a for a in ActionCatalogue.load().actions if a.kind in KINDS]


def test_expected_values_are_those_of_recommend_and_of_retain_score():
    """Cross-sell: decide.expected_value with P(accept) = P(open); retention: -effect x value -
    cost, the expected saved value of ``retain score``."""
    actions = catalogue_actions()
    value = np.array([1000.0, 250.0])
    products = [a.product for a in actions if a.kind == "cross_sell"]
    p_open = {p: np.array([0.3, 0.05]) for p in products}
    effects = {a.id: np.array([-0.08, 0.02]) for a in actions if a.kind == "retention"}
    ev = expected_values(actions, value, p_open, effects)
    for j, a in enumerate(actions):
        for i in range(2):
            if a.kind == "cross_sell":
                scores = Scores(p_accept={a.id: float(p_open[a.product][i])})
                want = expected_value(a, scores, Context("mobile", NOW), Levers())[0]
            else:
                want = -effects[a.id][i] * value[i] - a.cost
            assert ev[i, j] == pytest.approx(want)


def test_without_an_uplift_model_retention_values_are_unknown():
    actions = catalogue_actions()
    ev = expected_values(actions, np.array([1.0]), {}, {})
    assert np.isnan(ev).all()


def test_rows_follow_the_rules_of_recommend_with_one_row_per_capped_channel():
    """Every row is an action decide() allows the customer on that channel; capped channels
    get a row each, the uncapped ones one row on the preferred channel when it is one."""
    frame = customers()
    actions = catalogue_actions()
    records = customer_records(frame, list(frame.columns))
    ev = np.full((len(frame), len(actions)), 50.0)
    ok_a = np.ones((len(frame), len(actions)), dtype=bool)
    ok_c = np.ones((len(frame), len(CHANNELS)), dtype=bool)
    rows = candidate_rows(frame, records, actions, ev, ok_a, ok_c, CHANNELS, {"phone", "branch"})
    assert set(rows["customer_key"]) == {11, 13}  # 12 gave no consent
    catalogue = ActionCatalogue.load()
    full = Scores(
        customer_value=1.0,
        p_churn=0.5,
        p_accept={a.id: 0.5 for a in actions},
        uplift={a.id: 0.5 for a in actions if a.kind == "retention"},
    )
    for key, group in rows.groupby("customer_key"):
        customer = records[int(np.flatnonzero(frame["customer_key"] == key)[0])]
        for (action, channel), _ in group.groupby(["action", "channel"]):
            trace = decide(catalogue, customer, Context(channel, NOW), (), full, k=20).trace
            status = {t.action_id: t for t in trace}[action]
            assert status.status != "removed", (key, action, channel, status)
        uncapped = group[~group["channel"].isin(["phone", "branch"])]
        assert uncapped.groupby("action").size().eq(1).all()
    # customer 13 prefers sms_email; R1 keeps the risk-2+ actions away
    prudent = rows[rows["customer_key"] == 13]
    assert "xsell_credit_card" not in set(prudent["action"])
    assert set(prudent.loc[prudent["action"] == "xsell_current_account", "channel"]) == {
        "sms_email",
        "phone",
        "branch",
    }
    first = rows[rows["customer_key"] == 11]
    assert set(first.loc[first["action"] == "rm_call", "channel"]) == {"phone", "branch"}


def test_cross_sells_worth_nothing_are_dropped_but_retention_rows_stay_for_the_baseline():
    frame = customers().head(1)
    actions = catalogue_actions()
    records = customer_records(frame, list(frame.columns))
    ev = np.where([a.kind == "cross_sell" for a in actions], -1.0, np.nan)[None, :]
    ok_a = np.ones((1, len(actions)), dtype=bool)
    ok_c = np.ones((1, len(CHANNELS)), dtype=bool)
    rows = candidate_rows(frame, records, actions, ev, ok_a, ok_c, CHANNELS, set())
    assert set(rows["kind"]) == {"retention"} and rows["expected_value"].isna().all()
    assert rows["channel"].eq("phone").all()  # the preferred channel, where the action has it


def test_the_contact_history_takes_channels_and_actions_away():
    """A phone call this week fills the phone's week; a declined offer is in its cooldown."""
    catalogue = ActionCatalogue.load()
    actions = catalogue_actions()
    frame = customers()
    records = customer_records(frame, list(frame.columns))
    history = {
        11: [Contact("rm_call", "phone", NOW - timedelta(days=2), "declined")],
        13: [Contact("xsell_savings", "mobile", NOW - timedelta(days=40), "accepted")],
    }
    keys = frame["customer_key"].to_numpy()
    ok_a, ok_c = history_masks(records, keys, history, catalogue, actions, CHANNELS, NOW)
    ids = [a.id for a in actions]
    assert not ok_c[0, CHANNELS.index("phone")] and ok_c[0, CHANNELS.index("mobile")]
    assert not ok_a[0, ids.index("rm_call")] and ok_a[0, ids.index("fee_waiver")]
    assert ok_a[1].all() and ok_c[1].all()
    assert not ok_a[2, ids.index("xsell_savings")]  # accepted within 90 days
    assert ok_c[2].all()  # 40 days ago: outside the week and the month


def _record(log: DecisionLog, customer: int, at: datetime, channel: str) -> str:
    catalogue = ActionCatalogue.load()
    scores = Scores(customer_value=1.0, p_churn=0.1, p_accept={"xsell_savings": 0.9})
    customer_row = {"age": 30, "marketing_consent": True, "has_savings": False}
    decision = decide(catalogue, customer_row, Context(channel, at), (), scores, k=1)
    decision_id = new_decision_id()
    log.record(decision_id, customer, decision, json.dumps({}))
    return decision_id


def test_recent_contacts_read_the_whole_log_at_once(either_log):
    """The same contacts, outcomes included, as the per-customer history, for every customer;
    future and too old decisions left out."""
    first = _record(either_log, 1, NOW - timedelta(days=3), "mobile")
    _record(either_log, 2, NOW - timedelta(days=1), "sms_email")
    _record(either_log, 2, NOW + timedelta(days=1), "sms_email")
    _record(either_log, 3, NOW - timedelta(days=900), "mobile")
    either_log.record_feedback(first, "xsell_savings", "declined", NOW - timedelta(days=2))
    contacts = recent_contacts(either_log, NOW)
    assert set(contacts) == {1, 2}
    for customer in (1, 2):
        assert contacts[customer] == either_log.history(customer, NOW)
    assert contacts[1][0].outcome == "declined"


def test_no_log_no_history_and_nothing_written(tmp_path):
    settings = Settings(home=tmp_path / "home")
    assert contact_history(settings, NOW) == {}
    assert not (tmp_path / "home").exists()


def test_scores_are_read_from_the_dated_table_or_refused(tmp_path):
    settings = Settings(home=tmp_path)
    with pytest.raises(NotReadyError, match="run `retain score`"):
        scores_table(settings)
    folder = tmp_path / "scores" / "as_of=2024-11-30"
    folder.mkdir(parents=True)
    (folder / "_run.json").write_text(json.dumps({"as_of": "2024-11-30"}))
    assert scores_table(settings).as_of == pd.Timestamp("2024-11-30 23:59:59", tz="UTC")
    with pytest.raises(NotReadyError, match="no scores at 2024-10-31"):
        scores_table(settings, "2024-10-31")
