"""The relationship manager's view of one customer, from the same online read as the score."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from retain.core.tables import PRODUCTS
from serving.config import ServingConfig
from serving.reasons import Reason
from serving.schemas import (
    Behaviour,
    CustomerScore,
    CustomerView,
    Profile,
    ReasonOut,
    Segments,
)
from serving.scoring import ScoredCustomer


def reasons_out(reasons: Sequence[Reason]) -> list[ReasonOut]:
    """Reasons as the API shows them."""
    return [
        ReasonOut(
            text=r.text, feature=r.feature, value=r.value, direction=r.direction, weight=r.weight
        )
        for r in reasons
    ]


def customer_score(s: ScoredCustomer, model_name: str, model_version: str) -> CustomerScore:
    """The response item of one scored customer."""
    return CustomerScore(
        customer_id=s.customer_id,
        status=s.status,
        message=s.message,
        churn_probability=None if s.probability is None else round(s.probability, 6),
        risk_band=s.band,
        reasons=reasons_out(s.reasons),
        model_name=model_name,
        model_version=model_version,
        feature_timestamp=s.feature_timestamp,
        feature_age_days=None if s.feature_age_days is None else round(s.feature_age_days, 2),
        segments=Segments(**s.segments),
    )


def _pick(values: Mapping[str, Any], model: type[Profile] | type[Behaviour]) -> dict[str, Any]:
    return {k: values.get(k) for k in model.model_fields}


def customer_view(
    scored: ScoredCustomer,
    values: Mapping[str, Any],
    config: ServingConfig,
    model_name: str,
    model_version: str,
) -> CustomerView:
    """Profile, segments, products, recent behaviour and churn risk of one customer; the
    segments are the scored customer's (``customer_segments``, null fields unless current)."""
    total = values.get("bal_total")
    return CustomerView(
        customer_id=scored.customer_id,
        status=scored.status,
        profile=Profile(**_pick(values, Profile)),
        segments=Segments(**scored.segments),
        total_balance=None if total is None else round(float(total), 2),
        products=[p for p in PRODUCTS if values.get(f"has_{p}")],
        behaviour=Behaviour(**_pick(values, Behaviour)),
        churn=customer_score(scored, model_name, model_version),
    )
