"""Customer value and segments, defined as data (``features/value.toml``) over the feature
service's own features, so a batch score and a served one give the same answer.

Pure functions over columns (pandas Series, numpy arrays or lists with None, by feature name), as
``features.request_time``. The feature build (``features.build``) calls ``segment_columns`` on
every customer and month end and writes the result, with ``definition_version`` of the config,
to the ``customer_segments`` feature view: the batch scorer reads it point in time, the service
online, so both carry the same segments, made by the definitions the build saw. Changing
``value.toml`` takes effect at the next ``retain features build`` (and apply, materialize).

Value needs P(churn), so it is computed at scoring time from the stored monthly margin and the
churn score (it is not a stored feature)::

    config = ValueConfig.load(settings)
    segments = segment_columns(columns, config)          # value_tier, lifecycle_stage, ...
    value = customer_value(segments["monthly_margin"], p_churn, config)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from retain.core.errors import ConfigError
from retain.core.settings import Settings, read_toml
from retain.core.tables import PRODUCTS

DEFAULTS = Path(__file__).with_name("value.toml")
CONFIG_FILE = "value.toml"
"""The bank's overrides, in the home folder."""

BALANCES: tuple[str, ...] = ("current", "savings", "time_deposit", "wealth", "loans")
"""Balances with a margin: ``bal_<name>`` features."""

LIFECYCLE_STAGES: tuple[str, ...] = ("new", "growing", "mature", "declining", "dormant")
BEHAVIOUR_SEGMENTS: tuple[str, ...] = ("low_activity", "digital", "branch", "mixed")
UNKNOWN = "unknown"
"""The value tier of a customer with no total balance."""

INPUTS: tuple[str, ...] = (
    "bal_total",
    "bal_total_chg_3m",
    *[f"bal_{b}" for b in BALANCES],
    *[f"has_{p}" for p in PRODUCTS],
    "tenure_months",
    "n_products_chg_3m",
    "tx_total",
    "tx_total_chg_3m",
    "tx_branch",
    "digital_share",
    "days_since_login",
)
"""The features value and segments are computed from (all in ``churn_v1``)."""

OUTPUTS: tuple[str, ...] = ("value_tier", "lifecycle_stage", "behaviour_segment", "monthly_margin")
"""What ``segment_columns`` returns, in order."""

RULES_VERSION = 1
"""The rules' own version: bump it when a rule of this module changes meaning, so that
``definition_version`` changes with it."""

_LIFECYCLE_KEYS = (
    "dormant_max_tx",
    "dormant_login_days",
    "new_months",
    "declining_balance_chg",
    "declining_tx_chg",
    "growing_balance_chg",
)
_BEHAVIOUR_KEYS = ("low_activity_max_tx", "digital_min_share", "branch_min_share")


@dataclass(frozen=True)
class ValueConfig:
    """The value formula's parameters and the segments' thresholds (see ``value.toml``)."""

    horizon_months: int = 36
    annual_discount: float = 0.08
    churn_horizon_months: float = 3.0
    product_margins: dict[str, float] = field(default_factory=dict)
    balance_margins: dict[str, float] = field(default_factory=dict)
    value_tiers: dict[str, float] = field(default_factory=dict)
    lifecycle: dict[str, float] = field(default_factory=dict)
    behaviour: dict[str, float] = field(default_factory=dict)

    @property
    def tiers(self) -> tuple[str, ...]:
        """Every value tier, lowest first."""
        return ("mass", *self.value_tiers)

    @classmethod
    def defaults(cls) -> ValueConfig:
        """The packaged ``value.toml``."""
        data = read_toml(DEFAULTS)
        assert data is not None
        return cls.from_dict(data, str(DEFAULTS))

    @classmethod
    def load(cls, settings: Settings) -> ValueConfig:
        """The packaged defaults, overridden key by key by ``$RETAIN_HOME/value.toml``.

        Raises:
            ConfigError: the file cannot be read, or a key, type or threshold is wrong.
        """
        base = read_toml(DEFAULTS) or {}
        path = settings.home / CONFIG_FILE
        override = read_toml(path)
        if override is None:
            return cls.from_dict(base, str(DEFAULTS))
        merged = dict(base)
        for key, value in override.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict) and key != "value_tiers":
                merged[key] = {**base[key], **value}
            else:
                merged[key] = value
        return cls.from_dict(merged, str(path))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str) -> ValueConfig:
        """Validate a ``value.toml``'s content.

        Raises:
            ConfigError: an unknown key, a wrong type, or thresholds out of order.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"{source}: unknown key(s) {', '.join(unknown)}; known: {sorted(known)}"
            )
        horizon = data.get("horizon_months", 36)
        if not isinstance(horizon, int) or isinstance(horizon, bool) or not 1 <= horizon <= 600:
            raise ConfigError(f"{source}: horizon_months must be a whole number from 1 to 600")
        discount = _number(data.get("annual_discount", 0.08), f"{source}: annual_discount")
        churn_horizon = _number(
            data.get("churn_horizon_months", 3), f"{source}: churn_horizon_months"
        )
        if discount < 0 or churn_horizon <= 0:
            raise ConfigError(
                f"{source}: annual_discount must be >= 0 and churn_horizon_months > 0"
            )
        products = _table(data.get("product_margins", {}), f"{source} [product_margins]", PRODUCTS)
        balances = _table(data.get("balance_margins", {}), f"{source} [balance_margins]", BALANCES)
        lifecycle = _table(
            data.get("lifecycle", {}), f"{source} [lifecycle]", _LIFECYCLE_KEYS, True
        )
        behaviour = _table(
            data.get("behaviour", {}), f"{source} [behaviour]", _BEHAVIOUR_KEYS, True
        )
        tiers = _table(data.get("value_tiers", {}), f"{source} [value_tiers]")
        bounds = list(tiers.values())
        if bounds != sorted(bounds) or len(set(bounds)) != len(bounds) or "mass" in tiers:
            raise ConfigError(
                f"{source} [value_tiers]: lower bounds must increase, and mass is the tier below "
                f"the first ({tiers})"
            )
        return cls(
            horizon_months=horizon,
            annual_discount=discount,
            churn_horizon_months=churn_horizon,
            product_margins=products,
            balance_margins=balances,
            value_tiers=tiers,
            lifecycle=lifecycle,
            behaviour=behaviour,
        )


def definition_version(config: ValueConfig) -> str:
    """A short hash (12 hex digits) of everything the stored segments depend on: the rules'
    version, the tiers, the lifecycle and behaviour thresholds and the margins. The same
    definitions give the same version whatever file or key order they came from."""
    payload = {
        "rules": RULES_VERSION,
        "value_tiers": sorted(config.value_tiers.items()),
        "lifecycle": sorted(config.lifecycle.items()),
        "behaviour": sorted(config.behaviour.items()),
        "product_margins": sorted(config.product_margins.items()),
        "balance_margins": sorted(config.balance_margins.items()),
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _number(value: Any, what: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not np.isfinite(value):
        raise ConfigError(f"{what} must be a number")
    return float(value)


def _table(
    value: Any, source: str, allowed: tuple[str, ...] | None = None, complete: bool = False
) -> dict[str, float]:
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: expected a table of name = number")
    if allowed is not None:
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            raise ConfigError(f"{source}: unknown name(s) {unknown}; use {', '.join(allowed)}")
        missing = [k for k in allowed if k not in value] if complete else []
        if missing:
            raise ConfigError(f"{source}: missing {', '.join(missing)}")
    return {str(k): _number(v, f"{source}: {k}") for k, v in value.items()}


def _floats(column: Any) -> NDArray[np.float64]:
    """A feature column as float64, NaN for missing (None, pd.NA, text)."""
    s = column if isinstance(column, pd.Series) else pd.Series(column)
    if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
        s = pd.to_numeric(s, errors="coerce")
    return s.to_numpy(dtype=np.float64, na_value=np.nan)


def _held(column: Any) -> NDArray[np.bool_]:
    """True where the customer holds the product; missing counts as not held."""
    s = column if isinstance(column, pd.Series) else pd.Series(column)
    return s.astype(object).eq(True).to_numpy(dtype=bool)


def value_tier(total_balance: Any, tiers: Mapping[str, float]) -> NDArray[np.object_]:
    """The value tier of each total balance: the highest tier whose lower bound it reaches,
    ``mass`` below the first, ``unknown`` where the balance is missing."""
    total = _floats(total_balance)
    out = np.full(len(total), "mass", dtype=object)
    for name, lower in tiers.items():
        out[total >= lower] = name
    out[np.isnan(total)] = UNKNOWN
    return out


def lifecycle_stage(
    columns: Mapping[str, Any], thresholds: Mapping[str, float]
) -> NDArray[np.object_]:
    """new, growing, mature, declining or dormant; the first rule that holds wins (dormant,
    new, declining, growing), else mature. Missing values hold no rule."""
    t = thresholds
    tx = _floats(columns["tx_total"])
    login = _floats(columns["days_since_login"])
    balance_chg = _floats(columns["bal_total_chg_3m"])
    products_chg = _floats(columns["n_products_chg_3m"])
    rules = [
        ("dormant", (tx <= t["dormant_max_tx"]) & ~(login < t["dormant_login_days"])),
        ("new", _floats(columns["tenure_months"]) < t["new_months"]),
        (
            "declining",
            (balance_chg <= t["declining_balance_chg"])
            | (_floats(columns["tx_total_chg_3m"]) <= t["declining_tx_chg"])
            | (products_chg < 0),
        ),
        ("growing", (balance_chg >= t["growing_balance_chg"]) | (products_chg > 0)),
    ]
    return _first(rules, len(tx), "mature")


def behaviour_segment(
    columns: Mapping[str, Any], thresholds: Mapping[str, float]
) -> NDArray[np.object_]:
    """How the customer banks: low_activity, digital, branch, else mixed (first rule wins)."""
    t = thresholds
    tx = _floats(columns["tx_total"])
    with np.errstate(invalid="ignore", divide="ignore"):
        branch_share = _floats(columns["tx_branch"]) / tx
    rules = [
        ("low_activity", ~(tx > t["low_activity_max_tx"])),
        ("digital", _floats(columns["digital_share"]) >= t["digital_min_share"]),
        ("branch", branch_share >= t["branch_min_share"]),
    ]
    return _first(rules, len(tx), "mixed")


def _first(
    rules: list[tuple[str, NDArray[np.bool_]]], n: int, otherwise: str
) -> NDArray[np.object_]:
    out = np.full(n, otherwise, dtype=object)
    decided = np.zeros(n, dtype=bool)
    for name, holds in rules:
        hit = holds & ~decided
        out[hit] = name
        decided |= hit
    return out


def monthly_margin(columns: Mapping[str, Any], config: ValueConfig) -> NDArray[np.float64]:
    """The bank's margin on the customer per month: product margins plus balance margins / 12.
    A missing balance counts as zero."""
    n = len(_floats(columns["bal_total"]))
    yearly = np.zeros(n)
    for product, margin in config.product_margins.items():
        yearly += margin * _held(columns[f"has_{product}"])
    for balance, rate in config.balance_margins.items():
        yearly += rate * np.nan_to_num(np.abs(_floats(columns[f"bal_{balance}"])))
    return yearly / 12.0


def expected_months(p_churn: Any, config: ValueConfig) -> NDArray[np.float64]:
    """Discounted expected months with the bank over the horizon: sum over t = 1..H of
    (s d)^t, s the monthly survival implied by P(churn), d the monthly discount factor."""
    p = np.clip(np.asarray(p_churn, dtype=np.float64), 0.0, 1.0)
    survival = (1.0 - p) ** (1.0 / config.churn_horizon_months)
    q = survival * (1.0 + config.annual_discount) ** (-1.0 / 12.0)
    h = config.horizon_months
    with np.errstate(invalid="ignore", divide="ignore"):
        geometric = q * (1.0 - q**h) / (1.0 - q)
    return np.where(np.isclose(q, 1.0), float(h), geometric)


def customer_value(margin: Any, p_churn: Any, config: ValueConfig) -> NDArray[np.float64]:
    """Expected margin over the horizon, weighted by survival and discounted."""
    return np.asarray(margin, dtype=np.float64) * expected_months(p_churn, config)


def segment_columns(columns: Mapping[str, Any], config: ValueConfig) -> dict[str, Any]:
    """``value_tier``, ``lifecycle_stage``, ``behaviour_segment`` and ``monthly_margin`` of each
    customer, from the features in ``INPUTS``.

    Raises:
        ConfigError: a feature the definitions need is not among the columns.
    """
    missing = [c for c in INPUTS if c not in columns]
    if missing:
        raise ConfigError(
            f"value and segments need feature(s) {missing} that the feature service does not "
            "serve: serve churn_v1 or a service that contains it"
        )
    return {
        "value_tier": value_tier(columns["bal_total"], config.value_tiers),
        "lifecycle_stage": lifecycle_stage(columns, config.lifecycle),
        "behaviour_segment": behaviour_segment(columns, config.behaviour),
        "monthly_margin": monthly_margin(columns, config),
    }
