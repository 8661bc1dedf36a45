"""``retain train propensity``: per-product opening models, evaluated per product and as a top-3
recommender against a most-popular baseline and the simulator's truth, logged to MLflow and
registered as ``retain-propensity`` with alias ``challenger``.

``fit_propensity`` does the modelling in memory (no MLflow); ``train_propensity`` is the job the
command runs; ``load_propensity`` is what serving calls.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from retain.core.columns import AS_OF, KEY
from retain.core.errors import DataError
from retain.core.progress import Progress, silent
from retain.core.settings import Settings
from retain.core.tables import PRODUCTS
from retain.core.truth import GroundTruth
from training.churn.data import sort_frame
from training.config import FEATURE_SERVICE, MODEL_NAMES, TrainConfig
from training.encode import encode, fit_spec
from training.propensity.acceptance import (
    MIN_ACCEPTS,
    Acceptance,
    contact_churn_ratio,
    fit_acceptance,
    offer_rows,
)
from training.propensity.data import label_column, month_ends_within
from training.propensity.evaluate import auc_figure, evaluate_propensity, model_card
from training.propensity.model import ARTIFACT_DIR, PropensityModel, fit_product
from training.registry import register_challenger
from training.split import Split, time_split
from training.tracking import experiment_id, log_boosters, log_lineage, run_info, tracking

EXPERIMENT = "retain-propensity"
MIN_POSITIVES = 20
"""A product with fewer openings than this in the train window (or none in validation) is
skipped: its AUC would be noise and its calibration undefined."""

DEFAULT_CONFIG = TrainConfig()
"""Churn's defaults (small trees, early stopping on validation AUC). On the default simulated bank
(seed 7) they gave macro AUC 0.641, where 15 leaves, stronger regularisation or stopping on
log-loss gave 0.606-0.621: openings are rare and validation AUC stops most boosters early."""

log = logging.getLogger(__name__)


@dataclass
class PropensityData:
    """Labelled rows with the service's features: customer_id, event_timestamp,
    ``label_<product>`` (1/0, NaN where held), then the features; sorted by as-of and customer.
    ``truth``: the ground truth behind the data (None on a bank's own data)."""

    frame: pd.DataFrame
    features: list[str]
    feature_service: str
    products: tuple[str, ...] = PRODUCTS
    truth: GroundTruth | None = None
    offers: pd.DataFrame | None = None
    """The log's answered cross-sell offers (``acceptance.offer_rows``) with the features at their
    send time; None or empty: no acceptance model."""
    contact_churn: tuple[float, float] = (0.0, float("nan"))
    """``acceptance.contact_churn_ratio`` of the log's cross-sell audiences."""


def load_propensity_data(
    settings: Settings,
    service: str = FEATURE_SERVICE,
    progress: Progress = silent,
    truth: GroundTruth | None = None,
) -> PropensityData:
    """Labels from the raw holdings, features through ``service`` (point-in-time); ``truth`` is
    the simulated bank's ground truth, when the data was simulated.

    Raises:
        NotReadyError: the feature store is not applied or the service unknown.
        DataError: raw tables missing, or no labelled month.
    """
    from features.frames import entity_frame, feature_names
    from training.propensity.data import propensity_labels

    labels = propensity_labels(settings)
    if labels.empty:
        raise DataError("no labelled as-of months: simulate or ingest a longer history")
    frame = sort_frame(entity_frame(settings, labels, service, progress))
    offers, contact_churn = _offers(settings, service)
    return PropensityData(
        frame,
        feature_names(settings, service),
        service,
        PRODUCTS,
        truth,
        offers,
        contact_churn,
    )


def _offers(settings: Settings, service: str) -> tuple[pd.DataFrame, tuple[float, float]]:
    """The log's answered cross-sell offers with their features, and the contact churn ratio of
    its cross-sell audiences (``training.propensity.acceptance``)."""
    from features.build import read_raw_table
    from features.frames import entity_frame
    from retain.core.churn import ChurnDefinition
    from training.uplift.data import label_rows

    columns = ["customer_id", "sent_at", "action_id", "randomized", "holdout", "outcome"]
    campaigns = read_raw_table(settings.raw_dir, "campaigns", columns)
    offers = offer_rows(campaigns)
    if campaigns.empty:  # a bank that left the table out: no offers, no audiences
        return offers, (0.0, float("nan"))
    if not offers.empty:
        offers = entity_frame(settings, offers, service)
    audiences = campaigns[campaigns["action_id"].astype(str).str.startswith("xsell_")]
    rows = pd.DataFrame(
        {
            KEY: audiences["customer_id"].astype("int64").to_numpy(),
            AS_OF: pd.to_datetime(audiences["sent_at"], utc=True).to_numpy(),
            "action_id": audiences["action_id"].astype(str).to_numpy(),
            "part": np.where(audiences["randomized"].eq(True), "experiment", "rules"),
            "holdout": audiences["holdout"].eq(True).to_numpy(),
        }
    )
    churned_at = read_raw_table(settings.raw_dir, "churn", ["customer_id", "churned_at"])
    churned_at = churned_at.groupby("customer_id")["churned_at"].min()
    months = read_raw_table(settings.raw_dir, "monthly", ["month_end"])["month_end"]
    labelled = label_rows(rows, churned_at, pd.to_datetime(months).max(), ChurnDefinition())
    return offers, contact_churn_ratio(labelled)


def true_horizon(
    truth: GroundTruth, rows: pd.DataFrame, products: tuple[str, ...]
) -> NDArray[np.float64]:
    """The true P(opening within the horizon) for ``rows``, [rows, products]. The truth is per
    month; over a horizon of ``k`` month ends it is taken as ``1 - (1 - p)^k`` (the later months'
    own probabilities are not known at the as-of time)."""
    horizon = TrainConfig().horizon_days
    out = truth.adoption(rows, products)
    for as_of, pos in rows.groupby(AS_OF, sort=True).indices.items():
        out[pos] = 1.0 - (1.0 - out[pos]) ** month_ends_within(pd.Timestamp(as_of), horizon)
    return out


@dataclass
class FittedPropensity:
    model: PropensityModel
    split: Split
    metrics: dict[str, float]
    info: dict[str, Any]
    skipped: dict[str, str] = field(default_factory=dict)
    popular: dict[str, float] = field(default_factory=dict)


def fit_propensity(
    data: PropensityData, config: TrainConfig = DEFAULT_CONFIG, progress: Progress = silent
) -> FittedPropensity:
    """Split by time, fit one booster per product on its non-holders, evaluate on test.

    Raises:
        DataError: too few labelled months, or no product with enough openings.
    """
    frame = data.frame
    split = time_split(
        frame[[AS_OF]].assign(label=1.0),
        config.horizon_days,
        config.valid_months,
        config.test_months,
    )
    train, valid, test = (
        frame[frame[AS_OF].isin(w.months)] for w in (split.train, split.valid, split.test)
    )
    spec = fit_spec(train, data.features)
    x_train, x_valid, x_test = (encode(part, spec) for part in (train, valid, test))
    boosters: dict[str, Any] = {}
    calibration: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    for i, p in enumerate(data.products):
        col = label_column(p)
        tr, va = train[col].notna().to_numpy(), valid[col].notna().to_numpy()
        y_tr, y_va = train[col].to_numpy()[tr], valid[col].to_numpy()[va]
        if y_tr.sum() < MIN_POSITIVES or y_va.sum() == 0 or y_va.sum() == len(y_va):
            skipped[p] = (
                f"{int(y_tr.sum())} openings in train, {int(y_va.sum())} in validation "
                f"(need {MIN_POSITIVES} and 1): skipped"
            )
            log.warning("propensity %s: %s", p, skipped[p])
        else:
            boosters[p], calibration[p] = fit_product(
                x_train[tr], y_tr, x_valid[va], y_va, spec, config
            )
        progress(i + 1, len(data.products) + 1)
    if not boosters:
        raise DataError("no product has enough openings in the train window to learn from")
    products = tuple(p for p in data.products if p in boosters)
    model = PropensityModel(products, spec, boosters, calibration)
    model.acceptance = _fit_acceptance(model, data, split, config)
    popular = {p: float(np.nanmean(train[label_column(p)].to_numpy())) for p in products}
    truth = true_horizon(data.truth, test, products) if data.truth is not None else None
    metrics = evaluate_propensity(model, x_test.to_numpy(), test, popular, truth)
    info = {
        **run_info(
            data.feature_service,
            data.features,
            split.windows(),
            config.horizon_days,
            frame,
            rows_train=int(len(train)),
            rows_valid=int(len(valid)),
            rows_test=int(len(test)),
        ),
        "best_iterations": {
            p: int(b.best_iteration or b.current_iteration()) for p, b in boosters.items()
        },
    }
    model.info = {k: v for k, v in info.items() if k != "best_iterations"}
    if model.acceptance is not None:
        metrics |= {
            f"acceptance_{k}": float(v)
            for k, v in model.acceptance.info.items()
            if k.startswith("test_")
        }
        metrics["contact_churn_ratio"] = model.acceptance.contact_churn_ratio
        metrics["contact_churn_ratio_se"] = data.contact_churn[1]
    progress(len(data.products) + 1, len(data.products) + 1)
    return FittedPropensity(model, split, metrics, info, skipped, popular)


def _fit_acceptance(
    model: PropensityModel, data: PropensityData, split: Split, config: TrainConfig
) -> Acceptance | None:
    """P(accept | offered) from the offers sent before the test window (None without enough)."""
    offers = data.offers
    if offers is None or offers.empty:
        log.warning("propensity: no answered cross-sell offers in the log: valued by P(open)")
        return None
    offers = offers[offers["product"].isin(model.products)].reset_index(drop=True)
    x = encode(offers, model.spec).to_numpy(np.float64)
    p_all = model.predict_proba(x)
    column = offers["product"].map({p: j for j, p in enumerate(model.products)}).to_numpy()
    p_open = p_all[np.arange(len(offers)), column.astype(int)]
    before = pd.Timestamp(split.test.start)
    acceptance = fit_acceptance(x, p_open, offers, before, config.seed, config.num_threads)
    if acceptance is None:
        log.warning(
            "propensity: fewer than %d accepted cross-sell offers before %s: offers valued by "
            "P(open)",
            MIN_ACCEPTS,
            before.date(),
        )
        return None
    acceptance.contact_churn_ratio = data.contact_churn[0]
    acceptance.info["contact_churn_ratio_se"] = data.contact_churn[1]
    if not acceptance.informative:  # a model no better than chance would misprice offers
        info = acceptance.info
        log.warning(
            "propensity: the acceptance model tells the %s offers after %s no better than chance "
            "(AUC %.3f ± %.3f, log-loss %.4f against %.4f for the base rate): cross-sell valued "
            "by P(open)",
            info.get("test_offers", 0),
            before.date(),
            info.get("test_auc", float("nan")),
            info.get("test_auc_se", float("nan")),
            info.get("test_logloss", float("nan")),
            info.get("test_logloss_base", float("nan")),
        )
        return None
    return acceptance


def log_propensity(
    settings: Settings,
    fitted: FittedPropensity,
    config: TrainConfig,
    run_id: str,
    model_name: str = MODEL_NAMES["propensity"],
) -> str:
    """Log a fitted model into the active run and register it with alias ``challenger``.

    Returns:
        The registered version.
    """
    import mlflow

    from training import plots
    from training.propensity.pyfunc import PropensityPyfunc

    info = fitted.info
    log_lineage(
        config,
        info,
        model_name,
        fitted.metrics,
        {
            "train_window": info["train_window"],
            "valid_window": info["valid_window"],
            "test_window": info["test_window"],
            "products": ",".join(fitted.model.products),
            "skipped_products": ",".join(fitted.skipped) or "none",
            "min_positives": MIN_POSITIVES,
        },
        {f"warning.{p}": why for p, why in fitted.skipped.items()},
    )
    mlflow.log_metrics({f"best_iteration_{p}": v for p, v in info["best_iterations"].items()})
    mlflow.log_dict(
        {"metrics": fitted.metrics, "popular_rates": fitted.popular, "skipped": fitted.skipped},
        "evaluation.json",
    )
    card = model_card(
        model_name,
        fitted.model.products,
        fitted.metrics,
        info,
        fitted.popular,
        fitted.skipped,
    )
    mlflow.log_text(card, "model_card.md")
    fig = auc_figure(fitted.metrics, fitted.model.products)
    mlflow.log_figure(fig, "plots/auc_by_product.png")
    plots.close([fig])
    uri = log_boosters(fitted.model, ARTIFACT_DIR, PropensityPyfunc())
    return register_challenger(
        settings,
        uri,
        model_name,
        run_id,
        "Calibrated probability of opening each product within the horizon.",
    )


@dataclass
class PropensityResult:
    run_id: str
    version: str
    metrics: dict[str, float]
    fitted: FittedPropensity


def train_propensity(
    settings: Settings,
    seed: int = 7,
    num_threads: int = 2,
    progress: Progress = silent,
    *,
    data: PropensityData | None = None,
    config: TrainConfig | None = None,
) -> PropensityResult:
    """The ``retain train propensity`` job: labels, features, fit, evaluate, log, register.

    Args:
        settings: where the data and the MLflow store are.
        seed, num_threads: LightGBM's (fixed, so the same data gives the same model).
        progress: called as progress(done, total).
        data: labelled rows already in memory (default: built through ``churn_v1``).
        config: training configuration (default ``DEFAULT_CONFIG``; seed and threads override).

    Raises:
        NotReadyError: the feature store is not applied.
        DataError: the data is missing or too short.
        ConfigError: the MLflow store is unusable.
    """
    import mlflow

    config = replace(config or DEFAULT_CONFIG, seed=seed, num_threads=num_threads)
    if data is None:
        data = load_propensity_data(settings, progress=progress)
    exp = experiment_id(settings, EXPERIMENT)
    with tracking(settings), mlflow.start_run(experiment_id=exp) as run:
        fitted = fit_propensity(data, config, progress)
        version = log_propensity(settings, fitted, config, run.info.run_id)
    return PropensityResult(run.info.run_id, version, fitted.metrics, fitted)
