"""Score a batch of customers: one online read, one predict, one TreeSHAP call, then reasons.

``Scorer`` is what the service holds; it needs no server and is what the benchmarks compare the
service with. The model input is built straight from the online values as a float matrix in the
model's feature order, the same encoding as ``training.encode.encode`` (checked by the tests)
without a pandas frame per call.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from features.online import Columns, FeatureRows, OnlineFeatures
from retain.core.errors import ConfigError
from retain.core.ids import BankId, CustomerIds
from retain.core.settings import Settings
from serving.config import ServingConfig
from serving.reasons import Reason, ReasonCatalogue, top_reasons
from training.calibrate import calibrate
from training.churn.load import LoadedModel
from training.churn.model import predict_threads
from training.encode import FeatureSpec

Status = Literal["ok", "not_found", "inactive"]

SEGMENT_COLUMNS: dict[str, str] = {
    "value_tier": "value_tier",
    "lifecycle_stage": "lifecycle_stage",
    "behaviour_segment": "behaviour_segment",
    "version": "segments_version",
}
"""A response's ``segments`` field -> its column of the ``customer_segments`` view."""

UNKNOWN_SEGMENTS: dict[str, str | None] = dict.fromkeys(SEGMENT_COLUMNS)


def segments_of(values: Mapping[str, Any]) -> dict[str, str | None]:
    """A customer's segments from the online read's values (``customer_segments``); None for a
    field the store does not hold (the view not materialized, or no current row)."""
    out: dict[str, str | None] = {}
    for name, column in SEGMENT_COLUMNS.items():
        v = values.get(column)
        out[name] = None if v is None else str(v)
    return out


@dataclass(frozen=True)
class ScoredCustomer:
    """The churn score of one customer, or why there is none (``status``); ``customer_id`` is
    the bank's id, as answered; ``segments``: ``segments_of`` its read (all None unless ok)."""

    customer_id: BankId
    status: Status
    message: str | None = None
    probability: float | None = None
    band: str | None = None
    reasons: list[Reason] = field(default_factory=list)
    raw_score: float | None = None
    feature_timestamp: datetime | None = None
    feature_age_days: float | None = None
    segments: dict[str, str | None] = field(default_factory=lambda: dict(UNKNOWN_SEGMENTS))


def encode_rows(columns: Columns, spec: FeatureSpec, rows: Sequence[int]) -> NDArray[np.float64]:
    """The booster's input for ``rows`` of the batch, as ``training.encode.encode`` makes it:
    categories become codes into the recorded levels (unknown or missing: NaN), booleans 0/1,
    missing numbers NaN."""
    x = np.empty((len(rows), len(spec.features)), dtype=np.float64)
    levels = {f: {lvl: float(k) for k, lvl in enumerate(spec.levels[f])} for f in spec.categorical}
    for j, f in enumerate(spec.features):
        col = columns[f]
        if isinstance(col, np.ndarray):
            x[:, j] = col[list(rows)]
            continue
        values = [col[i] for i in rows]
        if f in levels:
            codes = levels[f]
            x[:, j] = [np.nan if v is None else codes.get(str(v), np.nan) for v in values]
        else:
            try:
                x[:, j] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
            except (TypeError, ValueError):  # a stray string: missing, as pd.to_numeric(coerce)
                x[:, j] = [_to_float(v) for v in values]
    return x


def _not_found(customer: BankId) -> ScoredCustomer:
    return ScoredCustomer(customer, "not_found", f"no customer {customer} in the feature store")


def _to_float(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return np.nan


def check_served(online: OnlineFeatures, model: str, features: Sequence[str]) -> None:
    """Raises ConfigError when the online feature service lacks one of a model's features."""
    missing = sorted(set(features) - set(online.features))
    if missing:
        raise ConfigError(
            f"{model} needs feature(s) {missing} that feature service {online.service!r} "
            "does not serve: retrain or re-apply the features"
        )


class Scorer:
    """A loaded model, its explainer and the online features, ready to score batches of the
    bank's customer ids (``ids`` turns them into the stores' keys).

    Raises (at construction):
        ConfigError: the feature service lacks a model feature, or the catalogue names a feature
            the model does not use.
    """

    def __init__(
        self,
        loaded: LoadedModel,
        online: OnlineFeatures,
        catalogue: ReasonCatalogue,
        config: ServingConfig,
        ids: CustomerIds | None = None,
    ) -> None:
        self.ids = ids or CustomerIds()
        self.loaded = loaded
        self.online = online
        self.catalogue = catalogue
        self.config = config
        self.spec = loaded.model.spec
        self.booster = loaded.model.booster
        self.features = list(self.spec.features)
        check_served(online, f"{loaded.name} v{loaded.version}", self.features)
        catalogue.check_features(self.features)

    @property
    def model_name(self) -> str:
        return self.loaded.name

    @property
    def model_version(self) -> str:
        return self.loaded.version

    def predict(self, x: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Booster probabilities and TreeSHAP contributions (base value last) of a matrix."""
        threads = predict_threads(len(x))
        raw = np.asarray(self.booster.predict(x, **threads), dtype=np.float64)
        contrib = np.asarray(self.booster.predict(x, pred_contrib=True, **threads))
        return raw, contrib

    def score(self, ids: Sequence[BankId]) -> list[ScoredCustomer]:
        """Scores, risk bands, reasons and freshness of a batch of the bank's ids, in order; an
        id no customer can have (text where the ids are whole numbers) is not found.

        Raises:
            OnlineStoreError: the online store cannot be read (the service answers 503).
        """
        keys = [self.ids.key_of(i) for i in ids]
        known = [(i, k) for i, k in enumerate(keys) if k is not None]
        if len(known) == len(ids):  # the usual case
            return self.score_rows(
                self.online.read([k for _, k in known], self.config.request_time), ids
            )
        out = [_not_found(self.ids.shown(i)) for i in ids]
        if known:
            rows = self.online.read([k for _, k in known], self.config.request_time)
            scored = self.score_rows(rows, [ids[i] for i, _ in known])
            for (i, _), s in zip(known, scored, strict=True):
                out[i] = s
        return out

    def score_rows(
        self, rows: FeatureRows, bank_ids: Sequence[BankId] | None = None
    ) -> list[ScoredCustomer]:
        """Score what ``OnlineFeatures.read`` returned; ``bank_ids``: the ids asked for (default:
        the keys read), answered as the bank writes them."""
        shown = [self.ids.shown(i) for i in (rows.ids if bank_ids is None else bank_ids)]
        active = [i for i, c in enumerate(rows.current) if c]
        probabilities = np.empty(0)
        contrib = np.empty((0, len(self.features) + 1))
        if active:
            x = encode_rows(rows.columns, self.spec, active)
            raw, contrib = self.predict(x)
            probabilities = calibrate(raw, self.loaded.model.calibration)
        now = time.time()
        out: list[ScoredCustomer] = []
        position = {i: k for k, i in enumerate(active)}
        for i, customer in enumerate(shown):
            if not rows.found[i]:
                out.append(_not_found(customer))
                continue
            if not rows.current[i]:
                out.append(
                    ScoredCustomer(
                        customer,
                        "inactive",
                        f"customer {customer} has no current monthly features: they left the "
                        "bank or their data stopped arriving, so there is no churn score",
                    )
                )
                continue
            k = position[i]
            p = float(probabilities[k])
            values = rows.row(i, self.features)
            reasons = top_reasons(
                contrib[k], values, self.features, self.catalogue, self.config.top_reasons
            )
            stamp = rows.snapshot_at[i]
            out.append(
                ScoredCustomer(
                    customer,
                    "ok",
                    probability=p,
                    band=self.config.band(p),
                    reasons=reasons,
                    raw_score=float(contrib[k].sum()),
                    feature_timestamp=stamp,
                    feature_age_days=None if stamp is None else (now - stamp.timestamp()) / 86400,
                    segments=segments_of(rows.row(i, list(SEGMENT_COLUMNS.values()))),
                )
            )
        return out

    def floor(self, ids: Sequence[int]) -> NDArray[np.float64]:
        """The least work a score needs (online read, predict, contributions), for benchmarks."""
        rows = self.online.read(ids, self.config.request_time)
        active = [i for i, c in enumerate(rows.current) if c]
        if not active:
            return np.empty(0)
        raw, _ = self.predict(encode_rows(rows.columns, self.spec, active))
        return calibrate(raw, self.loaded.model.calibration)


def descriptions() -> dict[str, str]:
    """Feature descriptions from the feature repo's schema, for generic reason sentences."""
    from features.schema import VIEW_FEATURES

    out = {n: d for feats in VIEW_FEATURES.values() for n, _, d in feats}
    out.setdefault("tenure_days", "Days with the bank")
    out.setdefault("days_since_login_now", "Days since the last app login")
    return out


def load_scorer(settings: Settings, config: ServingConfig) -> Scorer:
    """Open the store, load the champion model and the catalogue, and check they fit together.

    Raises:
        NotReadyError: no model carries the alias, or the features were not applied.
        ConfigError: the store configuration, the catalogue or the model's features are wrong;
            or the customer ids are strings and ``RETAIN_ID_KEY`` is missing or not theirs.
        OnlineStoreError: the online store cannot be read.
    """
    from features.online import open_serving_store
    from features.schema import SEGMENTS
    from retain.core.ids import load_customer_ids
    from serving.config import feature_service_for
    from training.churn.load import load_model
    from training.config import FEATURE_SERVICE

    ids = load_customer_ids(settings)  # a missing or wrong key is said first
    store = open_serving_store(settings, config.store_timeout_s)
    loaded = load_model(settings, config.model_name, config.model_alias)
    trained_on = str(loaded.model.info.get("feature_service", FEATURE_SERVICE))
    service = feature_service_for(config, trained_on, f"{loaded.name} v{loaded.version}")
    # The segments view is read with the model's features: every answer carries the segments.
    online = OnlineFeatures(store, service, extra_views=(SEGMENTS,))
    catalogue = ReasonCatalogue.load(descriptions=descriptions())
    scorer = Scorer(loaded, online, catalogue, config, ids)
    online.read([0])  # the store answers (and its connection is open) before we say ready
    return scorer
