"""The BentoML service: ``POST /churn_score``, ``GET /customers/{customer_id}``, ``POST /recommend``
and ``POST /feedback``.

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
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import anyio
import bentoml
from fastapi import FastAPI
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, Response
from pydantic import Field

from retain.core.errors import DataError, OnlineStoreError, RetainError
from retain.core.settings import Settings
from serving.config import ServingConfig
from serving.customer import customer_score, customer_view
from serving.decision_log import UnknownDecisionError
from serving.errors import (
    CustomerNotFoundError,
    DecisionNotFoundError,
    InvalidRequestError,
    ServingError,
    UnavailableError,
)
from serving.nba import Recommender, load_recommender
from serving.schemas import (
    MAX_ACTIONS,
    Channel,
    ChurnScoreResponse,
    CustomerId,
    CustomerIds,
    CustomerView,
    DecisionContext,
    FeedbackResponse,
    Outcome,
    RecommendRequest,
    RecommendResponse,
)
from serving.scoring import Scorer, load_scorer

logger = logging.getLogger(__name__)

RETRY_S = 15.0
"""Seconds between attempts to load what failed at start-up."""

customers_app = FastAPI(
    title="retain customer view",
    description="One view of a customer for a relationship manager.",
)

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

T = TypeVar("T")


def _error(e: ServingError) -> JSONResponse:
    return JSONResponse({"error": str(e)}, status_code=int(e.error_code))


class JsonBodiesOnly:
    """ASGI middleware: a POST to an API must be JSON. BentoML would parse other media types
    (multipart, form) itself and answer a malformed one with a 500."""

    def __init__(
        self, app: Any, paths: tuple[str, ...] = ("/churn_score", "/recommend", "/feedback")
    ) -> None:
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in self.paths:
            headers = dict(scope.get("headers") or [])
            media = headers.get(b"content-type", b"application/json").split(b";")[0].strip()
            if media.lower() != b"application/json":
                shown = media.decode("latin-1")[:100]
                message = f"send a JSON body with Content-Type: application/json, not {shown!r}"
                response = JSONResponse({"error": message}, status_code=415)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


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
        self._load()

    def _load(self) -> None:
        self._tried = time.monotonic()
        try:
            self.settings = Settings.load()
            self.config = ServingConfig.load(self.settings)
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
        scorer = self.scorer()
        if self._recommender is None:
            with self._lock:
                if self._recommender is None and time.monotonic() - self._tried > RETRY_S:
                    self._tried = time.monotonic()
                    self._load_recommender()
        if self._recommender is None or self._recommender.scorer is not scorer:
            raise UnavailableError(f"next best action is not ready: {self._nba_problem}")
        return self._recommender

    def __is_ready__(self) -> bool:
        """Ready when the model, the explainer and the feature store are, and the store answers."""
        try:
            self.scorer().online.read([0])
        except (ServingError, OnlineStoreError):
            return False
        return True

    def _guard(self, work: Callable[[], T]) -> T | JSONResponse:
        try:
            return work()
        except ServingError as e:
            return _error(e)
        except OnlineStoreError as e:  # Redis down or slow: 503 at once, the caller may retry
            return _error(UnavailableError(str(e)))
        except DataError as e:  # a decision input out of range
            return _error(InvalidRequestError(str(e)))

    @bentoml.api(route="/churn_score")
    async def churn_score(self, customer_ids: CustomerIds) -> ChurnScoreResponse:
        """Churn probability, risk band, top reasons and feature freshness of up to 1,000
        customers. An unknown customer, or one who left the bank, is answered in its own item."""

        def work() -> ChurnScoreResponse:
            scorer = self.scorer()
            started = time.perf_counter()
            scored = scorer.score(customer_ids)
            response = ChurnScoreResponse(
                scores=[customer_score(s, scorer.model_name, scorer.model_version) for s in scored]
            )
            score_seconds.observe(time.perf_counter() - started)
            for s in scored:
                scored_customers.labels(status=s.status).inc()
            return response

        if len(customer_ids) <= INLINE_BATCH:
            return self._guard(work)  # type: ignore[return-value]
        return await anyio.to_thread.run_sync(self._guard, work)  # type: ignore[return-value,arg-type]

    @customers_app.get(
        "/{customer_id}",
        response_model=CustomerView,
        responses={404: {"description": "No such customer"}, 503: {"description": "Not ready"}},
    )
    def customer(
        self,
        customer_id: Annotated[
            int, PathParam(ge=0, le=2**63 - 1, description="Pseudonymous customer id.")
        ],
    ) -> Any:
        """Profile, segment, products held, recent behaviour and churn risk with reasons."""

        def work() -> CustomerView:
            scorer = self.scorer()
            rows = scorer.online.read([customer_id], scorer.config.request_time)
            scored = scorer.score_rows(rows)[0]
            scored_customers.labels(status=scored.status).inc()
            if scored.status == "not_found":
                raise CustomerNotFoundError(scored.message or "not found")
            values = rows.row(0, list(rows.columns))
            return customer_view(
                scored, values, scorer.config, scorer.model_name, scorer.model_version
            )

        return self._guard(work)

    @bentoml.api(route="/recommend")
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

        def work() -> Response:
            _, text = self.recommender().decide(request)  # serialized once, as logged
            return Response(content=text, media_type="application/json")

        return await anyio.to_thread.run_sync(self._guard, work)  # type: ignore[return-value,arg-type]

    @bentoml.api(route="/feedback")
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

        def work() -> FeedbackResponse:
            log = self.recommender().log
            when = at or datetime.now(UTC)
            if when.tzinfo is None:
                raise InvalidRequestError("at must be timezone-aware, e.g. 2025-01-31T10:00:00Z")
            try:
                stored = log.record_feedback(decision_id, action_id, outcome, when)
            except UnknownDecisionError as e:
                raise DecisionNotFoundError(str(e)) from e
            return FeedbackResponse(
                decision_id=stored.decision_id,
                action_id=stored.action_id,
                outcome=stored.outcome,  # type: ignore[arg-type]
                at=stored.at,
                duplicate=stored.duplicate,
            )

        return await anyio.to_thread.run_sync(self._guard, work)  # type: ignore[return-value,arg-type]


ChurnService.add_asgi_middleware(JsonBodiesOnly)  # type: ignore[attr-defined]
