"""The BentoML service: ``POST /churn_score``, ``GET /customers/{customer_id}``,
``POST /recommend``, ``POST /recommend/batch``, ``POST /feedback``, ``GET /at_risk/``,
``GET /models/`` and ``POST /models/refresh`` (MLflow's webhook).

Run it with ``retain serve`` or ``bentoml serve serving.service:ChurnService``. At start-up it
reads ``Settings.load()`` and ``serving.toml`` once, opens the Feast store, loads
``models:/retain-churn@champion`` as a native LightGBM booster and builds the explainer. If one of
them fails the service still starts, ``/readyz`` answers 503 and every call says why (retried
every ``RETRY_S`` seconds, so a later ``retain promote`` is picked up without a restart). The next
best action also needs the propensity and uplift champions and the decision log; until they load,
``/recommend`` and ``/feedback`` answer 503 with the reason while churn scores are served.
``/livez`` stays shallow; ``/metrics`` has BentoML's request metrics plus ``retain_*``.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, MutableMapping
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import anyio
import bentoml
import sqlalchemy as sa
from fastapi import FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import Field

from retain.core.errors import DataError, OnlineStoreError, RetainError
from retain.core.ids import MAX_ID_CHARS
from retain.core.settings import Settings
from serving.at_risk import MAX_LIMIT, AtRiskResponse, Filters, answer, at_risk_app
from serving.auth import ApiKeys, key_ring
from serving.champions import model_states, needs_swap, registered_versions
from serving.config import ServingConfig
from serving.customer import customer_score, customer_view
from serving.decision_log import AuditEntry, DecisionLog, UnknownDecisionError
from serving.drain import draining
from serving.errors import (
    CustomerNotFoundError,
    DecisionNotFoundError,
    InvalidRequestError,
    PayloadTooLargeError,
    ServingError,
    UnavailableError,
)
from serving.middleware import RequestHygiene, public_message
from serving.nba import Recommender, load_recommender
from serving.schemas import (
    MAX_ACTIONS,
    Channel,
    ChurnScoreRequest,
    ChurnScoreResponse,
    CustomerId,
    CustomerIds,
    CustomerScore,
    CustomerView,
    DecisionContext,
    ErrorBody,
    FeedbackRequest,
    FeedbackResponse,
    Outcome,
    RecommendBatchRequest,
    RecommendBatchResponse,
    RecommendRequest,
    RecommendResponse,
)
from serving.scoring import Scorer, load_scorer
from serving.webhooks import (
    MAX_BODY_BYTES,
    SECRET_ENV,
    WebhookRefused,
    announce_change,
    change_stamp,
    concerns,
    verify,
    webhook_secret,
)
from training.config import MODEL_NAMES
from training.tracking import namespaced

logger = logging.getLogger(__name__)

RETRY_S = 15.0
"""Seconds between attempts to load what failed at start-up."""
WAKE_S = 0.25
"""How often the champions watcher looks at the changes file a webhook writes."""
_WEBHOOK_ERRORS = {  # POST /models/refresh
    400: "The body is not a JSON object.",
    401: "Not signed with the shared secret, or signed too long ago.",
    403: "Webhooks are off (RETAIN_WEBHOOK_SECRET is not set).",
    413: "The body is larger than a webhook's.",
    503: "Not ready, or the registry is unreachable: MLflow retries.",
}

customers_app = FastAPI(
    title="retain customer view",
    description="One view of a customer for a relationship manager.",
)
models_app = FastAPI(title="retain served models")

scored_customers = bentoml.metrics.Counter(
    name="retain_scored_customers",
    documentation="Customers answered by /churn_score and /customers, by status",
    labelnames=["status"],
)
score_seconds = bentoml.metrics.Histogram(
    name="retain_score_seconds",
    documentation="Time to read features, score and explain one request's batch",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
churn_probabilities = bentoml.metrics.Histogram(
    name="retain_churn_probability",
    documentation="Calibrated churn probabilities served by /churn_score and /customers",
    buckets=(0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0),
)
feature_age = bentoml.metrics.Histogram(
    name="retain_feature_age_days",
    documentation="Days from the served customer's feature snapshot to now",
    buckets=(1, 7, 14, 31, 45, 62, 93, 186, 365),
)
served_model = bentoml.metrics.Gauge(
    name="retain_served_model",
    documentation="1 for each registered model version this service answers with",
    labelnames=["model", "version"],
    multiprocess_mode="max",
)
model_current = bentoml.metrics.Gauge(
    name="retain_model_current",
    documentation="1 when every worker serves the version the model's alias points at, else 0",
    labelnames=["model"],
    multiprocess_mode="min",
)

T = TypeVar("T")

REQUEST = bentoml.Context()
"""Reads the request being answered (a context variable BentoML sets for every HTTP request; a
``ctx`` parameter instead would make BentoML overwrite the status of the error answers)."""


def _error(e: ServingError) -> JSONResponse:
    status = int(e.error_code)
    message = public_message(str(e)) if status >= 500 else str(e)
    return JSONResponse({"error": message, "field": e.field}, status_code=status)


@customers_app.exception_handler(RequestValidationError)
async def _invalid_customer_request(_: Request, e: RequestValidationError) -> JSONResponse:
    """A malformed id in the URL: 400 like the POST endpoints, not FastAPI's 422."""
    error = e.errors()[0] if e.errors() else {}
    field = ".".join(str(p) for p in error.get("loc", ()) if p != "path") or None
    message = f"{field}: {error.get('msg', 'invalid')}" if field else "invalid request"
    return JSONResponse({"error": message, "field": field}, status_code=400)


def _body_limit() -> int:
    """``max_body_bytes`` of the serving settings (their default when they cannot be read: the
    service then answers 503 anyway)."""
    try:
        return ServingConfig.load(Settings.load()).max_body_bytes
    except RetainError:
        return ServingConfig().max_body_bytes


INLINE_BATCH = 16
"""Batches up to this size are scored on the event loop (a few ms, no thread hop); larger ones in
a worker thread, so health checks and small calls are not held up behind them."""


@bentoml.service(
    name="retain",
    workers="cpu_count",  # scoring is CPU-bound: one worker process per core
    traffic={"timeout": 30},
    http={"cors": {"enabled": False}},
)
@bentoml.asgi_app(customers_app, path="/customers")
@bentoml.asgi_app(models_app, path="/models")
@bentoml.asgi_app(at_risk_app, path="/at_risk")
class ChurnService:
    """Churn scores with reasons, and a customer view, from the champion model."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scorer: Scorer | None = None
        self._problem = "starting"
        self._recommender: Recommender | None = None
        self._nba_problem = "starting"
        self._tried = 0.0
        self.settings: Settings | None = None
        self.config = ServingConfig()
        self._registered: dict[str, str | None] = {}
        self._checked_at: datetime | None = None
        self._audit_log: DecisionLog | None = None
        self._limiter: anyio.CapacityLimiter | None = None
        self._refreshing = threading.Lock()  # one check of the champions at a time
        self._load()
        watcher = threading.Thread(target=self._watch, name="retain-champions", daemon=True)
        watcher.start()

    def _load(self) -> None:
        self._tried = time.monotonic()
        try:
            self.settings = Settings.load()
            self.config = ServingConfig.load(self.settings)
            self._audit_log = self._audit_log or DecisionLog.open(self.settings)
            self._scorer = load_scorer(self.settings, self.config)
        except (RetainError, ServingError) as e:
            self._problem = str(e)
            logger.error("retain service not ready: %s", e)
        except Exception as e:  # anything else: stay up, not ready, and say why (no crash loop)
            self._problem = f"start-up failed ({type(e).__name__}: {str(e)[:300]})"
            logger.exception("retain service not ready")
        else:
            self._problem = ""
            logger.info(
                "retain service ready: %s v%s", self._scorer.model_name, self._scorer.model_version
            )
            served_model.labels(self._scorer.model_name, self._scorer.model_version).set(1)
            self._load_recommender()
        # What was loaded lives as long as the worker: keep it out of the collector's sweeps,
        # which would otherwise pause a request now and then to walk it.
        gc.freeze()

    def _load_recommender(self) -> None:
        assert self.settings is not None and self._scorer is not None
        try:
            self._recommender = load_recommender(self.settings, self._scorer)
        except (RetainError, ServingError) as e:
            self._nba_problem = str(e)
            logger.warning("next best action not ready: %s", e)
        except Exception as e:
            self._nba_problem = f"loading failed ({type(e).__name__}: {str(e)[:300]})"
            logger.exception("next best action not ready")
        else:
            self._nba_problem = ""
            for name, version in self._recommender.models.items():
                served_model.labels(name, version).set(1)

    def _watch(self) -> None:
        """Check the registry every ``model_poll_s`` seconds for the life of the worker, and at
        once when a webhook reached any worker of this server (the changes file changed)."""
        checked, seen = time.monotonic(), change_stamp()
        while True:
            time.sleep(WAKE_S)
            stamp, poll = change_stamp(), self.config.model_poll_s
            due = bool(poll) and time.monotonic() - checked >= poll
            if self._scorer is None or not (due or stamp != seen):
                continue
            checked, seen = time.monotonic(), stamp
            try:
                self._refresh()
            except Exception:  # the registry unreachable: keep serving, say so, retry
                logger.warning("cannot check the champions", exc_info=True)

    def _refresh(self) -> bool:
        with self._refreshing:
            return self.refresh_models()

    def served_versions(self) -> dict[str, str]:
        served = {self._scorer.model_name: self._scorer.model_version} if self._scorer else {}
        return {**served, **(self._recommender.models if self._recommender else {})}

    def refresh_models(self) -> bool:
        """Load the champions the registry points at now when they differ from the served
        ones, beside them, and swap them in at once; returns whether it swapped.

        Requests in flight finish on the models they started with; a new champion that fails
        to load leaves the served ones in place (reported as not current) until the next check.
        """
        assert self.settings is not None
        registered = registered_versions(self.settings, self.config)
        self._registered, self._checked_at = registered, datetime.now(UTC)
        before = self.served_versions()
        self._report_current(registered)
        if needs_swap(model_states(before, registered)):
            scorer = load_scorer(self.settings, self.config)
            try:
                recommender: Recommender | None = load_recommender(self.settings, scorer)
                problem = ""
            except (RetainError, ServingError) as e:
                if self._recommender is not None:  # keep the whole served set rather than lose it
                    raise
                recommender, problem = None, str(e)
            with self._lock:  # one assignment each: a request sees the old pair or the new one
                self._recommender, self._nba_problem = recommender, problem
                self._scorer = scorer
            after = self.served_versions()
            for name, version in before.items():
                if after.get(name) != version:
                    served_model.labels(name, version).set(0)
            for name, version in after.items():
                served_model.labels(name, version).set(1)
            logger.warning("champions swapped in without a restart: %s -> %s", before, after)
            self._report_current(registered)
        return self.served_versions() != before

    def _report_current(self, registered: dict[str, str | None]) -> None:
        for state in model_states(self.served_versions(), registered):
            model_current.labels(state.name).set(1 if state.current else 0)

    @models_app.get("/")
    def models(self) -> dict[str, Any]:
        """The versions this worker answers with, against the registry's aliases at the last
        check (every ``model_poll_s`` seconds)."""
        states = model_states(self.served_versions(), self._registered)
        return {
            "models": [
                {**vars(s), "current": s.current if self._checked_at else None} for s in states
            ],
            "checked_at": self._checked_at.isoformat() if self._checked_at else None,
            "poll_s": self.config.model_poll_s,
        }

    @models_app.post(
        "/refresh",
        responses={
            status: {"model": ErrorBody, "description": description}
            for status, description in _WEBHOOK_ERRORS.items()
        },
    )
    async def refresh(self, request: Request) -> Any:
        """An MLflow registry webhook (``retain webhook``): when an alias of a served model
        moved, check the champions now, in every worker of this server, instead of at the next
        poll. The delivery must be signed with the secret in ``RETAIN_WEBHOOK_SECRET``."""
        secret = webhook_secret()
        if secret is None:
            return _refused(403, f"webhooks are off on this service: set {SECRET_ENV}")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return _refused(413, f"the body is larger than {MAX_BODY_BYTES:,} bytes")
        try:
            payload = verify(secret, request.headers, body, time.time())
        except WebhookRefused as e:
            logger.warning("webhook refused: %s", e)
            return _refused(e.status, str(e))
        if self.settings is None or self._scorer is None:
            return _refused(503, "the service is not ready; the delivery is retried")
        served = (self.config.model_name, *MODEL_NAMES.values())
        names = {namespaced(self.settings, n) for n in served}
        refreshed = concerns(payload, names)
        swapped = False
        if refreshed:
            announce_change()  # the other workers check too
            try:
                swapped = await anyio.to_thread.run_sync(self._refresh)
            except Exception as e:  # the registry unreachable: MLflow retries a 503
                logger.warning("cannot check the champions: %s", type(e).__name__)
                return _refused(503, "cannot check the champions now; retry later")
        return {"refreshed": refreshed, "swapped": swapped, "served": self.served_versions()}

    def scorer(self) -> Scorer:
        """The loaded scorer.

        Raises:
            UnavailableError: start-up has not succeeded (retried every ``RETRY_S`` seconds).
        """
        if self._scorer is None:
            with self._lock:
                if self._scorer is None and time.monotonic() - self._tried > RETRY_S:
                    self._load()
        if self._scorer is None:
            raise UnavailableError(f"the service is not ready: {self._problem}")
        return self._scorer

    def recommender(self) -> Recommender:
        """The loaded next-best-action models and decision log.

        Raises:
            UnavailableError: they have not loaded (retried every ``RETRY_S`` seconds).
        """
        self.scorer()
        if self._recommender is None:
            with self._lock:
                if self._recommender is None and time.monotonic() - self._tried > RETRY_S:
                    self._tried = time.monotonic()
                    self._load_recommender()
        recommender = self._recommender  # read once: it carries the scorer it was built with
        if recommender is None:
            raise UnavailableError(f"next best action is not ready: {self._nba_problem}")
        return recommender

    def __is_ready__(self) -> bool:
        """Ready when the model, the explainer and the feature store are, and the store answers;
        not ready once told to stop (``retain serve`` drains: requests are still answered)."""
        if draining():
            return False
        try:
            self.scorer().online.read([0])
        except (ServingError, OnlineStoreError):
            return False
        return True

    def _guard(self, work: Callable[[], T]) -> T | JSONResponse:
        try:
            return work()
        except ServingError as e:
            if isinstance(e, UnavailableError):
                logger.warning("answered 503: %s", e)
            return _error(e)
        except OnlineStoreError as e:  # Redis down or slow: 503 at once, the caller may retry
            logger.warning("answered 503: %s", e)
            return _error(UnavailableError(str(e)))
        except DataError as e:  # a decision input out of range
            return _error(InvalidRequestError(str(e)))
        except sa.exc.SQLAlchemyError as e:  # the decision and audit log's database is down
            logger.warning("answered 503: the decision log: %s", type(e).__name__)
            return _error(UnavailableError("the decision log cannot be written; retry later"))

    async def _in_thread(self, work: Callable[[], T]) -> T | JSONResponse:
        """Run CPU-bound ``work`` guarded, off the event loop, one at a time in this worker
        (database round trips alone, such as the audit insert, go to the thread pool as they are).

        The work holds the GIL: threads of one worker would share one core and
        hand the GIL back and forth (a thread back from a database or Redis round trip waits up
        to a switch interval for it), so every request in the queue would finish late. One at a
        time, they finish in arrival order, each after its own service time.
        """
        if self._limiter is None:  # made in the event loop, where anyio can make it
            self._limiter = anyio.CapacityLimiter(1)
        return await anyio.to_thread.run_sync(self._guard, work, limiter=self._limiter)

    @property
    def _local(self) -> bool:
        """Every store a request touches is a file on this host (the embedded profile)."""
        return self._audit_log is not None and self._audit_log.local

    async def _answer(self, work: Callable[[], T], cpu_bound: bool = True) -> T | JSONResponse:
        """Run a request's ``work`` guarded: here, on the event loop, when every store it
        touches is a local file (SQLite: a read or a commit takes a fraction of a millisecond),
        else in a thread (``_in_thread`` when ``cpu_bound``), so that a slow or unreachable
        Redis or PostgreSQL holds up only the requests that use it.

        Handing work to a thread and back costs two wake-ups and two GIL hand-offs: on two
        busy cores, a fifth of a decision's CPU and a third of a churn score's latency. On the
        event loop, decisions are one at a time in this worker, as with the limiter.
        """
        if self._local:
            return self._guard(work)
        if cpu_bound:
            return await self._in_thread(work)
        return await anyio.to_thread.run_sync(self._guard, work)

    def _audit(self, entry: AuditEntry) -> None:
        """Record who asked what (one insert); the answer goes out only once it is recorded."""
        assert self._audit_log is not None  # opened before the scorer loads
        self._audit_log.audit(entry)

    def _audit_scores(
        self, endpoint: str, api_key: str | None, scorer: Scorer, asked: Any, scored: Any
    ) -> None:
        self._audit(
            AuditEntry(
                endpoint,
                api_key,
                [scorer.ids.key_of(i) for i in asked],
                {scorer.model_name: scorer.model_version},
                [s.feature_timestamp for s in scored],
            )
        )

    @bentoml.api(route="/churn_score", input_spec=ChurnScoreRequest)
    async def churn_score(self, customer_ids: CustomerIds) -> ChurnScoreResponse:
        """Churn probability, risk band, top reasons and feature freshness of up to 1,000
        customers. An unknown customer, or one who left the bank, is answered in its own item."""

        api_key = _api_key()
        audited: list[Callable[[], None]] = []

        def work() -> ChurnScoreResponse:
            scorer = self.scorer()
            started = time.perf_counter()
            scored = scorer.score(customer_ids)
            audited.append(
                lambda: self._audit_scores("churn_score", api_key, scorer, customer_ids, scored)
            )
            response = ChurnScoreResponse(
                scores=[customer_score(s, scorer.model_name, scorer.model_version) for s in scored]
            )
            score_seconds.observe(time.perf_counter() - started)
            for s in response.scores:
                _observe(s)
            return response

        if len(customer_ids) <= INLINE_BATCH:
            answer = self._guard(work)
        else:
            answer = await self._in_thread(work)
        if audited:  # answered with data: recorded first
            failed = await self._answer(audited[0], cpu_bound=False)
            if failed is not None:
                return failed  # type: ignore[return-value]
        return answer  # type: ignore[return-value]

    @at_risk_app.get(
        "/",
        response_model=AtRiskResponse,
        responses={400: {"description": "Bad filter"}, 503: {"description": "No scores yet"}},
    )
    def at_risk(
        self,
        segment: Annotated[
            list[str] | None, Query(description="Lifecycle stage(s) or behavioural segment(s).")
        ] = None,
        branch: Annotated[list[str] | None, Query(description="Home branch(es).")] = None,
        value_tier: Annotated[list[str] | None, Query(description="Value tier(s).")] = None,
        min_value: Annotated[
            float | None, Query(ge=0, description="Lowest customer value.")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")] = 50,
        offset: Annotated[int, Query(ge=0, description="Items to skip.")] = 0,
    ) -> Any:
        """The latest at-risk list (``retain score``), filtered, sorted by expected saved value
        (else value at stake), with the reasons of the customers on the page."""
        filters = Filters(
            tuple(segment or ()), tuple(branch or ()), tuple(value_tier or ()), min_value
        )

        def work() -> AtRiskResponse:
            scorer = self.scorer()
            assert self.settings is not None
            return answer(self.settings, scorer, filters, limit, offset)

        return self._guard(work)

    @customers_app.get(
        "/{customer_id}",
        response_model=CustomerView,
        responses={404: {"description": "No such customer"}, 503: {"description": "Not ready"}},
    )
    def customer(
        self,
        request: Request,
        customer_id: Annotated[
            str,
            PathParam(
                min_length=1,
                max_length=MAX_ID_CHARS,
                description="The bank's customer id (a whole number, or text where the bank's "
                "ids are strings).",
            ),
        ],
    ) -> Any:
        """Profile, ``segments`` (value tier, lifecycle stage, behavioural segment and their
        version, read from the ``customer_segments`` view), total balance, products held, recent
        behaviour and churn risk with reasons."""

        def work() -> CustomerView:
            scorer = self.scorer()
            key = scorer.ids.key_of(customer_id)
            if key is None:  # text where the ids are whole numbers: no such customer
                scored_customers.labels(status="not_found").inc()
                raise CustomerNotFoundError(f"no customer {customer_id} in the feature store")
            rows = scorer.online.read([key], scorer.config.request_time)
            scored = scorer.score_rows(rows, [customer_id])[0]
            if scored.status == "not_found":
                scored_customers.labels(status=scored.status).inc()
                raise CustomerNotFoundError(scored.message or "not found")
            api_key = _key_name(request.scope)
            self._audit_scores("customers", api_key, scorer, [customer_id], [scored])
            values = rows.row(0, list(rows.columns))
            view = customer_view(
                scored, values, scorer.config, scorer.model_name, scorer.model_version
            )
            _observe(view.churn)
            return view

        return self._guard(work)

    @bentoml.api(route="/recommend", input_spec=RecommendRequest)
    async def recommend(
        self,
        customer_id: CustomerId,
        channel: Annotated[Channel, Field(description="The channel the actions go out on.")],
        k: Annotated[
            int, Field(strict=True, ge=1, le=MAX_ACTIONS, description="Most actions to return.")
        ] = 3,
        context: Annotated[
            DecisionContext | None, Field(description="Placement, its weight and the time.")
        ] = None,
    ) -> RecommendResponse:
        """The next best actions of one customer on one channel: ranked by expected value, with
        reasons, the trace of every catalogue action, the model versions and a ``decision_id``
        to quote in ``/feedback``. The decision is logged before the answer is sent."""
        request = RecommendRequest(
            customer_id=customer_id, channel=channel, k=k, context=context or DecisionContext()
        )

        api_key = _api_key()

        def work() -> Response:
            _, text = self.recommender().decide(request, api_key)  # serialized once, as logged
            return Response(content=text, media_type="application/json")

        return await self._answer(work)  # type: ignore[return-value,arg-type]

    @bentoml.api(route="/recommend/batch", input_spec=RecommendBatchRequest)
    async def recommend_batch(
        self,
        customer_ids: Annotated[list[CustomerId], Field(min_length=1)],
        channel: Annotated[Channel, Field(description="The channel the actions go out on.")],
        k: Annotated[
            int, Field(strict=True, ge=1, le=MAX_ACTIONS, description="Most actions to return.")
        ] = 3,
        context: Annotated[
            DecisionContext | None, Field(description="Placement, its weight and the time.")
        ] = None,
    ) -> RecommendBatchResponse:
        """The next best actions of a campaign audience, up to ``max_audience`` customers
        (serving.toml, default 1,000; more is 413): each customer decided, explained and logged
        as ``/recommend`` would alone, at one decision time, in one batch. An unknown or departed
        customer is answered in its own item (``not_found``, ``inactive``), not as an error."""
        request = RecommendBatchRequest(
            customer_ids=customer_ids, channel=channel, k=k, context=context or DecisionContext()
        )
        api_key = _api_key()

        def work() -> Response:
            limit = self.config.max_audience
            if len(customer_ids) > limit:
                raise PayloadTooLargeError(
                    f"customer_ids: {len(customer_ids):,} customers, at most {limit:,} per request "
                    "(max_audience in serving.toml): split the audience",
                    "customer_ids",
                )
            recommender = self.recommender()
            items = [i for part in recommender.decide_many(request, api_key) for i in part]
            counts = {s: sum(i.status == s for i in items) for s in ("ok", "not_found", "inactive")}
            answer = RecommendBatchResponse(
                decisions=items,
                decided=counts["ok"],
                not_found=counts["not_found"],
                inactive=counts["inactive"],
            )
            return Response(content=answer.model_dump_json(), media_type="application/json")

        # Not behind the decisions' limiter: a batch takes seconds, and single calls must not
        # queue behind it.
        return await anyio.to_thread.run_sync(self._guard, work)  # type: ignore[return-value,arg-type]

    @bentoml.api(route="/feedback", input_spec=FeedbackRequest)
    async def feedback(
        self,
        decision_id: Annotated[str, Field(min_length=1, max_length=64)],
        action_id: Annotated[str, Field(min_length=1, max_length=64)],
        outcome: Outcome,
        at: Annotated[
            datetime | None, Field(description="When the customer answered (default: now).")
        ] = None,
    ) -> FeedbackResponse:
        """The customer's answer to an action of a decision: accepted, declined or ignored. It
        counts at once (a decline starts the action's cooldown); a repeat is harmless."""

        api_key = _api_key()

        def work() -> FeedbackResponse:
            log = self.recommender().log
            when = self.config.decision_time(at, datetime.now(UTC), "at")
            try:
                stored = log.record_feedback(decision_id, action_id, outcome, when)
            except UnknownDecisionError as e:
                raise DecisionNotFoundError(str(e)) from e
            self._audit(
                AuditEntry(
                    "feedback",
                    api_key,
                    [stored.customer_id],
                    decision_id=decision_id,
                    inputs={"action_id": action_id, "outcome": outcome, "at": when.isoformat()},
                )
            )
            return FeedbackResponse(
                decision_id=stored.decision_id,
                action_id=stored.action_id,
                outcome=stored.outcome,  # type: ignore[arg-type]
                at=stored.at,
                duplicate=stored.duplicate,
            )

        return await anyio.to_thread.run_sync(self._guard, work)  # type: ignore[return-value,arg-type]


def _refused(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "field": None}, status_code=status)


def _key_name(scope: MutableMapping[str, Any]) -> str | None:
    """The name of the request's API key (None while the project has no keys)."""
    return (scope.get("state") or {}).get("api_key")


def _api_key() -> str | None:
    """The API key's name of the request being answered (None outside a server)."""
    try:
        return _key_name(REQUEST.request.scope)
    except LookupError:  # called outside a request (the class on its own)
        return None


def _observe(score: CustomerScore) -> None:
    """Count a served score; an ok one also goes into the score and feature age histograms."""
    scored_customers.labels(status=score.status).inc()
    if score.churn_probability is not None:
        churn_probabilities.observe(score.churn_probability)
    if score.feature_age_days is not None:
        feature_age.observe(score.feature_age_days)


# The first added is the outermost: a request without a valid key is refused before anything else.
ChurnService.add_asgi_middleware(ApiKeys, ring=key_ring)  # type: ignore[attr-defined]
ChurnService.add_asgi_middleware(RequestHygiene, max_body_bytes=_body_limit)  # type: ignore[attr-defined]
