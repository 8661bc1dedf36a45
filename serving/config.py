"""Serving settings: risk bands, how many reasons, the scoring clock, store timeouts.

Defaults are below; a bank overrides them in ``$RETAIN_HOME/serving.toml``, for example::

    top_reasons = 3
    request_time = "feature_time"
    store_timeout_s = 1.0

    [bands]            # lower bounds of the calibrated churn probability, ascending
    medium = 0.05
    high = 0.15

    [segments]         # lower bounds of the total balance (current + savings + deposits + wealth)
    affluent = 25000
    private = 250000

Read once by the service at start-up, like ``Settings``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from retain.core.errors import ConfigError
from retain.core.settings import Settings, read_toml
from training.registry import CHAMPION

RequestTime = Literal["feature_time", "now"]

MAX_BATCH = 1000
"""Most customer ids in one ``/churn_score`` call."""

CONFIG_FILE = "serving.toml"


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
        segments: value segment -> lowest total balance in it, ascending; below the first the
            segment is ``mass``.
        request_time: the time the on-demand features (tenure, days since login) are computed
            at. ``feature_time`` (default) uses the customer's latest snapshot time, exactly as
            training does, so served and offline scores agree and a simulated bank whose
            calendar is not today's scores sensibly; ``now`` uses the wall clock (a live bank
            whose snapshots are days old).
        store_timeout_s: connect and read timeout of the online store (Redis); past it the
            service answers 503 rather than hang.
    """

    model_name: str = "retain-churn"
    model_alias: str = CHAMPION
    feature_service: str | None = None
    top_reasons: int = 3
    bands: dict[str, float] = field(default_factory=lambda: {"medium": 0.05, "high": 0.15})
    segments: dict[str, float] = field(
        default_factory=lambda: {"affluent": 25_000.0, "private": 250_000.0}
    )
    request_time: RequestTime = "feature_time"
    store_timeout_s: float = 1.0

    def band(self, probability: float) -> str:
        """The risk band of a calibrated probability."""
        name = "low"
        for band, lower in self.bands.items():
            if probability >= lower:
                name = band
        return name

    def segment(self, total_balance: float | None) -> str:
        """The value segment of a total balance (``unknown`` when missing)."""
        if total_balance is None:
            return "unknown"
        name = "mass"
        for segment, lower in self.segments.items():
            if total_balance >= lower:
                name = segment
        return name

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "serving config") -> ServingConfig:
        """Validate ``data`` (the TOML file's content) over the defaults.

        Raises:
            ConfigError: an unknown key, a wrong type, or thresholds out of order.
        """
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ConfigError(
                f"{source}: unknown setting(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(known))}"
            )
        values = dict(data)
        for key in ("bands", "segments"):
            if key in values:
                values[key] = _thresholds(values[key], f"{source} [{key}]")
        if values.get("request_time", "feature_time") not in ("feature_time", "now"):
            raise ConfigError(f"{source}: request_time must be 'feature_time' or 'now'")
        top = values.get("top_reasons", 3)
        if not isinstance(top, int) or isinstance(top, bool) or not 0 <= top <= 20:
            raise ConfigError(f"{source}: top_reasons must be an integer from 0 to 20")
        timeout = values.get("store_timeout_s", 1.0)
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
            raise ConfigError(f"{source}: store_timeout_s must be a positive number of seconds")
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
        if data is None:
            return cls()
        return cls.from_dict(data, str(path))


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
