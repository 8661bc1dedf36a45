"""Serving settings: risk bands, how many reasons, the scoring clock, store timeouts.

Defaults are below; a bank overrides them in ``$RETAIN_HOME/serving.toml``, for example::

    top_reasons = 3
    request_time = "feature_time"
    store_timeout_s = 1.0
    decision_past_days = 400     # decision and feedback times accepted: 400 days back ...
    decision_future_days = 1     # ... to 1 day ahead of the service's clock
    max_body_bytes = 1048576     # larger request bodies are answered 413
    max_audience = 1000          # most customers in one POST /recommend/batch (more: 413)
    model_poll_s = 30            # how often the champions are checked (0: never, restart)
    drain_s = 5                  # on SIGTERM: /readyz 503, still serving this long, then stop

    [bands]            # lower bounds of the calibrated churn probability, ascending
    medium = 0.05
    high = 0.15

Value tiers and segments are not set here: they come from ``value.toml`` through the feature build
(the ``customer_segments`` view). An older file's ``[segments]`` table is ignored, with a warning.

Read once by the service at start-up, like ``Settings``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from retain.core.errors import ConfigError
from retain.core.settings import Settings, read_toml
from serving.errors import InvalidRequestError
from training.registry import CHAMPION

RequestTime = Literal["feature_time", "now"]

MAX_BATCH = 1000
"""Most customer ids in one ``/churn_score`` call."""

CONFIG_FILE = "serving.toml"

IGNORED = ("segments",)
"""Settings of older files that are accepted and ignored (with a warning): ``segments`` (the
value tiers, now ``value.toml``'s, served from the ``customer_segments`` view)."""

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServingConfig:
    """How the service scores and explains.

    Attributes:
        model_name, model_alias: the registered model served (``models:/<name>@<alias>``).
        feature_service: the Feast FeatureService to serve; None (default): the one the model
            records it was trained on (``churn_v1``, or ``churn_bank_v1`` for a model trained
            with the bank's own columns). When set, a model trained on another is refused.
        top_reasons: reasons returned per customer (largest contributions first).
        bands: risk band -> lowest calibrated probability in it, ascending; below the first the
            band is ``low``.
        request_time: the time the on-demand features (tenure, days since login) are computed
            at. ``feature_time`` (default) uses the customer's latest snapshot time, exactly as
            training does, so served and offline scores agree and a simulated bank whose
            calendar is not today's scores sensibly; ``now`` uses the wall clock (a live bank
            whose snapshots are days old).
        store_timeout_s: connect and read timeout of the online store (Redis); past it the
            service answers 503 rather than hang.
        decision_past_days, decision_future_days: the window, around the wall clock, that a
            decision's or a feedback's time must fall in; anything else is refused (400) rather
            than written into the append-only log. Widen it to replay a simulated bank's
            calendar or to backfill.
        max_body_bytes: the largest request body the service reads; a larger one is 413.
        max_audience: the most customers one ``POST /recommend/batch`` may name; more is 413
            (split the audience, or use ``retain recommend --audience`` in-process).
        model_poll_s: seconds between checks of the registry's champion aliases; a promotion or
            rollback is loaded beside the served models and swapped in without a restart. 0
            turns the check off.
        drain_s: seconds ``retain serve`` keeps answering after a SIGTERM, with ``/readyz`` at
            503 so a load balancer takes the instance out, before it stops (0: stop at once).
    """

    model_name: str = "retain-churn"
    model_alias: str = CHAMPION
    feature_service: str | None = None
    top_reasons: int = 3
    bands: dict[str, float] = field(default_factory=lambda: {"medium": 0.05, "high": 0.15})
    request_time: RequestTime = "feature_time"
    store_timeout_s: float = 1.0
    decision_past_days: float = 400.0
    decision_future_days: float = 1.0
    max_body_bytes: int = 1_048_576
    max_audience: int = 1000
    model_poll_s: float = 30.0
    drain_s: float = 5.0

    def band(self, probability: float) -> str:
        """The risk band of a calibrated probability."""
        name = "low"
        for band, lower in self.bands.items():
            if probability >= lower:
                name = band
        return name

    def decision_time(self, at: datetime | None, now: datetime, field: str) -> datetime:
        """``at`` (default ``now``) in UTC, once it falls in the decision window around ``now``.

        Raises:
            InvalidRequestError: ``at`` has no time zone or falls outside the window.
        """
        if at is None:
            return now.astimezone(UTC)
        if at.tzinfo is None or at.utcoffset() is None:
            raise InvalidRequestError(
                f"{field} must carry a time zone, e.g. 2025-01-31T10:00:00Z", field
            )
        try:
            at = at.astimezone(UTC)
            # An offset from now, so year 1 or 9999 never overflows a datetime.
            ahead = (at - now).total_seconds() / 86_400
        except OverflowError:  # 9999-12-31T23:00-14:00 is past the calendar's end in UTC
            ahead = math.inf
        if not -self.decision_past_days <= ahead <= self.decision_future_days:
            earliest = _shifted(now, -self.decision_past_days)
            latest = _shifted(now, self.decision_future_days)
            raise InvalidRequestError(
                f"{field} {at.isoformat()} is outside the accepted window "
                f"{_z(earliest)} .. {_z(latest)} "
                "(decision_past_days and decision_future_days in serving.toml)",
                field,
            )
        return at

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "serving config") -> ServingConfig:
        """Validate ``data`` (the TOML file's content) over the defaults.

        Raises:
            ConfigError: an unknown key, a wrong type, or thresholds out of order.
        """
        known = set(cls.__dataclass_fields__)
        for key in sorted(set(data) & set(IGNORED)):
            logger.warning(
                "%s: [%s] is no longer used and is ignored (value tiers and segments come from "
                "value.toml, through `retain features build`): remove it",
                source,
                key,
            )
        data = {k: v for k, v in data.items() if k not in IGNORED}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(
                f"{source}: unknown setting(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(known))}"
            )
        values = dict(data)
        if "bands" in values:
            values["bands"] = _thresholds(values["bands"], f"{source} [bands]")
        if values.get("request_time", "feature_time") not in ("feature_time", "now"):
            raise ConfigError(f"{source}: request_time must be 'feature_time' or 'now'")
        top = values.get("top_reasons", 3)
        if not isinstance(top, int) or isinstance(top, bool) or not 0 <= top <= 20:
            raise ConfigError(f"{source}: top_reasons must be an integer from 0 to 20")
        timeout = values.get("store_timeout_s", 1.0)
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
            raise ConfigError(f"{source}: store_timeout_s must be a positive number of seconds")
        for key in ("decision_past_days", "decision_future_days", "model_poll_s", "drain_s"):
            days = values.get(key, 1.0)
            if not isinstance(days, int | float) or isinstance(days, bool) or not days >= 0:
                unit = "seconds" if key.endswith("_s") else "days"
                raise ConfigError(f"{source}: {key} must be a number of {unit} >= 0")
            if key in values:
                values[key] = float(days)
        size = values.get("max_body_bytes", 1024)
        if not isinstance(size, int) or isinstance(size, bool) or size < 1024:
            raise ConfigError(f"{source}: max_body_bytes must be an integer >= 1024")
        audience = values.get("max_audience", 1)
        if not isinstance(audience, int) or isinstance(audience, bool) or audience < 1:
            raise ConfigError(f"{source}: max_audience must be an integer >= 1")
        for key in ("model_name", "model_alias", "feature_service"):
            if key in values and not isinstance(values[key], str):
                raise ConfigError(f"{source}: {key} must be a string")
        return cls(**values)

    @classmethod
    def load(cls, settings: Settings) -> ServingConfig:
        """Defaults, overridden by ``$RETAIN_HOME/serving.toml`` when present.

        Raises:
            ConfigError: the file cannot be read or is invalid.
        """
        path = settings.home / CONFIG_FILE
        data = read_toml(path)
        return cls() if data is None else cls.from_dict(data, str(path))


def feature_service_for(config: ServingConfig, trained_on: str, model: str) -> str:
    """The FeatureService to serve a model trained on ``trained_on`` through: the configured
    one when set, else the model's own.

    Raises:
        ConfigError: the configured service is not the one the model was trained on.
    """
    if config.feature_service is not None and config.feature_service != trained_on:
        raise ConfigError(
            f"{model} was trained on feature service {trained_on!r}, "
            f"the service serves {config.feature_service!r}"
        )
    return trained_on


def _shifted(now: datetime, days: float) -> datetime:
    """``now`` moved by ``days``, clamped to the calendar (a window of 10,000 years is fine)."""
    try:
        return now + timedelta(days=days)
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC) if days > 0 else datetime.min.replace(tzinfo=UTC)


def _z(t: datetime) -> str:
    return t.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _thresholds(value: Any, source: str) -> dict[str, float]:
    if not isinstance(value, dict) or not value:
        raise ConfigError(f"{source}: expected a table of name = lower bound")
    out: dict[str, float] = {}
    for name, lower in value.items():
        if not isinstance(lower, int | float) or isinstance(lower, bool):
            raise ConfigError(f"{source}: {name} must be a number")
        out[str(name)] = float(lower)
    bounds = list(out.values())
    if bounds != sorted(bounds) or len(set(bounds)) != len(bounds):
        raise ConfigError(f"{source}: lower bounds must increase ({out})")
    return out
