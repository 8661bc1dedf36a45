"""Next best action for one customer: one online read, every model once, then the pure decision.

``Recommender`` holds the churn scorer (``serving.scoring``), the propensity and uplift models, the
action catalogue and the decision log. ``recommend`` reads the customer's features, scores
P(churn), P(open) of every product and the effect of every retention action, reads the contact
history from the log, calls ``serving.decide.decide``, explains the chosen actions, and logs the
decision before answering. ``model_scores`` turns model outputs into ``decide``'s inputs and is
pure, so the offline evaluation (``evaluation.nba``) uses exactly what the service uses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from features.online import Columns
from retain.core.ids import BankId
from retain.core.progress import Progress, silent
from retain.core.settings import Settings
from serving.actions import ActionCatalogue
from serving.audit import decision_inputs
from serving.customer import reasons_out
from serving.decide import Context, Decision, Levers, Scores, decide
from serving.decision_log import AuditEntry, DecisionLog, new_decision_id
from serving.errors import CustomerNotFoundError, InactiveCustomerError, InvalidRequestError
from serving.reasons import Reason, top_reasons
from serving.schemas import (
    BatchDecision,
    RecommendBatchRequest,
    RecommendedAction,
    RecommendRequest,
    RecommendResponse,
    Segments,
    TraceItem,
)
from serving.scoring import Scorer, check_served, encode_rows, segments_of
from training.calibrate import calibrate
from training.encode import FeatureSpec

if TYPE_CHECKING:
    from training.propensity.model import PropensityModel
    from training.uplift.model import UpliftModel

CHUNK = 1000
"""Customers per online read, model call and log transaction in ``Recommender.decide_many``."""

PropensityContributions = Callable[[str], NDArray[np.float64]]
"""Product -> the customer's TreeSHAP contributions to its propensity (computed on demand)."""


def _not_found(cid: BankId) -> str:
    return f"no customer {cid} in the feature store"


def _inactive(cid: BankId) -> str:
    return (
        f"customer {cid} has no current monthly features: they left the bank or their "
        "data stopped arriving, so there is nothing to recommend"
    )


def customer_value(catalogue: ActionCatalogue, customer: Mapping[str, Any]) -> float:
    """What keeping the customer is worth to the bank: the catalogue value (margin or lifetime-value
    contribution) of every product the customer holds."""
    return float(
        sum(
            a.value
            for a in catalogue.actions
            if a.kind == "cross_sell" and customer.get(f"has_{a.product}") is True
        )
    )


def model_scores(
    catalogue: ActionCatalogue,
    customer: Mapping[str, Any],
    p_churn: float,
    p_open: Mapping[str, float],
    effects: Mapping[str, float],
    offered: Mapping[str, float] | None = None,
    contact_ratio: float = 0.0,
) -> Scores:
    """``decide``'s inputs from model outputs.

    Args:
        catalogue: the action catalogue (cross-sell actions name their product).
        customer: feature values (``has_<product>`` gives the customer's value).
        p_churn: calibrated P(churn within the horizon).
        p_open: product -> P(opening it within the horizon).
        effects: retention action -> estimated change in P(churn) if offered (negative keeps the
            customer); ``decide`` wants the relative cut, ``-effect / p_churn`` in [-1, 1].
        offered: product -> P(accept | offered) (``PropensityModel.offer_proba``; NaN for a
            product never offered). A cross-sell is then valued by the openings it causes,
            ``P(accept) x (1 - P(open))``, less the churn a contact adds (``contact_ratio x
            P(churn)``). Without it (no acceptance model) P(open) stands for P(accept).
        contact_ratio: the relative rise in P(churn) from a cross-sell contact.
    """
    p_accept: dict[str, float] = {}
    p_anyway: dict[str, float] = {}
    for a in catalogue.actions:
        if a.kind != "cross_sell" or a.product is None or a.product not in p_open:
            continue
        accept = (offered or {}).get(a.product, float("nan"))
        if np.isfinite(accept):
            p_accept[a.id], p_anyway[a.id] = float(accept), float(p_open[a.product])
        else:
            p_accept[a.id] = float(p_open[a.product])
    uplift = {
        action: float(np.clip(-effect / p_churn, -1.0, 1.0)) if p_churn > 0 else 0.0
        for action, effect in effects.items()
        if action in catalogue
    }
    return Scores(
        customer_value=customer_value(catalogue, customer),
        p_churn=float(p_churn),
        p_accept=p_accept,
        uplift=uplift,
        p_anyway=p_anyway,
        contact_churn=float(np.clip(contact_ratio * p_churn, -1.0, 1.0)) if p_anyway else 0.0,
    )


@dataclass
class Recommender:
    """Everything ``/recommend`` needs, loaded once."""

    scorer: Scorer
    propensity: PropensityModel
    propensity_version: str
    uplift: UpliftModel | None
    uplift_version: str | None
    actions: ActionCatalogue
    log: DecisionLog
    levers: Levers

    @property
    def models(self) -> dict[str, str]:
        models = {
            self.scorer.model_name: self.scorer.model_version,
            "retain-propensity": self.propensity_version,
        }
        if self.uplift_version is not None:
            models["retain-uplift"] = self.uplift_version
        return models

    def _score_rows(
        self, columns: Columns, rows: Sequence[int], values: Sequence[Mapping[str, Any]]
    ) -> tuple[list[Scores], NDArray[np.float64], NDArray[np.float64]]:
        """Scores, churn contributions ``[n, features + 1]`` and the propensity input
        ``[n, features]`` of ``rows`` of an online read (``values``: their feature values), every
        model called once for all of them."""
        encoded: list[tuple[FeatureSpec, NDArray[np.float64]]] = []

        def x_for(spec: FeatureSpec) -> NDArray[np.float64]:
            """The model input; models trained on the same frame share one encoding."""
            for known, x in encoded:
                if known == spec:
                    return x
            encoded.append((spec, encode_rows(columns, spec, rows)))
            return encoded[-1][1]

        raw, churn_contrib = self.scorer.predict(x_for(self.scorer.spec))
        p_churn = calibrate(raw, self.scorer.loaded.model.calibration)
        x_prop = x_for(self.propensity.spec)
        p_open = self.propensity.predict_proba(x_prop)
        p_offer = self.propensity.offer_proba(x_prop, p_open)
        ratio = self.propensity.contact_churn_ratio
        # Without an uplift model, retention actions are removed (rule "score").
        effects = None if self.uplift is None else self.uplift.effects(x_for(self.uplift.spec))
        products = self.propensity.products
        scores = []
        for j, customer in enumerate(values):
            opened = dict(zip(products, p_open[j], strict=True))
            offered = None if p_offer is None else dict(zip(products, p_offer[j], strict=True))
            effect: dict[str, float] = {}
            if self.uplift is not None and effects is not None:
                effect = dict(zip(self.uplift.actions, effects[j], strict=True))
            scores.append(
                model_scores(
                    self.actions, customer, float(p_churn[j]), opened, effect, offered, ratio
                )
            )
        return scores, churn_contrib, x_prop

    def recommend(self, request: RecommendRequest) -> RecommendResponse:
        """Decide, explain and log the next best actions of one customer (see ``decide``)."""
        return self.decide(request)[0]

    def decide(
        self, request: RecommendRequest, api_key: str | None = None
    ) -> tuple[RecommendResponse, str]:
        """Decide, explain and log the next best actions of one customer; the audit row (who
        asked, ``api_key``, and every input of ``decide``, to replay it) is written with it.

        Returns:
            The response and its JSON, as answered: with the bank's customer id. The log keys
            the decision, and holds the response, by the stores' key (a pseudonym where the
            bank's ids are strings), so it holds no bank identifier.

        Raises:
            CustomerNotFoundError: no such customer in the feature store (404).
            InactiveCustomerError: the customer has left the bank (422).
            OnlineStoreError: the online store cannot be read (503).
            DataError: a decision input is out of range (400).
            InvalidRequestError: the decision time is outside the accepted window (400).
        """
        at = self.scorer.config.decision_time(request.context.at, datetime.now(UTC), "context.at")
        ids = self.scorer.ids
        cid = ids.shown(request.customer_id)
        key = ids.key_of(request.customer_id)
        if key is None:  # text where the ids are whole numbers
            raise CustomerNotFoundError(_not_found(cid))
        rows = self.scorer.online.read([key], self.scorer.config.request_time)
        if not rows.found[0]:
            raise CustomerNotFoundError(_not_found(cid))
        if not rows.current[0]:
            raise InactiveCustomerError(_inactive(cid))
        values = rows.row(0, list(rows.columns))
        scored, churn_contrib, x_prop = self._score_rows(rows.columns, [0], [values])
        scores = scored[0]
        context = Context(request.channel, at, request.context.placement, request.context.weight)
        history = self.log.history(key, at)
        decision = decide(self.actions, values, context, history, scores, self.levers, request.k)
        logged = self._response(
            key,
            decision,
            scores,
            values,
            churn_contrib[0],
            lambda product: self.propensity.contributions(x_prop, product)[0],
        )
        text = logged.model_dump_json()
        entry = AuditEntry(
            "recommend",
            api_key,
            [key],
            self.models,
            [rows.snapshot_at[0]],
            logged.decision_id,
            decision_inputs(values, context, history, scores, self.levers, request.k, decision),
        )
        self.log.record(logged.decision_id, key, decision, text, entry)
        if cid == key:  # integer ids: the key is the bank's id
            return logged, text
        response = logged.model_copy(update={"customer_id": cid})
        return response, response.model_dump_json()

    def recommend_many(self, request: RecommendBatchRequest) -> list[BatchDecision]:
        """``decide_many``, all chunks at once."""
        return [item for part in self.decide_many(request) for item in part]

    def decide_many(
        self,
        request: RecommendBatchRequest,
        api_key: str | None = None,
        endpoint: str = "recommend_batch",
        chunk: int = CHUNK,
        progress: Progress = silent,
    ) -> Iterator[list[BatchDecision]]:
        """Decide, explain and log the next best actions of an audience, ``chunk`` customers at a
        time: one online read, each model once, one read of the contact histories and one log
        transaction per chunk; ``decide`` per customer, as ``/recommend`` does. Each customer's
        answer is the one ``decide`` gives for it alone at the same ``at`` (default: now, once
        for the whole audience); an unknown or departed customer is answered in its own item.

        Yields:
            The answers of each chunk, in the order asked, once the chunk is logged (its
            decisions and audit rows in one transaction: a failure loses no more than the chunk
            in flight, and logs none of it).

        Raises:
            InvalidRequestError: a customer is named twice, or ``at`` is outside the window (400).
            OnlineStoreError: the online store cannot be read (503).
            DataError: a decision input is out of range (400).
        """
        at = self.scorer.config.decision_time(request.context.at, datetime.now(UTC), "context.at")
        ids = self.scorer.ids
        shown = [ids.shown(c) for c in request.customer_ids]
        keys = [ids.key_of(c) for c in request.customer_ids]
        seen: set[int] = set()
        for cid, key in zip(shown, keys, strict=True):
            if key is not None and key in seen:
                raise InvalidRequestError(
                    f"customer {cid} is named more than once: name each customer once",
                    "customer_ids",
                )
            if key is not None:
                seen.add(key)
        context = Context(request.channel, at, request.context.placement, request.context.weight)
        total = len(keys)
        progress(0, total)
        for start in range(0, total, max(1, chunk)):
            part = slice(start, start + max(1, chunk))
            yield self._decide_chunk(shown[part], keys[part], context, request.k, api_key, endpoint)
            progress(min(start + max(1, chunk), total), total)

    def _decide_chunk(
        self,
        shown: Sequence[BankId],
        keys: Sequence[int | None],
        context: Context,
        k: int,
        api_key: str | None,
        endpoint: str,
    ) -> list[BatchDecision]:
        """One chunk of ``decide_many``."""
        items: list[BatchDecision | None] = [None] * len(keys)
        known = [i for i, key in enumerate(keys) if key is not None]
        if not known:  # no id in the chunk can be a customer's
            self.log.record_many([], [self._asked(keys, [None] * len(keys), api_key, endpoint)])
            return [
                BatchDecision(customer_id=c, status="not_found", message=_not_found(c))
                for c in shown
            ]
        known_keys = [key for key in keys if key is not None]
        rows = self.scorer.online.read(known_keys, self.scorer.config.request_time)
        active: list[tuple[int, int]] = []  # (position in the chunk, row of the read)
        for r, i in enumerate(known):
            if not rows.found[r]:
                items[i] = BatchDecision(
                    customer_id=shown[i], status="not_found", message=_not_found(shown[i])
                )
            elif not rows.current[r]:
                items[i] = BatchDecision(
                    customer_id=shown[i], status="inactive", message=_inactive(shown[i])
                )
            else:
                active.append((i, r))
        for i, key in enumerate(keys):
            if key is None:  # text where the ids are whole numbers
                items[i] = BatchDecision(
                    customer_id=shown[i], status="not_found", message=_not_found(shown[i])
                )
        logged: list[tuple[str, int, Decision, str, AuditEntry | None]] = []
        if active:
            names = list(rows.columns)
            values = [rows.row(r, names) for _, r in active]
            scores, churn_contrib, x_prop = self._score_rows(
                rows.columns, [r for _, r in active], values
            )
            customer_keys = [known_keys[r] for _, r in active]
            histories = self.log.histories(customer_keys, context.now)
            decisions = [
                decide(self.actions, v, context, histories[key], s, self.levers, k)
                for v, s, key in zip(values, scores, customer_keys, strict=True)
            ]
            contrib = self._propensity_contributions(decisions, x_prop)
            for j, (i, r) in enumerate(active):
                key = customer_keys[j]
                response = self._response(
                    key,
                    decisions[j],
                    scores[j],
                    values[j],
                    churn_contrib[j],
                    lambda product, j=j: contrib[(j, product)],  # type: ignore[misc]
                )
                inputs = decision_inputs(
                    values[j], context, histories[key], scores[j], self.levers, k, decisions[j]
                )
                entry = AuditEntry(
                    endpoint,
                    api_key,
                    [key],
                    self.models,
                    [rows.snapshot_at[r]],
                    response.decision_id,
                    inputs,
                )
                logged.append(
                    (response.decision_id, key, decisions[j], response.model_dump_json(), entry)
                )
                if shown[i] != key:  # string ids: answered with the bank's id, logged by key
                    response = response.model_copy(update={"customer_id": shown[i]})
                items[i] = BatchDecision(customer_id=shown[i], status="ok", recommendation=response)
        undecided = [i for i, item in enumerate(items) if item is None or item.status != "ok"]
        read_at = {i: rows.snapshot_at[r] for r, i in enumerate(known)}
        asked = self._asked(
            [keys[i] for i in undecided], [read_at.get(i) for i in undecided], api_key, endpoint
        )
        self.log.record_many(logged, [asked] if undecided else [])
        return [item for item in items if item is not None]

    def _asked(
        self,
        keys: Sequence[int | None],
        feature_times: Sequence[datetime | None],
        api_key: str | None,
        endpoint: str,
    ) -> AuditEntry:
        """The audit row of the customers asked about that got no decision (unknown or gone)."""
        return AuditEntry(endpoint, api_key, list(keys), self.models, list(feature_times))

    def _propensity_contributions(
        self, decisions: Sequence[Decision], x_prop: NDArray[np.float64]
    ) -> dict[tuple[int, str], NDArray[np.float64]]:
        """(customer, product) -> TreeSHAP contributions to the product's propensity, for every
        cross-sell the decisions chose: one call per product for the customers offered it."""
        offered: dict[str, list[int]] = {}
        for j, decision in enumerate(decisions):
            for ranked in decision.actions:
                product = self.actions[ranked.action_id].product
                kind = self.actions[ranked.action_id].kind
                if kind == "cross_sell" and product in self.propensity.products:
                    assert product is not None
                    customers = offered.setdefault(product, [])
                    if not customers or customers[-1] != j:
                        customers.append(j)
        out: dict[tuple[int, str], NDArray[np.float64]] = {}
        for product, rows in offered.items():
            contrib = self.propensity.contributions(x_prop[rows], product)
            out.update({(j, product): c for j, c in zip(rows, contrib, strict=True)})
        return out

    def _reasons(
        self,
        kind: str,
        product: str | None,
        values: Mapping[str, Any],
        churn_contrib: NDArray[np.float64],
        propensity_contrib: PropensityContributions,
    ) -> list[Reason]:
        n = self.scorer.config.top_reasons
        catalogue = self.scorer.catalogue
        if kind == "retention":
            return top_reasons(churn_contrib, values, self.scorer.features, catalogue, n)
        if kind == "cross_sell" and product in self.propensity.products:
            contrib = propensity_contrib(product)
            features = list(self.propensity.spec.features)
            return top_reasons(contrib, values, features, catalogue, n, subject="the chance")
        return []

    def _service_reasons(self, action_id: str, values: Mapping[str, Any]) -> list[Reason]:
        """A service action's first eligibility condition is the problem it fixes: its reason."""
        conditions = self.actions[action_id].eligibility
        if not conditions:
            return []
        feature = conditions[0].feature
        value = values.get(feature)
        text = self.scorer.catalogue.sentence(feature, value, "up")
        return [Reason(text=text, feature=feature, value=value, direction="up", weight=0.0)]

    def _response(
        self,
        cid: BankId,
        decision: Decision,
        scores: Scores,
        values: Mapping[str, Any],
        churn_contrib: NDArray[np.float64],
        propensity_contrib: PropensityContributions,
    ) -> RecommendResponse:
        actions = []
        for rank, ranked in enumerate(decision.actions, start=1):
            action = self.actions[ranked.action_id]
            if action.kind == "service":
                reasons = self._service_reasons(action.id, values)
            else:
                reasons = self._reasons(
                    action.kind, action.product, values, churn_contrib, propensity_contrib
                )
            # P(accept) is a cross-sell's; a service or retention action has no such probability.
            propensity = ranked.propensity if action.kind == "cross_sell" else None
            actions.append(
                RecommendedAction(
                    rank=rank,
                    action_id=ranked.action_id,
                    kind=ranked.kind,  # type: ignore[arg-type]
                    description=action.description,
                    channel=ranked.channel,
                    expected_value=ranked.expected_value,
                    propensity=None if propensity is None else round(propensity, 6),
                    reasons=reasons_out(reasons),
                )
            )
        return RecommendResponse(
            decision_id=new_decision_id(),
            customer_id=cid,
            channel=decision.channel,
            placement=decision.placement,
            at=decision.at,
            actions=actions,
            churn_probability=round(scores.p_churn or 0.0, 6),
            segments=Segments(**segments_of(values)),
            customer_value=scores.customer_value,
            trace=trace_out(decision),
            models=self.models,
            catalogue_version=decision.catalogue_version,
        )


def trace_out(decision: Decision) -> list[TraceItem]:
    """The trace as answered (and logged)."""
    return [
        TraceItem(
            action_id=t.action_id,
            status=t.status,
            rule=t.rule,
            detail=t.detail,
            expected_value=None if t.expected_value is None else round(t.expected_value, 4),
        )
        for t in decision.trace
    ]


def load_recommender(settings: Settings, scorer: Scorer) -> Recommender:
    """Load the propensity and uplift champions, the action catalogue and the decision log.

    Without an uplift champion the recommender still runs: retention actions are then removed
    from every decision (rule ``score``: no uplift), since retain offers them only where it can
    tell that they keep the customer.

    Raises:
        NotReadyError: the propensity model has no champion yet.
        ConfigError: the catalogue or the decision log is wrong, or a model needs a feature the
            feature service does not serve.
    """
    from retain.core.errors import NotReadyError
    from training.propensity.load import load_propensity
    from training.uplift.load import load_uplift

    propensity, propensity_version = load_propensity(settings)
    uplift: UpliftModel | None
    uplift_version: str | None
    try:
        uplift, uplift_version = load_uplift(settings)
    except NotReadyError:
        uplift, uplift_version = None, None
    check_served(
        scorer.online, f"retain-propensity v{propensity_version}", propensity.spec.features
    )
    if uplift is not None:
        check_served(scorer.online, f"retain-uplift v{uplift_version}", uplift.spec.features)
    return Recommender(
        scorer=scorer,
        propensity=propensity,
        propensity_version=propensity_version,
        uplift=uplift,
        uplift_version=uplift_version,
        actions=ActionCatalogue.load(),
        log=DecisionLog.open(settings),
        levers=Levers(),
    )
