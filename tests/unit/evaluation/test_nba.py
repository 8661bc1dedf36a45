"""The pure parts of ``retain evaluate nba``: true values of actions, the policies' choices, and
off-policy estimates weighed by the logged assignment probabilities."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from evaluation.nba import (
    POLICIES,
    Scored,
    _logged_contacts,
    choices,
    evaluate_nba,
    evaluation_catalogue,
    observable_values,
    off_policy,
    oracle_shares,
    policy_values,
    true_values,
)
from retain.core.churn import ChurnDefinition
from retain.core.errors import DataError, NotReadyError
from retain.core.settings import Settings
from retain.core.tables import CAMPAIGNS, PRODUCTS, RETENTION_ACTIONS
from serving.actions import NO_ACTION, ActionCatalogue

CUSTOMER = {
    "age": 40,
    "income_band": 3,
    "risk_tolerance": 5,
    "marketing_consent": True,
    "preferred_channel": "mobile",
    **{f"has_{p}": p in ("current_account", "savings") for p in PRODUCTS},
}


def test_true_values_follow_the_effects() -> None:
    catalogue = evaluation_catalogue(ActionCatalogue.load())
    assert all(a.kind != "service" for a in catalogue.actions)
    effects = pd.DataFrame(
        {
            "contact": [0.0, 0.02],
            **{a: [-0.1, 0.0] for a in RETENTION_ACTIONS},
            **{f"xsell_{p}": [0.05, 0.0] for p in PRODUCTS},
        }
    )
    values = true_values(catalogue, effects, np.array([1000.0, 1000.0]))
    fee = catalogue["fee_waiver"]
    card = catalogue["xsell_credit_card"]
    assert values.loc[0, "fee_waiver"] == pytest.approx(100 - fee.cost)
    assert values.loc[1, "xsell_credit_card"] == pytest.approx(-20 - card.cost)  # a sleeping dog
    assert values.loc[0, "xsell_credit_card"] == pytest.approx(0.05 * card.value - card.cost)
    assert (values[NO_ACTION] == 0).all()
    chosen = policy_values(values, ["fee_waiver", NO_ACTION])
    assert chosen.tolist() == pytest.approx([100 - fee.cost, 0.0])


def _random_values(catalogue: ActionCatalogue, n: int, seed: int) -> pd.DataFrame:
    """True values of every action from random effects, a fifth of customers sleeping dogs."""
    rng = np.random.default_rng(seed)
    effects = pd.DataFrame(
        {
            "contact": np.where(rng.random(n) < 0.2, rng.uniform(0, 0.05, n), 0.0),
            **{a: rng.normal(-0.01, 0.03, n) for a in RETENTION_ACTIONS},
            **{f"xsell_{p}": rng.uniform(0, 0.2, n) for p in PRODUCTS},
        }
    )
    return true_values(catalogue, effects, rng.uniform(200, 3000, n))


def test_policies_choose_within_the_rules() -> None:
    catalogue = evaluation_catalogue(ActionCatalogue.load())
    n = 40
    rng = np.random.default_rng(0)
    scored = Scored(
        records=[dict(CUSTOMER) for _ in range(n)],
        p_churn=rng.uniform(0, 0.5, n),
        p_open=rng.uniform(0, 0.6, (n, len(PRODUCTS))),
        products=PRODUCTS,
        effects=None,  # no uplift model: retain makes no retention offer
        actions=(),
    )
    at = [datetime(2024, 9, 30, tzinfo=UTC)] * n
    values = _random_values(catalogue, n, seed=2)
    chosen = choices(catalogue, scored, ["mobile"] * n, at, {"credit_card": 0.9}, values, seed=1)
    assert set(chosen) == set(POLICIES)
    assert not any(catalogue[a].kind == "retention" for a in chosen["retain"])
    assert all(a in ("xsell_credit_card", NO_ACTION) for a in chosen["most_popular"])
    targeted = [a for a in chosen["churn_only"] if a != NO_ACTION]
    assert len(targeted) == 4 and all(catalogue[a].kind == "retention" for a in targeted)
    for policy in POLICIES:
        for a in chosen[policy]:
            assert a == NO_ACTION or "mobile" in catalogue[a].channels
            assert a not in ("xsell_current_account", "xsell_savings")  # already held


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_oracle_earns_at_least_every_policy_on_the_truth(seed: int) -> None:
    """Choosing by the true values under the same rules, the oracle earns at least what any
    other policy earns, customer by customer (so on average too), and never less than doing
    nothing; some of its choices are retention offers, some cross-sells, some nothing."""
    catalogue = evaluation_catalogue(ActionCatalogue.load())
    n = 60
    rng = np.random.default_rng(seed)
    effects = rng.normal(-0.02, 0.02, (n, len(RETENTION_ACTIONS)))
    scored = Scored(
        records=[dict(CUSTOMER, age=int(a)) for a in rng.integers(20, 80, n)],
        p_churn=rng.uniform(0, 0.5, n),
        p_open=rng.uniform(0, 0.6, (n, len(PRODUCTS))),
        products=PRODUCTS,
        effects=effects,
        actions=RETENTION_ACTIONS,
    )
    at = [datetime(2024, 9, 30, tzinfo=UTC)] * n
    values = _random_values(catalogue, n, seed)
    noisy = values + rng.normal(0, 20, values.shape)  # an observable ceiling's guesses
    chosen = choices(
        catalogue, scored, ["mobile"] * n, at, {"credit_card": 0.9}, values, seed, noisy
    )
    best = policy_values(values, chosen["oracle"])
    assert (best >= 0).all()
    for policy in POLICIES:
        assert (best >= policy_values(values, chosen[policy]) - 1e-9).all(), policy
    kinds = {catalogue[a].kind if a != NO_ACTION else a for a in chosen["oracle"]}
    assert kinds == {"retention", "cross_sell", NO_ACTION}
    shares = oracle_shares({p: float(policy_values(values, chosen[p]).mean()) for p in POLICIES})
    assert shares["oracle"] == 1.0 and all(v <= 1.0 + 1e-9 for v in shares.values())


def test_the_observable_ceiling_learns_the_values_the_features_tell() -> None:
    """Values that depend on a feature are predicted from it; a hidden part is not."""
    rng = np.random.default_rng(3)
    n = 4000
    x = rng.normal(size=(n + 500, 2))
    hidden = rng.normal(size=n + 500)
    values = pd.DataFrame({NO_ACTION: 0.0, "a": 30 * x[:, 0] + 10 * hidden, "b": -5 + 0 * x[:, 1]})
    predicted = observable_values(x[:n], values.iloc[:n], x[n:])
    assert list(predicted.columns) == list(values.columns)
    assert (predicted[NO_ACTION] == 0).all()
    assert np.corrcoef(predicted["a"], 30 * x[n:, 0])[0, 1] > 0.95
    assert predicted["b"].to_numpy() == pytest.approx(-5.0, abs=0.5)


def _scored(n: int) -> Scored:
    return Scored(
        records=[dict(CUSTOMER) for _ in range(n)],
        p_churn=np.linspace(0.1, 0.3, n),
        p_open=np.full((n, len(PRODUCTS)), 0.1),
        products=PRODUCTS,
        effects=None,
        actions=(),
    )


def test_off_policy_weighs_each_matching_contact_by_its_logged_probability() -> None:
    """IPS is the mean over the logged contacts of reward / assignment_prob where the policy picks
    the logged action, 0 elsewhere; the reward is the customer's value if they stayed, minus the
    offer's cost, minus the churn model's no-contact value. Halving every logged probability
    doubles the estimate."""
    catalogue = evaluation_catalogue(ActionCatalogue.load())
    scored = _scored(2)
    logged = pd.DataFrame(
        {
            "action_id": ["fee_waiver", "xsell_credit_card"],
            "assignment_prob": [0.125, 0.25],
            "accepted": [True, False],
            "churned": [False, True],
        }
    )
    chosen = {
        "first": ["fee_waiver", NO_ACTION],  # matches the log on the first contact only
        "never": ["rm_call", "xsell_mortgage"],
    }
    at = [datetime(2024, 9, 30, tzinfo=UTC)] * 2
    got = off_policy(catalogue, scored, logged, chosen, ["mobile"] * 2, at)
    first = scored.scores(catalogue, 0)
    reward = first.customer_value * 0.1 - catalogue["fee_waiver"].cost  # stayed; p_churn 0.1
    assert got["first"]["ips"] == pytest.approx(reward / 0.125 / 2)
    assert got["never"]["ips"] == 0.0
    halved = logged.assign(assignment_prob=logged["assignment_prob"] / 2)
    again = off_policy(catalogue, scored, halved, chosen, ["mobile"] * 2, at)
    assert again["first"]["ips"] == pytest.approx(2 * got["first"]["ips"])


def test_a_holdout_values_doing_nothing() -> None:
    """The experiment's holdout is its no-contact arm: a policy that does nothing matches it, and
    its reward is the customer's value if they stayed minus the model's no-contact value."""
    catalogue = evaluation_catalogue(ActionCatalogue.load())
    scored = _scored(1)
    logged = pd.DataFrame(
        {"action_id": [NO_ACTION], "assignment_prob": [0.15], "accepted": [False]}
    ).assign(churned=[False])
    chosen = {"nothing": [NO_ACTION], "offer": ["fee_waiver"]}
    at = [datetime(2024, 9, 30, tzinfo=UTC)]
    got = off_policy(catalogue, scored, logged, chosen, ["mobile"], at)
    value = scored.scores(catalogue, 0).customer_value
    assert got["nothing"]["ips"] == pytest.approx(value * 0.1 / 0.15)  # stayed; p_churn 0.1
    assert got["offer"]["ips"] == 0.0


def _write_campaigns(home: Path, prob: list[float | None]) -> Settings:
    settings = Settings(home=home)
    n = len(prob)
    sent = [datetime(2024, 3, 10, tzinfo=UTC)] * n
    table = pa.table(
        {
            "contact_id": list(range(n)),
            "customer_id": list(range(1, n + 1)),
            "sent_at": sent,
            "action_id": ["fee_waiver"] * n,
            "kind": ["retention"] * n,
            "channel": ["mobile"] * n,
            "randomized": [True] * n,
            "holdout": [False] * n,
            "assignment_prob": prob,
            "outcome": ["declined"] * n,
        },
        schema=CAMPAIGNS,
    )
    folder = settings.raw_dir / "campaigns"
    folder.mkdir(parents=True)
    pq.write_table(table, folder / "part-00000.parquet")
    return settings


@pytest.mark.parametrize("missing", [None, 0.0])
def test_a_randomised_contact_without_a_probability_is_refused(
    tmp_path: Path, missing: float | None
) -> None:
    """The estimates need each randomised contact's probability: a log without one (a bank that
    did not record it) is a one-line data error, not a silent skip."""
    settings = _write_campaigns(tmp_path, [0.125, missing])
    with pytest.raises(DataError, match="1 randomised contacts .* no assignment_prob"):
        _logged_contacts(settings, ChurnDefinition())


def test_the_evaluation_needs_the_ground_truth(tmp_path: Path) -> None:
    """Without a simulated bank's truth it stops at once with a message that says what to run."""
    with pytest.raises(NotReadyError, match="no simulated ground truth.*retain simulate"):
        evaluate_nba(Settings(home=tmp_path), truth=None)
