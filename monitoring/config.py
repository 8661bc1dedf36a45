"""Monitoring thresholds: a small frozen dataclass with defaults, overridden by
``$RETAIN_HOME/monitoring.toml`` when present, for example::

    psi_warn = 0.1
    psi_alert = 0.25
    ndcg_alert = 0.9
    current_months = 3

Each measure has a warn and an alert threshold. For PSI and the distances a value at or above the
threshold crosses it; for nDCG (a similarity) a value below it does; for AUC the threshold is the
drop below the reference's AUC.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from retain.core.errors import ConfigError
from retain.core.settings import Settings, read_toml

CONFIG_FILE = "monitoring.toml"


@dataclass(frozen=True)
class MonitoringConfig:
    """What ``retain monitor`` compares and when it warns or alerts.

    Attributes:
        psi_warn, psi_alert: population stability index (rule of thumb: 0.1 moderate, 0.25
            large shift).
        wasserstein_warn, wasserstein_alert: Wasserstein distance over the reference's standard
            deviation (numeric features, scores).
        jensen_shannon_warn, jensen_shannon_alert: Jensen-Shannon distance, base 2 (categorical
            features, risk bands).
        p_value: a test's p-value below this alerts, judged instead of the distance where either
            sample has fewer than ``test_below_rows`` rows (as Evidently does at 1,000).
        test_below_rows: see ``p_value``.
        ndcg_warn, ndcg_alert: nDCG of the current ranking of features by mean |SHAP| against
            the reference's; below the threshold crosses it (SageMaker Clarify alerts below 0.9).
        ndcg_top: features ranked in the nDCG (0: all of them).
        auc_drop_warn, auc_drop_alert: the current AUC (estimated, or realised where labels
            exist) this far below the reference's realised AUC.
        psi_bins: quantile bins of the reference for a numeric feature's PSI.
        current_months: months in the default current window (the latest ones).
        shap_rows: rows of each window explained with TreeSHAP for attribution drift (a seeded
            sample; every other statistic uses every row).
        seed: seeds that sample, and the sample of customers for freshness and skew.
        freshness_warn_days: warn when the online store's values of a feature view (or its
            latest materialization) are this many days older than the latest month end in the
            offline sources; a value past the view's TTL alerts.
        skew_rows: customers with the bank at the latest month end sampled for the freshness
            and online/offline skew checks.
        skew_tolerance: relative tolerance within which an online and an offline number agree.
        skew_alert_share: a feature whose online and offline values differ for more than this
            share of the sampled customers alerts (0: any difference).
    """

    psi_warn: float = 0.1
    psi_alert: float = 0.25
    wasserstein_warn: float = 0.1
    wasserstein_alert: float = 0.2
    jensen_shannon_warn: float = 0.1
    jensen_shannon_alert: float = 0.2
    p_value: float = 0.05
    test_below_rows: int = 1000
    ndcg_warn: float = 0.95
    ndcg_alert: float = 0.9
    ndcg_top: int = 0
    auc_drop_warn: float = 0.02
    auc_drop_alert: float = 0.05
    psi_bins: int = 10
    current_months: int = 3
    shap_rows: int = 5000
    seed: int = 7
    freshness_warn_days: float = 35.0
    skew_rows: int = 300
    skew_tolerance: float = 1e-6
    skew_alert_share: float = 0.0

    def __post_init__(self) -> None:
        for measure in ("psi", "wasserstein", "jensen_shannon", "auc_drop"):
            warn, alert = getattr(self, f"{measure}_warn"), getattr(self, f"{measure}_alert")
            if not 0 <= warn <= alert:
                raise ConfigError(
                    f"{measure}_warn ({warn}) must be at least 0 and at most {measure}_alert "
                    f"({alert})"
                )
        if not 0 <= self.ndcg_alert <= self.ndcg_warn <= 1:
            raise ConfigError(
                f"need 0 <= ndcg_alert ({self.ndcg_alert}) <= ndcg_warn ({self.ndcg_warn}) <= 1"
            )
        if not 0 <= self.skew_alert_share < 1:
            raise ConfigError(
                f"skew_alert_share must be at least 0 and below 1, got {self.skew_alert_share}"
            )
        for name in ("freshness_warn_days", "skew_tolerance"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be at least 0, got {getattr(self, name)}")
        if not 0 < self.p_value < 1:
            raise ConfigError(f"p_value must lie between 0 and 1, got {self.p_value}")
        for name, low in (
            ("psi_bins", 2),
            ("current_months", 1),
            ("shap_rows", 1),
            ("test_below_rows", 0),
            ("ndcg_top", 0),
            ("skew_rows", 1),
        ):
            if getattr(self, name) < low:
                raise ConfigError(f"{name} must be at least {low}, got {getattr(self, name)}")

    def level(self, measure: str, value: float) -> str:
        """``ok``, ``warn`` or ``alert`` for a distance-like ``measure`` (``psi``,
        ``wasserstein``, ``jensen_shannon``, ``auc_drop``; larger is worse) or ``ndcg``
        (smaller is worse). NaN is ``ok``: nothing measured is nothing to alert on."""
        if math.isnan(value):
            return "ok"
        warn, alert = getattr(self, f"{measure}_warn"), getattr(self, f"{measure}_alert")
        if measure == "ndcg":
            return "alert" if value < alert else "warn" if value < warn else "ok"
        return "alert" if value >= alert else "warn" if value >= warn else "ok"

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "monitoring config") -> MonitoringConfig:
        """Validate ``data`` (the TOML file's content) over the defaults.

        Raises:
            ConfigError: an unknown key, a value of the wrong type, or thresholds out of order.
        """
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(
                f"{source}: unknown setting(s) {', '.join(unknown)}; known: "
                f"{', '.join(sorted(known))}"
            )
        for key, value in data.items():
            want_int = known[key].type in ("int", int)
            ok = isinstance(value, int) if want_int else isinstance(value, int | float)
            if not ok or isinstance(value, bool):
                kind = "an integer" if want_int else "a number"
                raise ConfigError(f"{source}: {key} must be {kind}, got {value!r}")
        values: dict[str, Any] = {
            k: float(v) if known[k].type in ("float", float) else v for k, v in data.items()
        }
        try:
            return cls(**values)
        except ConfigError as e:
            raise ConfigError(f"{source}: {e}") from e

    @classmethod
    def load(cls, settings: Settings) -> MonitoringConfig:
        """Defaults, overridden by ``$RETAIN_HOME/monitoring.toml`` when present.

        Raises:
            ConfigError: the file cannot be read or is invalid.
        """
        path: Path = settings.home / CONFIG_FILE
        data = read_toml(path)
        if data is None:
            return cls()
        return cls.from_dict(data, str(path))
