"""What each scored customer may be offered in a campaign: the candidates of ``retain plan``.

For every customer of a scores table (``retain score``, ``serving.batch``) and every retention
or cross-sell action of the catalogue, the candidate rows are the channels the action may go out
on, each with its cost and expected value (EV, net of cost), under the rules ``/recommend``
applies (``serving.decide``):

- eligibility, suitability and consent: ``serving.batch.allowed``, as ``retain score`` applies
  them;
- the contact history in the decision log, where the log exists: a channel the customer has
  had its week's or month's contacts on is left out, and so is an action in its cooldown, its
  repeat window or at its monthly limit (``serving.decide`` rules ``week_cap``, ``month_cap``,
  ``cooldown``, ``repeat``, ``max_per_month``);
- retention EV: ``-effect x value - cost`` (the uplift champion's change in P(churn), the
  scores' customer value), as ``retain score`` computes the expected saved value. Without an
  uplift champion there is no retention EV: retention rows keep their cost (the riskiest-first
  baseline needs them) and an unknown EV, and the plan offers none (``notes`` says so);
- cross-sell EV: ``P(accept) x value x context weight x lever - cost``, as
  ``serving.decide.expected_value`` computes it for ``/recommend`` (default context weight and
  levers, 1), P(accept) the propensity champion's P(open the product within the horizon).
  Cross-sell rows worth nothing (EV <= 0) are dropped: no plan takes them.

Service actions are not campaigned (they answer a customer's own problem) and are left out.

Channels: the capped channels (those given a capacity) each get a row; the uncapped ones are
interchangeable for the plan, so one row stands for them: the customer's preferred channel when
it is one of them, else the first in the catalogue's order.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from retain.core.columns import AS_OF, KEY
from retain.core.errors import DataError, NotReadyError
from retain.core.progress import Progress, silent
from retain.core.settings import Settings
from serving.actions import Action, ActionCatalogue
from serving.batch import RUN_FILE, allowed, scores_root
from serving.decide import (
    Contact,
    Context,
    RuleInput,
    Scores,
    rule_cooldown,
    rule_max_per_month,
    rule_month_cap,
    rule_repeat,
    rule_week_cap,
)

if TYPE_CHECKING:
    from serving.decision_log import DecisionLog
    from training.propensity.model import PropensityModel
    from training.uplift.model import UpliftModel

KINDS = ("retention", "cross_sell")

COLUMNS: tuple[str, ...] = (
    "customer_key",
    "customer_id",
    "action",
    "kind",
    "channel",
    "cost",
    "expected_value",
    "churn_probability",
    "value",
)
"""The candidates table; ``value`` is the customer's value (what keeping them is worth)."""

NO_UPLIFT = (
    "no retain-uplift champion: no retention offer is planned (train and promote one: "
    "`retain train uplift`, `retain promote uplift`)"
)
NO_PROPENSITY = (
    "no retain-propensity champion: no cross-sell offer is planned (`retain train propensity`, "
    "`retain promote propensity`)"
)
SCORE_COLUMNS = ["customer_key", "customer_id", "churn_probability", "value"]


@dataclass(frozen=True)
class ScoresTable:
    """One dated scores table of ``retain score``: its folder, run and part files."""

    folder: Path
    run: dict[str, Any]
    parts: tuple[Path, ...]

    @property
    def as_of(self) -> pd.Timestamp:
        """The month end the customers were scored at (as snapshots are stamped)."""
        day = pd.Timestamp(str(self.run["as_of"]))
        return pd.Period(day, freq="M").end_time.tz_localize("UTC").floor("s")


def scores_table(settings: Settings, as_of: str | None = None) -> ScoresTable:
    """The scores written at ``as_of`` (``YYYY-MM-DD``, a month end), or the newest.

    Raises:
        NotReadyError: no scores yet (or none at ``as_of``).
        DataError: the run file is unreadable.
    """
    root = scores_root(settings)
    folders = sorted(p for p in root.glob("as_of=*") if (p / RUN_FILE).is_file())
    if not folders:
        raise NotReadyError(f"no scores yet under {root}: run `retain score`")
    if as_of is None:
        folder = folders[-1]
    else:
        named = [p for p in folders if p.name == f"as_of={as_of}"]
        if not named:
            dates = ", ".join(p.name.removeprefix("as_of=") for p in folders)
            raise NotReadyError(
                f"no scores at {as_of}: scored dates are {dates}; "
                f"run `retain score --as-of {as_of}`"
            )
        folder = named[0]
    try:
        run = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read {folder / RUN_FILE}: {e}; run `retain score` again") from e
    return ScoresTable(folder, run, tuple(sorted(folder.glob("part-*.parquet"))))


def read_part(path: Path) -> pd.DataFrame:
    """The columns of one scores part the plan needs.

    Raises:
        DataError: the part is unreadable.
    """
    try:
        return pq.read_table(path, columns=SCORE_COLUMNS).to_pandas()
    except (pa.ArrowException, OSError) as e:
        raise DataError(f"cannot read the scores part {path}: {e}; run `retain score`") from e


def recent_contacts(log: DecisionLog, now: datetime) -> dict[int, list[Contact]]:
    """Every customer's delivered actions in the log's history window up to ``now``, with their
    outcomes: one read of the whole log, not one per customer (``DecisionLog.history``)."""
    import sqlalchemy as sa

    from serving.decision_log import HISTORY_DAYS, as_utc, decisions, feedback

    since = now - timedelta(days=HISTORY_DAYS)
    with log.engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                decisions.c.customer_id,
                decisions.c.decision_id,
                decisions.c.at,
                decisions.c.channel,
                decisions.c.actions,
            ).where(
                decisions.c.project_id == log.project,
                decisions.c.at > since,
                decisions.c.at <= now,
            )
        ).all()
        outcomes = {
            (r.decision_id, r.action_id): r.outcome
            for r in conn.execute(
                sa.select(feedback.c.decision_id, feedback.c.action_id, feedback.c.outcome).where(
                    feedback.c.project_id == log.project
                )
            )
        }
    out: dict[int, list[Contact]] = {}
    for r in rows:
        for action in json.loads(r.actions):
            contact = Contact(
                action, r.channel, as_utc(r.at), outcomes.get((r.decision_id, action))
            )
            out.setdefault(int(r.customer_id), []).append(contact)
    return out


def contact_history(settings: Settings, now: datetime) -> dict[int, list[Contact]]:
    """``recent_contacts`` of the settings' decision log; none where no log was ever written
    (an embedded home whose service never decided)."""
    from serving.decision_log import DecisionLog, log_url

    url = log_url(settings)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        return {}
    log = DecisionLog(url, settings.project)
    try:
        return recent_contacts(log, now)
    finally:
        log.close()


@dataclass(frozen=True)
class Models:
    """The champions the candidates need; None where there is none (see ``notes``)."""

    propensity: PropensityModel | None
    uplift: UpliftModel | None
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def notes(self) -> list[str]:
        return ([] if self.uplift is not None else [NO_UPLIFT]) + (
            [] if self.propensity is not None else [NO_PROPENSITY]
        )


def load_models(settings: Settings) -> Models:
    """The propensity and uplift champions, each None when it has none."""
    from training.propensity.load import load_propensity
    from training.uplift.load import load_uplift

    versions: dict[str, str] = {}
    propensity: PropensityModel | None
    uplift: UpliftModel | None
    try:
        propensity, versions["retain-propensity"] = load_propensity(settings)
    except NotReadyError:
        propensity = None
    try:
        uplift, versions["retain-uplift"] = load_uplift(settings)
    except NotReadyError:
        uplift = None
    return Models(propensity, uplift, versions)


def customer_records(frame: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
    """Rows as the rules read them (Python values, missing as NaN), as ``retain score`` does."""
    rows = frame.reindex(columns=list(columns))
    return list(rows.astype(object).where(rows.notna()).to_dict("records"))


def history_masks(
    records: Sequence[Mapping[str, Any]],
    keys: NDArray[np.int64],
    history: Mapping[int, Sequence[Contact]],
    catalogue: ActionCatalogue,
    actions: Sequence[Action],
    channels: Sequence[str],
    now: datetime,
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Which actions and channels the contact policy leaves each customer.

    Returns:
        ``[customers, actions]`` (cooldown, repeat, max_per_month pass) and
        ``[customers, channels]`` (week_cap and month_cap pass); all True without history.
    """
    action_ok = np.ones((len(keys), len(actions)), dtype=bool)
    channel_ok = np.ones((len(keys), len(channels)), dtype=bool)
    if not history:
        return action_ok, channel_ok
    for i in (int(j) for j in np.flatnonzero([int(k) in history for k in keys])):
        contacts = history[int(keys[i])]
        for c, channel in enumerate(channels):
            x = RuleInput(records[i], Context(channel, now), contacts, catalogue.policy, Scores())
            blocked = rule_week_cap(actions[0], x) or rule_month_cap(actions[0], x)
            channel_ok[i, c] = blocked is None
        x = RuleInput(records[i], Context(channels[0], now), contacts, catalogue.policy, Scores())
        for a, action in enumerate(actions):
            rules = (rule_cooldown, rule_repeat, rule_max_per_month)
            action_ok[i, a] = all(rule(action, x) is None for rule in rules)
    return action_ok, channel_ok


def expected_values(
    actions: Sequence[Action],
    value: NDArray[np.float64],
    p_open: Mapping[str, NDArray[np.float64]],
    effects: Mapping[str, NDArray[np.float64]],
    offered: Mapping[str, NDArray[np.float64]] | None = None,
    contact_churn: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """``[customers, actions]`` EV, net of cost (NaN where the model it needs is absent).

    Retention: ``-effect x value - cost`` (``serving.batch.best_actions``); cross-sell, as
    ``serving.decide.expected_value`` values it with the default context weight and levers:
    ``P(accept | offered) x (1 - P(open)) x product value - cost - contact churn x value`` where
    ``offered`` has the product's acceptance (``serving.nba.model_scores``), else ``P(open) x
    product value - cost``.
    """
    out = np.full((len(value), len(actions)), np.nan)
    churn_cost = np.zeros(len(value)) if contact_churn is None else contact_churn * value
    for a, action in enumerate(actions):
        if action.kind == "retention" and action.id in effects:
            out[:, a] = -effects[action.id] * value - action.cost
        elif action.kind == "cross_sell" and action.product in p_open:
            p = p_open[str(action.product)]
            accept = (offered or {}).get(str(action.product))
            if accept is None or not np.isfinite(accept).all():
                out[:, a] = p * action.value * 1.0 * 1.0 - action.cost
            else:
                out[:, a] = accept * (1 - p) * action.value - action.cost - churn_cost
    return out


def candidate_rows(
    scores: pd.DataFrame,
    records: Sequence[Mapping[str, Any]],
    actions: Sequence[Action],
    ev: NDArray[np.float64],
    action_ok: NDArray[np.bool_],
    channel_ok: NDArray[np.bool_],
    channels: Sequence[str],
    capped: Collection[str],
) -> pd.DataFrame:
    """The candidates table (``COLUMNS``) of one part, from its rule masks and EVs.

    Args:
        scores: the part's ``SCORE_COLUMNS``, aligned with ``records`` and the masks.
        channels: the columns of ``channel_ok``.
    """
    n = len(scores)
    preferred = np.array([str(r.get("preferred_channel")) for r in records], dtype=object)
    pieces = []
    for a, action in enumerate(actions):
        base = action_ok[:, a] & np.array([allowed(action, r) for r in records], dtype=bool)
        if action.kind == "cross_sell":
            base &= np.nan_to_num(ev[:, a], nan=-1.0) > 0
        if not base.any():
            continue
        options: list[tuple[NDArray[np.bool_], NDArray[np.object_]]] = []
        for ch in action.channels:
            if ch in capped:
                ok = base & channel_ok[:, channels.index(ch)]
                options.append((ok, np.full(n, ch, dtype=object)))
        free = [ch for ch in action.channels if ch not in capped]
        if free:
            free_ok = np.stack([channel_ok[:, channels.index(ch)] for ch in free], axis=1)
            first = np.array(free, dtype=object)[free_ok.argmax(axis=1)]
            pref_ok = np.zeros(n, dtype=bool)
            for j, ch in enumerate(free):
                pref_ok |= (preferred == ch) & free_ok[:, j]
            options.append((base & free_ok.any(axis=1), np.where(pref_ok, preferred, first)))
        for ok, channel in options:
            at = np.flatnonzero(ok)
            if len(at):
                pieces.append(
                    pd.DataFrame(
                        {
                            "customer_key": scores["customer_key"].to_numpy()[at],
                            "customer_id": scores["customer_id"].to_numpy()[at],
                            "action": action.id,
                            "kind": action.kind,
                            "channel": channel[at],
                            "cost": float(action.cost),
                            "expected_value": ev[at, a],
                            "churn_probability": scores["churn_probability"].to_numpy()[at],
                            "value": scores["value"].to_numpy()[at],
                        }
                    )
                )
    if not pieces:
        return empty_candidates()
    return pd.concat(pieces, ignore_index=True)[list(COLUMNS)]


def empty_candidates() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})


@dataclass(frozen=True)
class CandidateSet:
    table: pd.DataFrame
    customers: int
    notes: list[str]
    versions: dict[str, str]
    contacted_before: int


def build_candidates(
    settings: Settings,
    scores: ScoresTable,
    capped: Collection[str],
    now: datetime,
    catalogue: ActionCatalogue | None = None,
    models: Models | None = None,
    progress: Progress = silent,
) -> CandidateSet:
    """The candidates of every customer of ``scores``, one scores part at a time (memory stays
    bounded by the largest part, as in ``retain score``).

    Args:
        capped: the channels with a capacity (each gets its own row).
        now: the campaign's decision time: the contact history up to it counts.

    Raises:
        NotReadyError: the feature store is not applied.
        DataError: the scores or the feature sources are unreadable.
    """
    from features.frames import entity_frame
    from training.config import FEATURE_SERVICE
    from training.encode import encode

    catalogue = catalogue or ActionCatalogue.load()
    models = models or load_models(settings)
    actions = [a for a in catalogue.actions if a.kind in KINDS]
    channels = sorted({ch for a in actions for ch in a.channels})
    needed = sorted(
        {c.feature for a in actions for c in a.eligibility}
        | {"risk_tolerance", "marketing_consent", "preferred_channel"}
    )
    history = contact_history(settings, now)
    service = FEATURE_SERVICE
    for model in (models.uplift, models.propensity):
        if model is not None:
            service = str(model.info.get("feature_service", service))
    parts = [read_part(p) for p in scores.parts]
    total = sum(len(p) for p in parts)
    done = 0
    progress(0, total)
    tables = []
    for part in parts:
        if part.empty:
            continue
        part = part.sort_values("customer_key", ignore_index=True, kind="stable")
        keys = part["customer_key"].to_numpy(dtype=np.int64)
        entities = pd.DataFrame({KEY: keys, AS_OF: pd.Series([scores.as_of] * len(keys))})
        frame = entity_frame(settings, entities, service)
        frame = frame.set_index(KEY).reindex(pd.Index(keys, name=KEY)).reset_index()
        records = customer_records(frame, needed)
        value = part["value"].to_numpy(dtype=np.float64)
        p_open: dict[str, NDArray[np.float64]] = {}
        offered: dict[str, NDArray[np.float64]] = {}
        contact_churn = None
        if models.propensity is not None:
            x = encode(frame, models.propensity.spec).to_numpy(np.float64)
            probs = models.propensity.predict_proba(x)
            p_open = {p: probs[:, j] for j, p in enumerate(models.propensity.products)}
            accept = models.propensity.offer_proba(x, probs)
            if accept is not None:
                offered = {p: accept[:, j] for j, p in enumerate(models.propensity.products)}
                ratio = models.propensity.contact_churn_ratio
                p_churn = part["churn_probability"].to_numpy(dtype=np.float64)
                contact_churn = np.clip(ratio * p_churn, -1.0, 1.0)
        effects: dict[str, NDArray[np.float64]] = {}
        if models.uplift is not None:
            x = encode(frame, models.uplift.spec).to_numpy(np.float64)
            tau = models.uplift.effects(x)
            effects = {a: tau[:, j] for j, a in enumerate(models.uplift.actions)}
        ev = expected_values(actions, value, p_open, effects, offered, contact_churn)
        action_ok, channel_ok = history_masks(
            records, keys, history, catalogue, actions, channels, now
        )
        tables.append(
            candidate_rows(part, records, actions, ev, action_ok, channel_ok, channels, capped)
        )
        done += len(part)
        progress(done, total)
    table = pd.concat(tables, ignore_index=True) if tables else empty_candidates()
    return CandidateSet(
        table=table,
        customers=total,
        notes=models.notes,
        versions=models.versions,
        contacted_before=len(history),
    )
