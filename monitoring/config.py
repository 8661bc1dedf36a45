"""Monitoring thresholds: a small frozen dataclass with defaults, overridden by
``$RETAIN_HOME/monitoring.toml`` when present, for example::

    psi_warn = 0.1
    psi_alert = 0.25
    ndcg_alert = 0.9
    current_months = 3
    segments = ["region", "age_band", "n_products"]

    [features.market_rate]        # one value for everyone each month: judge the move's size
    psi_warn = 1000.0
    psi_alert = 1000.0
    wasserstein_warn = 3.0
    wasserstein_alert = 5.0

Each measure has a warn and an alert threshold. For PSI and the distances a value at or above the
threshold crosses it; for nDCG (a similarity) a value below it does; for AUC the threshold is the
drop below the reference's AUC; for the four-fifths ratios of fairness a value below it does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from retain.core.errors import ConfigError
from retain.core.settings import Settings, read_toml

CONFIG_FILE = "monitoring.toml"

AGE_BAND = "age_band"
"""A segment derived from the ``age`` feature (``monitoring.segments.AGE_BANDS``)."""

DEFAULT_SEGMENTS = ("region", "city_tier", "income_band", AGE_BAND, "n_products")
"""Segments of the default feature service; those a service lacks are left out."""

FEATURE_MEASURES = (
    "psi_warn",
    "psi_alert",
    "wasserstein_warn",
    "wasserstein_alert",
    "jensen_shannon_warn",
    "jensen_shannon_alert",
)
"""The thresholds a feature may override in its own ``[features.<name>]`` table."""


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
            sample has fewer than ``test_below_rows`` values present (as Evidently does at
            1,000 rows).
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
        segments: features whose levels split both windows for drift per segment (numeric
            ones with few levels, or ``age_band``, bands of ``age``).
        segment_min_rows: a segment level is judged only where both windows hold this many
            rows (PSI on small samples is noise).
        segment_top: rows of the segment drift table kept (the worst segment-feature pairs).
        fairness_ratio_warn, fairness_ratio_alert: the four-fifths rule: a group's high-risk
            flag rate or offer rate over the highest group's; below the threshold crosses it.
        fairness_min_rows: a group is judged only with this many rows.
        missing_warn, missing_alert: the rise of a raw column's missing share from the reference
            window to the current one.
        invalid_alert_share: a data quality check failing for more than this share of a raw
            table's rows alerts (any failure warns).
        volume_drop_alert: a month of the current window with this share fewer customers than
            the month before it alerts (a partial load).
        features: per feature, thresholds overriding the ones above (``FEATURE_MEASURES``).
        warmup_months: the data's first months, left out of the default reference window: the
            longest fixed lookback of a feature (6-month changes and counts) is not full there
            (``monitoring.comparable``).
        reference_min_months: the default reference (the champion's training window without the
            warm-up, else the first comparable months after it) must hold this many comparable
            months before the current window, else drift against it is not judged: one warn
            line says so. Three is the fewest from which a market-wide rate's monthly step can
            be estimated (two steps); with fewer a rate is a point mass whose PSI is huge by
            construction.
        recency_cap_months: "months since" features are compared capped at this (longer and
            never both mean "not within it"), as every window can see them alike (0: off).
        market_move_warn, market_move_alert: a feature with one value per month for everyone
            (a market rate) is judged by its move from the reference's last month in random-walk
            units (the reference's RMS monthly step times the root of the months between), not
            by PSI (``monitoring.comparable``).
        acceptance_confidence: confidence of the Wilson interval around an action's realised
            acceptance rate (accepted over answered, from ``/feedback``; ``monitoring.acceptance``).
        acceptance_min_answered: an action (or action on a channel) is judged only with this
            many answers: at 100 answers and a 20% rate the 95% interval is already +-8 points
            wide, so fewer can only show gross errors, and the many small action-channel cells
            would each add a chance false alarm.
        acceptance_gap_warn, acceptance_gap_alert: the distance, in probability points, from
            the mean predicted P(accept) of the answered actions to that interval (0 inside it).
            An action's expected value is linear in P(accept), so a gap of 0.05 misprices an
            offer worth V by 0.05 V; the margin also keeps a calibrated model's chance misses
            (the interval excludes the truth 5% of the time) from alerting.
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
    segments: tuple[str, ...] = DEFAULT_SEGMENTS
    segment_min_rows: int = 1000
    segment_top: int = 20
    fairness_ratio_warn: float = 0.9
    fairness_ratio_alert: float = 0.8
    fairness_min_rows: int = 100
    missing_warn: float = 0.02
    missing_alert: float = 0.05
    invalid_alert_share: float = 0.001
    volume_drop_alert: float = 0.2
    features: dict[str, dict[str, float]] = field(default_factory=dict)
    warmup_months: int = 6
    reference_min_months: int = 3
    recency_cap_months: int = 6
    market_move_warn: float = 3.0
    market_move_alert: float = 5.0
    acceptance_confidence: float = 0.95
    acceptance_min_answered: int = 100
    acceptance_gap_warn: float = 0.02
    acceptance_gap_alert: float = 0.05

    def __post_init__(self) -> None:
        for measure in (
            "psi",
            "wasserstein",
            "jensen_shannon",
            "auc_drop",
            "missing",
            "market_move",
            "acceptance_gap",
        ):
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
        if not 0 <= self.fairness_ratio_alert <= self.fairness_ratio_warn <= 1:
            raise ConfigError(
                f"need 0 <= fairness_ratio_alert ({self.fairness_ratio_alert}) <= "
                f"fairness_ratio_warn ({self.fairness_ratio_warn}) <= 1"
            )
        for name in ("invalid_alert_share", "volume_drop_alert"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(
                    f"{name} must be at least 0 and below 1, got {getattr(self, name)}"
                )
        for feature, own in self.features.items():
            try:
                replace(self, features={}, **dict[str, Any](own))
            except ConfigError as e:
                raise ConfigError(f"[features.{feature}]: {e}") from e
        if not 0 <= self.skew_alert_share < 1:
            raise ConfigError(
                f"skew_alert_share must be at least 0 and below 1, got {self.skew_alert_share}"
            )
        for name in ("freshness_warn_days", "skew_tolerance"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be at least 0, got {getattr(self, name)}")
        if not 0 < self.acceptance_confidence < 1:
            raise ConfigError(
                f"acceptance_confidence must lie between 0 and 1, got {self.acceptance_confidence}"
            )
        if not 0 < self.p_value < 1:
            raise ConfigError(f"p_value must lie between 0 and 1, got {self.p_value}")
        for name, low in (
            ("psi_bins", 2),
            ("current_months", 1),
            ("shap_rows", 1),
            ("test_below_rows", 0),
            ("ndcg_top", 0),
            ("skew_rows", 1),
            ("segment_min_rows", 1),
            ("segment_top", 1),
            ("fairness_min_rows", 1),
            ("warmup_months", 0),
            ("reference_min_months", 1),
            ("recency_cap_months", 0),
            ("acceptance_min_answered", 1),
        ):
            if getattr(self, name) < low:
                raise ConfigError(f"{name} must be at least {low}, got {getattr(self, name)}")

    def level(self, measure: str, value: float) -> str:
        """``ok``, ``warn`` or ``alert`` for a distance-like ``measure`` (``psi``,
        ``wasserstein``, ``jensen_shannon``, ``auc_drop``, ``missing``; larger is worse) or
        ``ndcg``, ``fairness_ratio`` (smaller is worse). NaN is ``ok``: nothing measured is
        nothing to alert on."""
        if math.isnan(value):
            return "ok"
        warn, alert = getattr(self, f"{measure}_warn"), getattr(self, f"{measure}_alert")
        if measure in ("ndcg", "fairness_ratio"):
            return "alert" if value < alert else "warn" if value < warn else "ok"
        return "alert" if value >= alert else "warn" if value >= warn else "ok"

    def for_feature(self, feature: str) -> MonitoringConfig:
        """These thresholds with ``feature``'s own overrides, if it has any."""
        own = self.features.get(feature)
        return replace(self, features={}, **dict[str, Any](own)) if own else self

    def check_features(self, features: Sequence[str], source: str = "monitoring config") -> None:
        """Refuse a feature override or a chosen segment that names none of ``features`` (the
        champion's); default segments the service lacks are left out, not refused.

        Raises:
            ConfigError: naming the unknown features and how to fix them.
        """
        from difflib import get_close_matches

        known = set(features)
        unknown = sorted(set(self.features) - known)
        if unknown:
            close = [m for u in unknown for m in get_close_matches(u, known, 1)]
            hint = f"did you mean {', '.join(close)}?" if close else "see the report's features"
            raise ConfigError(
                f"{source}: unknown feature(s) in [features]: {', '.join(unknown)} (the "
                f"champion's feature service has no such feature; {hint})"
            )
        segmentable = known | ({AGE_BAND} if "age" in known else set())
        chosen = self.segments != DEFAULT_SEGMENTS  # the defaults adapt to the service
        bad = [s for s in self.segments if s not in segmentable] if chosen else []
        if bad:
            raise ConfigError(
                f"{source}: unknown segment(s) {', '.join(bad)}: a segment is one of the "
                f"champion's features, or {AGE_BAND} (bands of age)"
            )

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
        data = dict(data)
        segments = data.pop("segments", None)
        overrides = data.pop("features", None)
        for key, value in data.items():
            want_int = known[key].type in ("int", int)
            ok = isinstance(value, int) if want_int else isinstance(value, int | float)
            if not ok or isinstance(value, bool):
                kind = "an integer" if want_int else "a number"
                raise ConfigError(f"{source}: {key} must be {kind}, got {value!r}")
        values: dict[str, Any] = {
            k: float(v) if known[k].type in ("float", float) else v for k, v in data.items()
        }
        if segments is not None:
            if not isinstance(segments, list) or not all(isinstance(v, str) for v in segments):
                raise ConfigError(f"{source}: segments must be a list of feature names")
            values["segments"] = tuple(segments)
        if overrides is not None:
            values["features"] = _feature_overrides(overrides, source)
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


def _feature_overrides(data: Any, source: str) -> dict[str, dict[str, float]]:
    """``[features.<name>]`` tables, each with some of ``FEATURE_MEASURES``."""
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ConfigError(
            f"{source}: features must hold one table per feature, e.g. [features.market_rate]"
        )
    out: dict[str, dict[str, float]] = {}
    for feature, table in data.items():
        unknown = sorted(set(table) - set(FEATURE_MEASURES))
        if unknown:
            raise ConfigError(
                f"{source}: [features.{feature}]: unknown setting(s) {', '.join(unknown)}; "
                f"known: {', '.join(FEATURE_MEASURES)}"
            )
        for key, value in table.items():
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ConfigError(f"{source}: [features.{feature}] {key} must be a number")
        out[str(feature)] = {k: float(v) for k, v in table.items()}
    return out
