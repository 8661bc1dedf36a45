"""The uplift dataset: outcome labels, arms, no-contact months and the time split."""

from __future__ import annotations

import pandas as pd
import pytest

from retain.core.errors import DataError
from training.uplift.data import (
    control_months,
    evaluation_arms,
    label_rows,
    matched_arms,
    randomised_contacts,
    time_split,
    uplift_rows,
)

END = pd.Timestamp("2024-12-31 23:59:59", tz="UTC")
SENT = pd.Timestamp("2024-03-10 12:00", tz="UTC")


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def rows(*times: pd.Timestamp) -> pd.DataFrame:
    return pd.DataFrame(
        {"customer_id": range(1, len(times) + 1), "event_timestamp": list(times), "arm": "x"}
    )


@pytest.mark.parametrize(
    ("churned_at", "label"),
    [
        (None, 0),  # stayed
        (SENT + pd.Timedelta(days=1), 1),  # inside the horizon
        (SENT + pd.Timedelta(days=90), 1),  # the horizon's last instant counts
        (SENT + pd.Timedelta(days=90, seconds=1), 0),  # just after it
        (SENT + pd.Timedelta(days=200), 0),  # long after
    ],
)
def test_churn_inside_the_horizon_is_labelled_1(churned_at, label):
    """label = 1 when the customer churned in (sent, sent + 90 days]."""
    churn = pd.Series([churned_at] if churned_at else [], index=[1] if churned_at else [])
    out = label_rows(rows(SENT), pd.to_datetime(churn, utc=True), END)
    assert out["label"].tolist() == [label]


def test_labelled_rows_carry_the_input_columns_and_the_label_only():
    """Nothing that only a simulator knows (a truth month) enters the uplift rows."""
    out = label_rows(rows(SENT), pd.Series(dtype="datetime64[ns, UTC]"), END)
    assert list(out.columns) == ["customer_id", "event_timestamp", "arm", "label"]


def test_rows_too_recent_to_label_and_of_customers_gone_are_dropped():
    """A horizon ending after the data, or a customer who left before the send time: no row."""
    recent = END - pd.Timedelta(days=89)
    just_in = END - pd.Timedelta(days=90)
    churn = pd.Series([SENT - pd.Timedelta(days=1)], index=[3])
    out = label_rows(rows(recent, just_in, SENT), pd.to_datetime(churn, utc=True), END)
    assert out["customer_id"].tolist() == [2]


CAMPAIGNS = pd.DataFrame(
    {
        "customer_id": [1, 1, 2, 3],
        "sent_at": [ts("2024-03-05"), ts("2024-06-05"), ts("2024-03-07"), ts("2024-03-09")],
        "action_id": ["fee_waiver", "xsell_savings", "rm_call", "rate_boost"],
        "kind": ["retention", "cross_sell", "retention", "retention"],
        "randomized": [True, True, False, True],
    }
)


def test_randomised_contacts_become_arms_and_rule_contacts_are_left_out():
    """Retention actions keep their code, cross-sell offers are one arm, rules' picks go."""
    out = randomised_contacts(CAMPAIGNS)
    assert list(zip(out["customer_id"], out["arm"], strict=True)) == [
        (1, "fee_waiver"),
        (1, "cross_sell"),
        (3, "rate_boost"),
    ]


def test_no_contact_months_respect_consent_and_the_cooldown():
    """A contact blocks its month and the two after it; a customer without consent is never a
    control."""
    month_ends = [ts(f"2024-{m:02d}-01") + pd.offsets.MonthEnd(0) for m in range(1, 7)]
    monthly = pd.DataFrame(
        {
            "customer_id": [c for c in (1, 4) for _ in month_ends],
            "month_end": month_ends * 2,
        }
    )
    customers = pd.DataFrame({"customer_id": [1, 4], "marketing_consent": [True, False]})
    contacts = CAMPAIGNS[CAMPAIGNS["customer_id"] == 1]
    out = control_months(monthly, customers, contacts)
    assert set(out["customer_id"]) == {1}
    months = sorted(out["event_timestamp"].dt.month)
    # snapshot Jan..Jun -> candidate Feb..Jul; March contact blocks Mar, Apr, May; June blocks
    # Jun and Jul (Aug too, beyond the data).
    assert months == [2]
    assert (out["arm"] == "none").all()


def test_uplift_rows_labels_contacts_and_controls():
    """Both kinds of rows come out labelled, sorted by time."""
    month_ends = [ts(f"2023-{m:02d}-01") + pd.offsets.MonthEnd(0) for m in range(1, 13)]
    monthly = pd.DataFrame({"customer_id": 5, "month_end": month_ends})
    monthly = pd.concat([monthly, monthly.assign(customer_id=1)], ignore_index=True)
    customers = pd.DataFrame({"customer_id": [1, 5], "marketing_consent": [True, True]})
    campaigns = CAMPAIGNS.assign(sent_at=CAMPAIGNS["sent_at"] - pd.DateOffset(years=1))
    churn = pd.DataFrame({"customer_id": [5], "churned_at": [ts("2023-05-20")]})
    out = uplift_rows(campaigns, monthly, customers, churn)
    assert out["event_timestamp"].is_monotonic_increasing
    assert {"fee_waiver", "cross_sell", "none"} <= set(out["arm"])
    five = out[out["customer_id"] == 5]
    assert five["event_timestamp"].max() < ts("2023-05-20")
    assert five.loc[five["event_timestamp"] >= ts("2023-03-01"), "label"].eq(1).all()


def test_time_split_leaves_a_horizon_between_train_and_test():
    """Train rows' horizons end before the test window starts."""
    times = pd.date_range("2023-01-15", periods=20, freq="MS", tz="UTC") + pd.Timedelta(days=14)
    frame = pd.DataFrame({"event_timestamp": times})
    split = time_split(frame, horizon_days=90, test_months=6)
    masks = split.masks(frame)
    train, test = frame[masks["train"]], frame[masks["test"]]
    assert len(test) == 6
    assert train["event_timestamp"].max() + pd.Timedelta(days=90) <= test["event_timestamp"].min()
    with pytest.raises(DataError, match="no room for a train window"):
        time_split(frame.tail(7), horizon_days=90, test_months=6)


HOLDOUT_LOG = pd.DataFrame(
    {
        "customer_id": [1, 2, 3, 4, 5, 6],
        "sent_at": [ts("2024-03-05")] * 6,
        "action_id": [
            "fee_waiver",
            "rm_call",
            "fee_waiver",
            "fee_waiver",
            "rate_boost",
            "xsell_savings",
        ],
        "kind": ["retention", "retention", "retention", "retention", "retention", "cross_sell"],
        "randomized": [True, True, False, False, False, False],
        "holdout": [False, True, False, True, False, False],
        # experiment: contact 0.5/4 * 0.85, holdout 0.15; rules' fee_waiver audience (0.5):
        # contact 0.5 * 0.85, holdout 0.5 * 0.15
        "assignment_prob": [0.10625, 0.15, 0.425, 0.075, 0.425, 0.034],
    }
)


def test_a_log_with_holdouts_adds_them_as_controls_and_the_rules_contacts_as_treated():
    """Holdouts (experiment and rules) are no-contact rows; the rules' retention contacts join
    their action, their cross-sell contacts do not; each row says which design it came from."""
    out = randomised_contacts(HOLDOUT_LOG)
    assert list(zip(out["customer_id"], out["arm"], out["design"], strict=True)) == [
        (1, "fee_waiver", "experiment"),
        (2, "none", "experiment"),
        (3, "fee_waiver", "rules"),
        (4, "none", "rules"),
        (5, "rate_boost", "rules"),
    ]


def test_holdout_rows_weigh_by_their_inverse_assignment_probability_within_their_audience():
    """Inside the rules' fee-waiver audience, contacted and held-out rows each weigh half of it
    (inverse probabilities normalised to mean 1 over the audience): 1/0.425 : 1/0.075."""
    out = randomised_contacts(HOLDOUT_LOG).set_index("customer_id")["weight"]
    assert out[3] + out[4] == pytest.approx(2.0)
    assert out[4] / out[3] == pytest.approx(0.425 / 0.075)
    assert out[5] == pytest.approx(1.0)  # alone in its audience


def test_a_log_without_holdouts_gives_unit_weights():
    """An older log (no holdout column) reads as before, every row weighing 1."""
    out = randomised_contacts(CAMPAIGNS)
    assert (out["weight"] == 1.0).all()
    assert (out["design"] == "experiment").all()


def test_evaluation_arms_keep_only_randomised_comparisons():
    """The rules' rows leave the metrics' arms; the experiment's holdouts are its no-contact arm,
    apart from the no-contact months."""
    rows = randomised_contacts(HOLDOUT_LOG)
    months = pd.DataFrame({"arm": ["none"], "design": ["months"]})
    arms = evaluation_arms(pd.concat([rows, months], ignore_index=True))
    assert arms.tolist() == ["fee_waiver", "held_out", "rules", "rules", "rules", "none"]


def test_matched_arms_pair_each_offer_with_the_holdouts_assigned_it_in_every_audience():
    """For the gate, the rules' audiences count too: each holdout (experiment's or a rule's)
    becomes the control of the offer it was assigned; the no-contact months stay apart."""
    rows = randomised_contacts(HOLDOUT_LOG)
    assert rows["offer"].tolist() == [
        "fee_waiver", "rm_call", "fee_waiver", "fee_waiver", "rate_boost",
    ]  # fmt: skip
    months = pd.DataFrame({"arm": ["none"], "design": ["months"], "offer": [""]})
    arms = matched_arms(pd.concat([rows, months], ignore_index=True))
    assert arms.tolist() == [
        "fee_waiver",
        "held_out:rm_call",
        "fee_waiver",
        "held_out:fee_waiver",
        "rate_boost",
        "none",
    ]
