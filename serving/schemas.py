"""Request and response models; their descriptions and examples make the OpenAPI page."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator
from pydantic_core import PydanticCustomError

from retain.core.ids import MAX_ID_CHARS, MAX_KEY, bank_id_problem
from serving.config import MAX_BATCH


def _bank_id(value: Any) -> int | str:
    """One message for a bad id, not one per member of the union."""
    problem = bank_id_problem(value)
    if problem is not None:
        raise PydanticCustomError("customer_id", problem)
    return value  # type: ignore[no-any-return]


CustomerId = Annotated[
    int | str,
    PlainValidator(
        _bank_id,
        json_schema_input_type=Annotated[int, Field(ge=0, le=MAX_KEY)]
        | Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)],
    ),
    Field(
        description="The bank's customer id, as the bank writes it: a whole number (0 to "
        f"2**63-1), or text of 1 to {MAX_ID_CHARS} characters where the bank's ids are strings "
        "(``customer_ids: string`` at ingestion).",
        examples=[1101709635517, "7590-VHVEG"],
    ),
]

CustomerIds = Annotated[
    list[CustomerId],
    Field(
        min_length=1,
        max_length=MAX_BATCH,
        description=f"Customers to score, 1 to {MAX_BATCH} ids; each is answered on its own.",
        examples=[[1101709635517, 1102171806643]],
    ),
]

Status = Literal["ok", "not_found", "inactive"]


class ReasonOut(BaseModel):
    text: str = Field(
        description="The reason in plain language.",
        examples=["Total balance down 48% over 3 months"],
    )
    feature: str = Field(description="The model feature behind it.", examples=["bal_total_chg_3m"])
    value: Any = Field(description="The feature's value (null when missing).", examples=[-0.48])
    direction: Literal["up", "down"] = Field(
        description="up: raises the churn risk; down: lowers it.", examples=["up"]
    )
    weight: float = Field(
        description="The feature's TreeSHAP contribution to the raw (log-odds) score.",
        examples=[0.37],
    )


class Segments(BaseModel):
    """The customer's segments at the latest snapshot, from the ``customer_segments`` feature
    view (the definitions of ``value.toml`` when the features were built); the batch scores and
    the at-risk list carry the same. A field is null when unknown: no customer, no current
    snapshot, or segments not built yet."""

    value_tier: str | None = Field(
        default=None,
        description="mass, affluent or private by total balance (value.toml [value_tiers]); "
        "unknown when the balance is missing.",
        examples=["affluent"],
    )
    lifecycle_stage: str | None = Field(
        default=None,
        description="new, growing, mature, declining or dormant (value.toml [lifecycle]).",
        examples=["declining"],
    )
    behaviour_segment: str | None = Field(
        default=None,
        description="How the customer banks: low_activity, digital, branch or mixed "
        "(value.toml [behaviour]).",
        examples=["digital"],
    )
    version: str | None = Field(
        default=None,
        description="The definitions' version (segments_version): a short hash of the "
        "thresholds and margins the segments were built with.",
        examples=["5d41402abc4b"],
    )


class CustomerScore(BaseModel):
    customer_id: int | str = Field(
        description="The customer asked for, as the bank writes its id.", examples=[1102171806643]
    )
    status: Status = Field(
        description="ok: scored; not_found: no such customer in the feature store; inactive: the "
        "customer left the bank or has no recent features, so no score.",
        examples=["ok"],
    )
    message: str | None = Field(
        default=None, description="Why there is no score, when status is not ok.", examples=[None]
    )
    churn_probability: float | None = Field(
        default=None,
        description="Calibrated probability of leaving or going dormant within 90 days.",
        examples=[0.044],
    )
    risk_band: str | None = Field(
        default=None,
        description="low, medium or high (thresholds in $RETAIN_HOME/serving.toml).",
        examples=["low"],
    )
    reasons: list[ReasonOut] = Field(
        default_factory=list, description="The largest contributions to the score, largest first."
    )
    model_name: str = Field(description="Registered model that scored.", examples=["retain-churn"])
    model_version: str = Field(description="Its registry version.", examples=["1"])
    feature_timestamp: datetime | None = Field(
        default=None,
        description="Time of the monthly snapshot the features come from (UTC).",
        examples=["2024-12-31T23:59:59Z"],
    )
    feature_age_days: float | None = Field(
        default=None, description="Days from that snapshot to now.", examples=[3.2]
    )
    segments: Segments = Field(
        default_factory=Segments,
        description="Value tier, lifecycle stage and behavioural segment (null fields unless "
        "status is ok).",
    )


class ChurnScoreRequest(BaseModel):
    """The body of ``/churn_score``; like every request body, unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")

    customer_ids: CustomerIds


class ChurnScoreResponse(BaseModel):
    scores: list[CustomerScore] = Field(description="One answer per id, in the order asked.")


class Profile(BaseModel):
    region: str | None = Field(default=None, examples=["capital"])
    city_tier: int | None = Field(default=None, description="1 = largest cities.", examples=[1])
    income_band: int | None = Field(default=None, description="1 (lowest) .. 5.", examples=[4])
    occupation: str | None = Field(default=None, examples=["civil_servant"])
    age: int | None = Field(default=None, examples=[44])
    tenure_months: int | None = Field(default=None, examples=[52])
    preferred_channel: str | None = Field(default=None, examples=["mobile"])
    marketing_consent: bool | None = Field(default=None, examples=[True])
    risk_tolerance: int | None = Field(default=None, description="R1..R5 as 1..5.", examples=[3])
    digital_adoption: float | None = Field(default=None, examples=[0.63])


class Behaviour(BaseModel):
    """The latest month's behaviour; null when unknown."""

    bal_total_chg_3m: float | None = Field(default=None, examples=[-0.12])
    inflow: float | None = Field(default=None, examples=[3100.0])
    outflow: float | None = Field(default=None, examples=[2900.0])
    salary_amount: float | None = Field(default=None, examples=[2800.0])
    months_since_salary: float | None = Field(default=None, examples=[0.0])
    card_spend: float | None = Field(default=None, examples=[640.0])
    tx_total: int | None = Field(default=None, examples=[24])
    tx_total_chg_3m: float | None = Field(default=None, examples=[-0.2])
    digital_share: float | None = Field(default=None, examples=[0.7])
    app_logins: int | None = Field(default=None, examples=[9])
    days_since_login_now: float | None = Field(default=None, examples=[2.5])
    complaints_open: int | None = Field(default=None, examples=[0])
    complaints_3m: int | None = Field(default=None, examples=[1])
    tickets_open: int | None = Field(default=None, examples=[0])
    satisfaction_last: float | None = Field(default=None, examples=[7.5])
    fees_charged: float | None = Field(default=None, examples=[12.0])
    rate_gap: float | None = Field(default=None, examples=[0.5])
    contacts_6m: int | None = Field(default=None, examples=[2])
    offers_accepted_6m: int | None = Field(default=None, examples=[0])
    offers_declined_6m: int | None = Field(default=None, examples=[1])
    life_event: str | None = Field(default=None, examples=[None])


class CustomerView(BaseModel):
    customer_id: int | str = Field(description="The bank's customer id.", examples=[1102171806643])
    status: Status = Field(description="As in /churn_score (never not_found: that is a 404).")
    profile: Profile
    segments: Segments = Field(
        description="Value tier, lifecycle stage and behavioural segment, as /churn_score and "
        "the at-risk list give them (null fields without a current snapshot)."
    )
    total_balance: float | None = Field(
        default=None,
        description="Current + savings + time deposits + wealth at the latest snapshot.",
        examples=[48210.5],
    )
    products: list[str] = Field(
        description="Products held at the latest snapshot.", examples=[["current_account"]]
    )
    behaviour: Behaviour
    churn: CustomerScore = Field(description="Churn risk with reasons, as /churn_score gives it.")


class ErrorBody(BaseModel):
    """Every 4xx and 503 answer of the service."""

    error: str = Field(description="What is wrong and what to do.")
    field: str | None = Field(
        default=None,
        description="The request field at fault, dotted (context.at), when one is.",
        examples=["context.at"],
    )


# --- next best action -------------------------------------------------------------------------

Channel = Literal["branch", "mobile", "phone", "sms_email"]
Outcome = Literal["accepted", "declined", "ignored"]
MAX_ACTIONS = 10
"""Most actions one ``/recommend`` call may ask for."""
PLACEMENT = r"^[A-Za-z0-9_.:-]{1,64}$"
"""A placement is an identifier, never free text: it is logged and echoed back."""


class DecisionContext(BaseModel):
    model_config = ConfigDict(extra="forbid")

    placement: str = Field(
        default="default",
        pattern=PLACEMENT,
        description="Where the actions will be shown, as an identifier: 1 to 64 letters, digits "
        "and _ . : - (a banner, an adviser's screen, ...).",
        examples=["app_home_banner"],
    )
    weight: float = Field(
        default=1.0,
        ge=0,
        le=10,
        allow_inf_nan=False,
        description="What an accepted offer is worth in this placement, relative to a "
        "conversation with an adviser (1.0).",
        examples=[0.6],
    )
    at: datetime | None = Field(
        default=None,
        description="Decision time, timezone-aware (default: now), within the service's "
        "window (by default 400 days back to 1 day ahead); answered and logged in UTC. Contact "
        "limits and cooldowns count back from it.",
        examples=[None],
    )


class RecommendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: CustomerId
    channel: Channel = Field(description="The channel the actions go out on.", examples=["mobile"])
    k: int = Field(
        default=3,
        strict=True,
        ge=1,
        le=MAX_ACTIONS,
        description=f"Most actions to return, 1 to {MAX_ACTIONS}.",
        examples=[3],
    )
    context: DecisionContext = Field(default_factory=DecisionContext)


class RecommendedAction(BaseModel):
    rank: int = Field(description="1 is the best.", examples=[1])
    action_id: str = Field(description="Catalogue id.", examples=["xsell_credit_card"])
    kind: Literal["cross_sell", "retention", "service", "none"] = Field(examples=["cross_sell"])
    description: str = Field(examples=["Take a credit card"])
    channel: str = Field(examples=["mobile"])
    expected_value: float = Field(
        description="Expected value of the action for the bank, net of its cost.", examples=[21.4]
    )
    propensity: float | None = Field(
        default=None,
        description="For a cross-sell, P(the customer accepts the offer if it is made), learned "
        "from the campaign log's answered offers (P(opening the product within 90 days) where "
        "the log had too few); null otherwise.",
        examples=[0.18],
    )
    reasons: list[ReasonOut] = Field(
        default_factory=list,
        description="Why: for a cross-sell, what drives the product's propensity; for a "
        "retention action, what drives the churn risk.",
    )


class TraceItem(BaseModel):
    action_id: str = Field(examples=["xsell_mortgage"])
    status: Literal["selected", "outranked", "not_worth", "removed"] = Field(examples=["removed"])
    rule: str | None = Field(
        default=None, description="The rule that removed the action.", examples=["eligibility"]
    )
    detail: str = Field(examples=["age >= 25 fails: age is 22"])
    expected_value: float | None = Field(default=None, examples=[None])


class RecommendResponse(BaseModel):
    decision_id: str = Field(
        description="Quote it in /feedback.", examples=["4f1c2a9e0b7d4c33a1e5f6d7c8b9a0e1"]
    )
    customer_id: int | str = Field(description="The bank's customer id.", examples=[1102171806643])
    channel: str = Field(examples=["mobile"])
    placement: str = Field(examples=["default"])
    at: datetime = Field(description="Decision time (UTC).")
    actions: list[RecommendedAction] = Field(
        description="Best first; no_action alone when nothing is worth more than doing nothing."
    )
    churn_probability: float = Field(examples=[0.031])
    segments: Segments = Field(
        default_factory=Segments,
        description="Value tier, lifecycle stage and behavioural segment, as /churn_score gives "
        "them.",
    )
    customer_value: float = Field(
        description="What keeping the customer is worth: the catalogue value of the products held.",
        examples=[760.0],
    )
    trace: list[TraceItem] = Field(description="What happened to every catalogue action.")
    models: dict[str, str] = Field(
        description="Registered model -> version used.",
        examples=[{"retain-churn": "3", "retain-propensity": "1", "retain-uplift": "1"}],
    )
    catalogue_version: str = Field(examples=["2025.1"])


class RecommendBatchRequest(BaseModel):
    """The body of ``/recommend/batch``: one channel, placement and time for a whole audience."""

    model_config = ConfigDict(extra="forbid")

    customer_ids: list[CustomerId] = Field(
        min_length=1,
        description="The audience: 1 to ``max_audience`` (serving.toml, default 1,000) bank "
        "ids, each at most once; more is answered 413. Each is answered in its own item.",
        examples=[[1101709635517, 1102171806643]],
    )
    channel: Channel = Field(description="The channel the actions go out on.", examples=["mobile"])
    k: int = Field(
        default=3,
        strict=True,
        ge=1,
        le=MAX_ACTIONS,
        description=f"Most actions per customer, 1 to {MAX_ACTIONS}.",
        examples=[3],
    )
    context: DecisionContext = Field(
        default_factory=DecisionContext,
        description="Placement, its weight and the decision time, the same for every customer.",
    )


BatchStatus = Literal["ok", "not_found", "inactive"]


class BatchDecision(BaseModel):
    customer_id: int | str = Field(
        description="The customer asked for, as the bank writes its id.", examples=[1102171806643]
    )
    status: BatchStatus = Field(
        description="ok: decided and logged; not_found: no such customer in the feature store "
        "(what /recommend answers 404); inactive: the customer left the bank (/recommend's 422).",
        examples=["ok"],
    )
    message: str | None = Field(
        default=None, description="Why there is no decision, when status is not ok."
    )
    recommendation: RecommendResponse | None = Field(
        default=None,
        description="What /recommend answers for this customer alone, with its own decision_id.",
    )


class RecommendBatchResponse(BaseModel):
    decisions: list[BatchDecision] = Field(description="One item per id, in the order asked.")
    decided: int = Field(description="Customers decided (and logged).", examples=[998])
    not_found: int = Field(description="Ids with no customer in the feature store.", examples=[1])
    inactive: int = Field(description="Customers who left the bank.", examples=[1])


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision_id: str = Field(
        min_length=1, max_length=64, examples=["4f1c2a9e0b7d4c33a1e5f6d7c8b9a0e1"]
    )
    action_id: str = Field(min_length=1, max_length=64, examples=["xsell_credit_card"])
    outcome: Outcome = Field(examples=["declined"])
    at: datetime | None = Field(
        default=None, description="When the customer answered (default: now).", examples=[None]
    )


class FeedbackResponse(BaseModel):
    decision_id: str
    action_id: str
    outcome: Outcome
    at: datetime
    duplicate: bool = Field(
        description="Feedback on this action had arrived before; the first answer is kept."
    )


REQUEST_MODELS: dict[str, type[BaseModel]] = {
    "/churn_score": ChurnScoreRequest,
    "/recommend": RecommendRequest,
    "/recommend/batch": RecommendBatchRequest,
    "/feedback": FeedbackRequest,
}
"""Each POST endpoint's body, as validated: what the OpenAPI spec declares."""
