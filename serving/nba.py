"""Next best action for one customer: one online read, every model once, then the pure decision.

``Recommender`` holds the churn scorer (``serving.scoring``), the propensity and uplift models, the
action catalogue and the decision log. ``recommend`` reads the customer's features, scores
P(churn), P(open) of every product and the effect of every retention action, reads the contact
history from the log, calls ``serving.decide.decide``, explains the chosen actions, and logs the
decision before answering. ``model_scores`` turns model outputs into ``decide``'s inputs and is
pure, so the offline evaluation (``evaluation.nba``) uses exactly what the service uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from retain.core.ids import BankId
from retain.core.settings import Settings
from serving.actions import ActionCatalogue
from serving.audit import decision_inputs
from serving.customer import reasons_out
from serving.decide import Context, Decision, Levers, Scores, decide
from serving.decision_log import AuditEntry, DecisionLog, new_decision_id
from serving.errors import CustomerNotFoundError, InactiveCustomerError
from serving.reasons import Reason, top_reasons
from serving.schemas import (
    RecommendedAction,
    RecommendRequest,
    RecommendResponse,
    TraceItem,
)
from serving.scoring import Scorer, check_served, encode_rows
from training.calibrate import calibrate
from training.encode import FeatureSpec

if TYPE_CHECKING:
    from training.propensity.model import PropensityModel
    from training.uplift.model import UpliftModel


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
) -> Scores:
    """``decide``'s inputs from model outputs.

    Args:
        catalogue: the action catalogue (cross-sell actions name their product).
        customer: feature values (``has_<product>`` gives the customer's value).
        p_churn: calibrated P(churn within the horizon).
        p_open: product -> P(opening it within the horizon); the P(accept) of its cross-sell.
        effects: retention action -> estimated change in P(churn) if offered (negative keeps the
            customer); ``decide`` wants the relative cut, ``-effect / p_churn`` in [-1, 1].
    """
    p_accept = {
        a.id: float(p_open[a.product])
        for a in catalogue.actions
        if a.kind == "cross_sell" and a.product is not None and a.product in p_open
    }
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

    def _score(
        self, columns: Any, values: Mapping[str, Any]
    ) -> tuple[Scores, NDArray[np.float64], NDArray[np.float64]]:
        """Scores, the churn contributions and the propensity input of one customer."""
        encoded: list[tuple[FeatureSpec, NDArray[np.float64]]] = []

        def x_for(spec: FeatureSpec) -> NDArray[np.float64]:
            """The model input; models trained on the same frame share one encoding."""
            for known, x in encoded:
                if known == spec:
                    return x
            encoded.append((spec, encode_rows(columns, spec, [0])))
            return encoded[-1][1]

        raw, churn_contrib = self.scorer.predict(x_for(self.scorer.spec))
        p_churn = float(calibrate(raw, self.scorer.loaded.model.calibration)[0])
        x_prop = x_for(self.propensity.spec)
        p_open = dict(
            zip(self.propensity.products, self.propensity.predict_proba(x_prop)[0], strict=True)
        )
        effects: dict[str, float] = {}
        if self.uplift is not None:  # without it, retention actions are removed (rule "score")
            x_up = x_for(self.uplift.spec)
            effects = dict(zip(self.uplift.actions, self.uplift.effects(x_up)[0], strict=True))
        scores = model_scores(self.actions, values, p_churn, p_open, effects)
        return scores, churn_contrib[0], x_prop

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
            raise CustomerNotFoundError(f"no customer {cid} in the feature store")
        rows = self.scorer.online.read([key], self.scorer.config.request_time)
        if not rows.found[0]:
            raise CustomerNotFoundError(f"no customer {cid} in the feature store")
        if not rows.current[0]:
            raise InactiveCustomerError(
                f"customer {cid} has no current monthly features: they left the bank or their "
                "data stopped arriving, so there is nothing to recommend"
            )
        values = rows.row(0, list(rows.columns))
        scores, churn_contrib, x_prop = self._score(rows.columns, values)
        context = Context(request.channel, at, request.context.placement, request.context.weight)
        history = self.log.history(key, at)
        decision = decide(self.actions, values, context, history, scores, self.levers, request.k)
        logged = self._response(key, decision, scores, values, churn_contrib, x_prop)
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

    def _reasons(
        self,
        kind: str,
        product: str | None,
        values: Mapping[str, Any],
        churn_contrib: NDArray[np.float64],
        x_prop: NDArray[np.float64],
    ) -> list[Reason]:
        n = self.scorer.config.top_reasons
        catalogue = self.scorer.catalogue
        if kind == "retention":
            return top_reasons(churn_contrib, values, self.scorer.features, catalogue, n)
        if kind == "cross_sell" and product in self.propensity.products:
            contrib = self.propensity.contributions(x_prop, product)[0]
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
        x_prop: NDArray[np.float64],
    ) -> RecommendResponse:
        actions = []
        for rank, ranked in enumerate(decision.actions, start=1):
            action = self.actions[ranked.action_id]
            if action.kind == "service":
                reasons = self._service_reasons(action.id, values)
            else:
                reasons = self._reasons(action.kind, action.product, values, churn_contrib, x_prop)
            # P(open) is a cross-sell's; a service or retention action has no such probability.
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
