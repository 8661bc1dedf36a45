"""``retain evaluate nba``: what retain's next-best-action policy is worth against simpler policies.

Six policies choose one action (or nothing) per customer, all through the same rules
(eligibility, suitability, consent, channel; ``serving.decide``):

- ``retain``: the top action by expected value, or nothing when nothing is worth doing;
- ``random_eligible``: any action the rules allow, at random;
- ``most_popular``: the allowed cross-sell of the product most customers hold;
- ``propensity_only``: the allowed cross-sell with the highest P(open) (what propensity-ranking
  decisioning suites do: value, cost and churn ignored);
- ``churn_only``: the cheapest allowed retention action for the top decile by churn score,
  nothing for the rest (the classic early-warning campaign: a retention offer to the top churn
  decile);
- ``observable``: the allowed action (or nothing) with the highest value predicted by models
  fitted to the **true** values of every action from the served features, on the
  ``OBSERVABLE_MONTHS`` month ends before the evaluation month: what the features can tell of the
  effects at best (the observable ceiling), however well retain learns from its log;
- ``oracle``: the allowed action (or nothing) with the highest true value: the same rules,
  choosing by the simulator's true effects. No policy under these rules can earn more, so each
  policy's value is also reported as a share of the oracle's.

Two yardsticks, in currency per customer, relative to doing nothing:

1. **ground truth** (simulated bank only, given as a ``GroundTruth``): for the customers with the
   bank at one month end, the true value of each action: a cross-sell is worth
   ``effect_xsell x value - cost`` plus the churn a contact causes (``-effect_contact x customer
   value``); a retention action ``-effect x customer value - cost``.
2. **off-policy estimates from the campaign log** (with standard errors), what a bank without a
   simulator has: over the randomised experiment's rows, its contacts and its holdout (the
   no-contact arm), each weighed by its logged ``assignment_prob`` (the experiment's design
   probability of the action it got, or of being held out), with the realised reward
   ``customer value x (stayed) + value x (accepted a cross-sell) - cost`` minus the churn
   model's estimate of the no-contact reward: inverse propensity scoring (IPS) and doubly robust
   (DR, with the models' expected values as the direct method).

Service actions are left out of both: the simulator has no ground truth for them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from evaluation.campaigns import audience_rows, measured_against_truth
from retain.core.churn import ChurnDefinition
from retain.core.columns import AS_OF, KEY, LABEL
from retain.core.errors import DataError, NotReadyError
from retain.core.progress import Progress, silent
from retain.core.settings import Settings
from retain.core.tables import PRODUCTS, RETENTION_ACTIONS
from retain.core.truth import GroundTruth
from serving.actions import NO_ACTION, ActionCatalogue
from serving.decide import Context, Levers, Scores, decide, expected_value
from serving.nba import customer_value, model_scores
from training.encode import FeatureSpec

POLICIES: tuple[str, ...] = (
    "retain",
    "random_eligible",
    "most_popular",
    "propensity_only",
    "churn_only",
    "observable",
    "oracle",
)
CHURN_ONLY_SHARE = 0.10
"""The churn-only policy targets this top share of customers by churn score."""
OBSERVABLE_MONTHS = 6
"""Month ends before the evaluation month whose true values train the observable ceiling."""
OBSERVABLE_PARAMS: dict[str, Any] = {
    "objective": "regression",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 50,
    "verbose": -1,
    "deterministic": True,
    "num_threads": 2,
}
OBSERVABLE_ROUNDS = 200


def evaluation_catalogue(catalogue: ActionCatalogue) -> ActionCatalogue:
    """The catalogue without service actions (no ground truth for them)."""
    return ActionCatalogue(
        catalogue.version,
        catalogue.policy,
        tuple(a for a in catalogue.actions if a.kind != "service"),
    )


@dataclass(frozen=True)
class Scored:
    """Model outputs for a batch of customer-months."""

    records: list[dict[str, Any]]
    p_churn: NDArray[np.float64]
    p_open: NDArray[np.float64]  # [n, len(products)]
    products: tuple[str, ...]
    effects: NDArray[np.float64] | None  # [n, len(actions)]; None without an uplift model
    actions: tuple[str, ...]
    offered: NDArray[np.float64] | None = None  # [n, len(products)] P(accept | offered)
    contact_ratio: float = 0.0

    def scores(self, catalogue: ActionCatalogue, i: int) -> Scores:
        offered = self.offered
        return model_scores(
            catalogue,
            self.records[i],
            float(self.p_churn[i]),
            dict(zip(self.products, self.p_open[i], strict=True)),
            {} if self.effects is None else dict(zip(self.actions, self.effects[i], strict=True)),
            None if offered is None else dict(zip(self.products, offered[i], strict=True)),
            self.contact_ratio,
        )


def records(frame: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
    """Rows as plain Python values (``decide`` checks ``is True`` and ``int``), NA as None."""
    plain = {
        c: [None if v is pd.NA or v is pd.NaT else v for v in frame[c].tolist()] for c in columns
    }
    return [dict(zip(plain, values, strict=True)) for values in zip(*plain.values(), strict=True)]


def choices(
    catalogue: ActionCatalogue,
    scored: Scored,
    channels: Sequence[str],
    at: Sequence[datetime],
    popularity: Mapping[str, float],
    values: pd.DataFrame,
    seed: int = 7,
    observable: pd.DataFrame | None = None,
) -> dict[str, list[str]]:
    """Each policy's action per customer (``no_action`` for nothing).

    Args:
        values: the true value of every action for every customer, aligned with ``scored``
            (``true_values``): the oracle's choice.
        observable: the value of every action predicted from the features
            (``observable_values``), same shape: the observable ceiling's choice (default:
            ``values``, i.e. the oracle's).
    """
    predicted = (values if observable is None else observable).to_numpy(dtype=np.float64)
    rng = np.random.default_rng(seed)
    churn_cut = (
        float(np.quantile(scored.p_churn, 1 - CHURN_ONLY_SHARE)) if len(scored.p_churn) else 1
    )
    out: dict[str, list[str]] = {p: [] for p in POLICIES}
    true = values.to_numpy(dtype=np.float64)
    column = {a: j for j, a in enumerate(values.columns)}
    for i, customer in enumerate(scored.records):
        scores = scored.scores(catalogue, i)
        decision = decide(
            catalogue, customer, Context(channels[i], at[i]), (), scores, Levers(), k=1
        )
        # What the rules allow; the other policies need no model score, so rule "score" is moot.
        allowed = [
            catalogue[t.action_id]
            for t in decision.trace
            if (t.status != "removed" or t.rule == "score") and t.action_id != NO_ACTION
        ]
        xsell = [a for a in allowed if a.kind == "cross_sell"]
        retention = [a for a in allowed if a.kind == "retention"]
        out["retain"].append(decision.actions[0].action_id)
        out["random_eligible"].append(
            str(rng.choice([a.id for a in allowed])) if allowed else NO_ACTION
        )
        out["most_popular"].append(
            max(xsell, key=lambda a: popularity.get(a.product or "", 0.0)).id
            if xsell
            else NO_ACTION
        )
        opened = dict(zip(scored.products, scored.p_open[i], strict=True))
        out["propensity_only"].append(
            max(xsell, key=lambda a: opened.get(a.product or "", 0.0)).id if xsell else NO_ACTION
        )
        targeted = retention and scored.p_churn[i] >= churn_cut
        out["churn_only"].append(min(retention, key=lambda a: a.cost).id if targeted else NO_ACTION)
        options = [NO_ACTION, *(a.id for a in allowed)]
        out["observable"].append(max(options, key=lambda a: predicted[i, column[a]]))
        out["oracle"].append(max(options, key=lambda a: true[i, column[a]]))
    return out


def true_values(
    catalogue: ActionCatalogue, effects: pd.DataFrame, customer_values: NDArray[np.float64]
) -> pd.DataFrame:
    """The true value of every action for every customer (columns: action ids, no_action 0)."""
    out = {NO_ACTION: np.zeros(len(effects))}
    contact = effects["contact"].to_numpy(dtype=np.float64)
    for a in catalogue.actions:
        if a.kind == "cross_sell":
            gain = effects[f"xsell_{a.product}"].to_numpy(dtype=np.float64) * a.value
            out[a.id] = gain - contact * customer_values - a.cost
        elif a.kind == "retention":
            out[a.id] = -effects[a.id].to_numpy(dtype=np.float64) * customer_values - a.cost
    return pd.DataFrame(out, index=effects.index)


def observable_values(
    x_train: NDArray[np.float64],
    values_train: pd.DataFrame,
    x: NDArray[np.float64],
    seed: int = 7,
) -> pd.DataFrame:
    """Every action's value for the rows of ``x``, predicted by one LightGBM regression per
    action fitted to the true values of other rows (``true_values``) from the same features.

    Args:
        x_train, x: encoded features (one spec) of the training rows and of the rows to value.
        values_train: the training rows' true values (columns: action ids, ``no_action`` 0).
    """
    import lightgbm as lgb

    out = {NO_ACTION: np.zeros(len(x))}
    params = {**OBSERVABLE_PARAMS, "seed": seed}
    for action in values_train.columns:
        if action == NO_ACTION:
            continue
        y = values_train[action].to_numpy(dtype=np.float64)
        booster = lgb.train(params, lgb.Dataset(x_train, y), OBSERVABLE_ROUNDS)
        out[action] = np.asarray(booster.predict(x), dtype=np.float64)
    return pd.DataFrame(out)[list(values_train.columns)]


def policy_values(values: pd.DataFrame, chosen: Sequence[str]) -> NDArray[np.float64]:
    """The value of each customer's chosen action."""
    columns = values.columns.get_indexer(list(chosen))
    if (columns < 0).any():
        raise DataError("a policy chose an action without a value")
    return values.to_numpy()[np.arange(len(values)), columns]


def model_value(
    catalogue: ActionCatalogue, action_id: str, scores: Scores, context: Context
) -> float:
    """The models' expected value of an action (the direct method of the DR estimator)."""
    if action_id == NO_ACTION or action_id not in catalogue:
        return 0.0
    a = catalogue[action_id]
    if a.kind == "retention" and a.id not in scores.uplift:
        return -a.cost
    if a.kind == "cross_sell" and a.id not in scores.p_accept:
        return -a.cost
    return expected_value(a, scores, context, Levers())[0]


def off_policy(
    catalogue: ActionCatalogue,
    scored: Scored,
    logged: pd.DataFrame,
    chosen: Mapping[str, Sequence[str]],
    channels: Sequence[str],
    at: Sequence[datetime],
) -> dict[str, dict[str, float]]:
    """IPS and DR value per customer-month of each policy on the logged experiment.

    Args:
        logged: one row per row of the randomised experiment, aligned with ``scored``:
            ``action_id`` (``no_action`` for a holdout), ``assignment_prob`` (the experiment's
            probability of that action, or of the holdout, for the customer, in (0, 1]),
            ``accepted`` (bool) and ``churned`` (left within the horizon, bool).
    """
    n = len(logged)
    ips = {p: np.zeros(n) for p in chosen}
    dr = {p: np.zeros(n) for p in chosen}
    for i in range(n):
        scores = scored.scores(catalogue, i)
        context = Context(channels[i], at[i])
        logged_action = str(logged["action_id"].iat[i])
        if logged_action != NO_ACTION and logged_action not in catalogue:
            continue
        mu = float(logged["assignment_prob"].iat[i])
        baseline = scores.customer_value * (1 - (scores.p_churn or 0.0))
        stayed = 0.0 if bool(logged["churned"].iat[i]) else 1.0
        reward = scores.customer_value * stayed - baseline
        if logged_action != NO_ACTION:
            action = catalogue[logged_action]
            took = action.kind == "cross_sell" and bool(logged["accepted"].iat[i])
            reward += action.value * float(took) - action.cost

        logged_model = model_value(catalogue, logged_action, scores, context)
        for policy, actions in chosen.items():
            target = actions[i]
            match = target == logged_action
            ips[policy][i] = reward / mu if match else 0.0
            correction = (reward - logged_model) / mu if match else 0.0
            dr[policy][i] = model_value(catalogue, target, scores, context) + correction

    def se(v: NDArray[np.float64]) -> float:
        return float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan")

    return {
        p: {
            "ips": float(ips[p].mean()),
            "ips_se": se(ips[p]),
            "dr": float(dr[p].mean()),
            "dr_se": se(dr[p]),
        }
        for p in chosen
    }


@dataclass(frozen=True)
class NbaEvaluation:
    month_end: pd.Timestamp
    customers: int
    logged_contacts: int
    # index: policy; truth, share of the oracle's, acting share, ips, dr and their standard errors
    table: pd.DataFrame
    # index: (part, action_id); the campaign log's measured effects beside the true ones
    # (``evaluation.campaigns.measured_against_truth``)
    arms: pd.DataFrame
    ceiling_rows: int  # customer-months whose true values trained the observable ceiling

    def markdown(self) -> str:
        header = (
            "| policy | value per customer (truth) | share of the oracle's | acts on "
            "| IPS (log) | DR (log) |"
        )
        rows = [header, "|---|---:|---:|---:|---:|---:|"]
        for policy, r in self.table.iterrows():
            rows.append(
                f"| {policy} | {r['truth']:.2f} | {r['oracle_share']:.0%} | {r['acting']:.1%} "
                f"| {r['ips']:.2f} ± {r['ips_se']:.2f} | {r['dr']:.2f} ± {r['dr_se']:.2f} |"
            )
        return "\n".join(rows)

    def arms_markdown(self) -> str:
        rows = [
            "| part | offer | contacted | held out | measured effect | true effect |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for (part, action), r in self.arms.iterrows():
            rows.append(
                f"| {part} | {action} | {int(r['contacted']):,} | {int(r['held_out']):,} "
                f"| {r['effect']:+.4f} ± {r['se']:.4f} | {r['true_effect']:+.4f} |"
            )
        return "\n".join(rows)


def _score(settings: Settings, frame: pd.DataFrame) -> Scored:
    from training.churn.load import load_model
    from training.encode import encode
    from training.propensity.load import load_propensity
    from training.uplift.load import load_uplift

    churn = load_model(settings)
    propensity, _ = load_propensity(settings)
    x = encode(frame, propensity.spec).to_numpy(np.float64)
    p_open = propensity.predict_proba(x)
    effects: NDArray[np.float64] | None
    actions: tuple[str, ...]
    try:
        uplift, _ = load_uplift(settings)
    except NotReadyError:  # as in the service: retain's policy then makes no retention offers
        effects, actions = None, ()
    else:
        effects = uplift.effects(encode(frame, uplift.spec).to_numpy(np.float64))
        actions = tuple(uplift.actions)
    features = [c for c in frame.columns if c not in ("customer_id", "event_timestamp")]
    return Scored(
        records=records(frame, features),
        p_churn=churn.model.predict_proba(frame),
        p_open=p_open,
        products=tuple(propensity.products),
        effects=effects,
        actions=actions,
        offered=propensity.offer_proba(x, p_open),
        contact_ratio=propensity.contact_churn_ratio,
    )


def _logged_contacts(settings: Settings, definition: ChurnDefinition) -> pd.DataFrame:
    """The randomised experiment's contacts and holdouts (``action_id`` ``no_action``) whose
    horizon lies in the data, with their assignment probability, acceptance and churn.

    Raises:
        DataError: a randomised contact has no assignment probability in (0, 1].
    """
    from features.build import read_raw_table
    from training.uplift.data import label_rows

    raw = settings.raw_dir
    columns = [
        "customer_id",
        "sent_at",
        "action_id",
        "channel",
        "randomized",
        "holdout",
        "assignment_prob",
        "outcome",
    ]
    contacts = read_raw_table(raw, "campaigns", columns)
    contacts = contacts[contacts["randomized"].eq(True)]
    prob = contacts["assignment_prob"].to_numpy(dtype=np.float64, na_value=np.nan)
    bad = int((~((prob > 0) & (prob <= 1))).sum())
    if bad:
        raise DataError(
            f"{bad} randomised contacts in the campaign log have no assignment_prob in (0, 1]: "
            "the off-policy estimates weigh each by 1 / its probability under the experiment"
        )
    rows = pd.DataFrame(
        {
            KEY: contacts["customer_id"].astype("int64").to_numpy(),
            AS_OF: pd.to_datetime(contacts["sent_at"], utc=True).to_numpy(),
            "action_id": np.where(
                contacts["holdout"].eq(True), NO_ACTION, contacts["action_id"].astype(str)
            ),
            "channel": contacts["channel"].to_numpy(),
            "assignment_prob": prob,
            "accepted": (contacts["outcome"] == "accepted").to_numpy(),
        }
    )
    churned_at = read_raw_table(raw, "churn", ["customer_id", "churned_at"])
    churned_at = churned_at.groupby("customer_id")["churned_at"].min()
    data_end = pd.to_datetime(read_raw_table(raw, "monthly", ["month_end"])["month_end"]).max()
    labelled = label_rows(rows, churned_at, data_end, definition)
    return labelled.assign(churned=labelled[LABEL].astype(bool))[[*rows.columns, "churned"]]


def evaluate_nba(
    settings: Settings,
    customers: int = 5000,
    seed: int = 7,
    progress: Progress = silent,
    truth: GroundTruth | None = None,
    ceiling_customers: int | None = None,
) -> NbaEvaluation:
    """Evaluate the seven policies on the simulated bank's ground truth and on its campaign log,
    and measure each campaign audience's effect from its holdout against the truth.

    Args:
        settings: where the data, the feature store and the models are.
        customers: customers with the bank at the evaluation month to sample.
        seed: seeds the sample and the random policy.
        progress: called as progress(done, total).
        truth: the simulated bank's ground truth (required).
        ceiling_customers: customers per month end whose true values train the observable
            ceiling (default: as many as are evaluated); more gives a tighter ceiling.

    Raises:
        NotReadyError: no ground truth, or a model has no champion.
        DataError: raw tables are missing.
    """
    from features.frames import entity_frame, label_table
    from training.propensity.load import load_propensity

    if truth is None:
        raise NotReadyError(
            f"no simulated ground truth under {settings.data_dir}: the policies are valued on a "
            "simulated bank's truth; run `retain simulate` (or `retain demo`) first"
        )
    definition = ChurnDefinition()
    catalogue = evaluation_catalogue(ActionCatalogue.load())
    progress(0, 5)
    labels = label_table(settings, definition=definition)
    month_end = labels["event_timestamp"].max()
    at_month = labels[labels["event_timestamp"] == month_end]
    sample = at_month.sample(min(customers, len(at_month)), random_state=seed)
    frame = entity_frame(settings, sample.drop(columns=["label"]))
    scored = _score(settings, frame)
    popularity = {p: float(frame[f"has_{p}"].astype("float64").mean()) for p in PRODUCTS}
    channels = [r.get("preferred_channel") or "mobile" for r in scored.records]
    at = [month_end.to_pydatetime()] * len(frame)
    values = _true_values(catalogue, truth, frame, scored.records)
    spec = load_propensity(settings)[0].spec
    train_x, train_values = _observable_training(
        settings, spec, catalogue, truth, labels, seed, per_month=ceiling_customers or len(frame)
    )
    x = _features(spec, frame)
    predicted = observable_values(train_x, train_values, x, seed)
    chosen = choices(catalogue, scored, channels, at, popularity, values, seed, predicted)
    progress(1, 5)

    true_value = {p: float(policy_values(values, chosen[p]).mean()) for p in POLICIES}
    acting = {p: float(np.mean([a != NO_ACTION for a in chosen[p]])) for p in POLICIES}
    progress(2, 5)

    logged = _logged_contacts(settings, definition)
    logged_frame = entity_frame(settings, logged)
    logged_scored = _score(settings, logged_frame)
    logged_at = [t.to_pydatetime() for t in logged_frame["event_timestamp"]]
    logged_channels = logged_frame["channel"].tolist()
    logged_values = _true_values(catalogue, truth, logged_frame, logged_scored.records)
    logged_predicted = observable_values(train_x, train_values, _features(spec, logged_frame), seed)
    logged_chosen = choices(
        catalogue,
        logged_scored,
        logged_channels,
        logged_at,
        popularity,
        logged_values,
        seed,
        logged_predicted,
    )
    ope = off_policy(
        catalogue, logged_scored, logged_frame, logged_chosen, logged_channels, logged_at
    )
    progress(3, 5)
    arms = measured_against_truth(_labelled_audiences(settings, definition), truth)
    progress(4, 5)
    table = pd.DataFrame(
        {
            "truth": true_value,
            "oracle_share": oracle_shares(true_value),
            "acting": acting,
            **{k: {p: ope[p][k] for p in POLICIES} for k in ("ips", "ips_se", "dr", "dr_se")},
        }
    ).loc[list(POLICIES)]
    progress(5, 5)
    return NbaEvaluation(month_end, len(frame), len(logged_frame), table, arms, len(train_x))


def oracle_shares(value: Mapping[str, float]) -> dict[str, float]:
    """Each policy's value as a share of the oracle's (NaN when the oracle earns nothing)."""
    best = value["oracle"]
    return {p: v / best if best > 0 else float("nan") for p, v in value.items()}


def _true_values(
    catalogue: ActionCatalogue,
    truth: GroundTruth,
    frame: pd.DataFrame,
    customers: Sequence[Mapping[str, Any]],
) -> pd.DataFrame:
    """``true_values`` of the rows of ``frame`` (``customers``: their feature values, which give
    each customer's value)."""
    actions = [*RETENTION_ACTIONS, "contact", *(f"xsell_{p}" for p in PRODUCTS)]
    effects = pd.DataFrame(truth.offer_effects(frame, actions), columns=actions)
    cv = np.array([customer_value(catalogue, c) for c in customers], dtype=np.float64)
    return true_values(catalogue, effects.fillna(0.0), cv)


def _features(spec: FeatureSpec, frame: pd.DataFrame) -> NDArray[np.float64]:
    """The served features of ``frame`` encoded as ``spec`` (the propensity champion's)."""
    from training.encode import encode

    return encode(frame, spec).to_numpy(np.float64)


def _observable_training(
    settings: Settings,
    spec: FeatureSpec,
    catalogue: ActionCatalogue,
    truth: GroundTruth,
    labels: pd.DataFrame,
    seed: int,
    per_month: int = 5000,
) -> tuple[NDArray[np.float64], pd.DataFrame]:
    """Features and true action values of up to ``per_month`` customers (as many as are
    evaluated) at each of the ``OBSERVABLE_MONTHS`` month ends before the evaluation month (the
    observable ceiling's training rows)."""
    from features.frames import entity_frame

    months = sorted(labels["event_timestamp"].unique())[-1 - OBSERVABLE_MONTHS : -1]
    rows = labels[labels["event_timestamp"].isin(months)]
    rows = rows.sample(frac=1.0, random_state=seed).groupby("event_timestamp").head(per_month)
    frame = entity_frame(settings, rows.drop(columns=["label"]).reset_index(drop=True))
    needed = [f"has_{p}" for p in PRODUCTS]
    values = _true_values(catalogue, truth, frame, records(frame, needed))
    return _features(spec, frame), values


def _labelled_audiences(settings: Settings, definition: ChurnDefinition) -> pd.DataFrame:
    """Every audience row of the campaign log (contacted or held out) with churn within the
    horizon."""
    from features.build import read_raw_table
    from training.uplift.data import label_rows

    raw = settings.raw_dir
    columns = ["customer_id", "sent_at", "action_id", "randomized", "holdout"]
    rows = audience_rows(read_raw_table(raw, "campaigns", columns))
    churned_at = read_raw_table(raw, "churn", ["customer_id", "churned_at"])
    churned_at = churned_at.groupby("customer_id")["churned_at"].min()
    data_end = pd.to_datetime(read_raw_table(raw, "monthly", ["month_end"])["month_end"]).max()
    return label_rows(rows, churned_at, data_end, definition)


def write_report(evaluation: NbaEvaluation, folder: Path) -> list[Path]:
    """``nba_evaluation.json``, ``.md`` and ``.png`` (a bar chart of the policies) in ``folder``."""
    from training.plots import pyplot

    plt = pyplot()

    folder.mkdir(parents=True, exist_ok=True)
    data = {
        "month_end": evaluation.month_end.isoformat(),
        "customers": evaluation.customers,
        "logged_contacts": evaluation.logged_contacts,
        "ceiling_rows": evaluation.ceiling_rows,
        "policies": evaluation.table.to_dict(orient="index"),
        "campaign_arms": [
            {"part": part, "action_id": action, **row}
            for (part, action), row in evaluation.arms.to_dict(orient="index").items()
        ],
    }
    paths = [
        folder / "nba_evaluation.json",
        folder / "nba_evaluation.md",
        folder / "nba_evaluation.png",
    ]
    paths[0].write_text(json.dumps(data, indent=2))
    paths[1].write_text(
        f"# Next best action: policies compared\n\nCustomers with the bank at "
        f"{evaluation.month_end:%Y-%m-%d}: {evaluation.customers}; randomised contacts and "
        f"holdouts in the log: {evaluation.logged_contacts}. Values in currency per customer, "
        f"relative to doing nothing; the oracle chooses by the true effects under the same "
        f"rules; the observable ceiling by models fitted to the true values of "
        f"{evaluation.ceiling_rows} earlier customer-months.\n\n{evaluation.markdown()}\n\n"
        f"## What each campaign audience's offer changed\n\nChurn within the horizon, "
        f"contacted minus held out (± 1 s.e.), beside "
        f"the true average effect over the audience.\n\n{evaluation.arms_markdown()}\n"
    )
    fig, ax = plt.subplots(figsize=(7, 3.5))
    t = evaluation.table
    x = np.arange(len(t))
    bars = (("truth", None, "ground truth"), ("dr", "dr_se", "doubly robust (log), ± 1 s.e."))
    for k, (column, error, label) in enumerate(bars):
        yerr = t[error] if error else None
        ax.bar(x + (k - 0.5) * 0.38, t[column], width=0.38, yerr=yerr, capsize=3, label=label)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(x, list(t.index), rotation=15)
    ax.set_ylabel("value per customer")
    ax.set_title("Next best action policies")
    ax.legend()
    fig.tight_layout()
    fig.savefig(paths[2], dpi=120)
    plt.close(fig)
    return paths


def log_evaluation(settings: Settings, evaluation: NbaEvaluation, paths: Sequence[Path]) -> str:
    """Log the table as metrics and the report files as artifacts; returns the MLflow run id."""
    import mlflow

    from training.tracking import experiment_id, tracking

    with (
        tracking(settings),
        mlflow.start_run(experiment_id=experiment_id(settings, "retain-nba-evaluation")) as run,
    ):
        mlflow.log_params(
            {
                "month_end": evaluation.month_end.isoformat(),
                "customers": evaluation.customers,
                "logged_contacts": evaluation.logged_contacts,
                "ceiling_rows": evaluation.ceiling_rows,
            }
        )
        for policy, row in evaluation.table.iterrows():
            mlflow.log_metrics({f"{policy}_{k}": float(v) for k, v in row.items()})
        for path in paths:
            mlflow.log_artifact(str(path))
        return str(run.info.run_id)
