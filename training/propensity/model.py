"""The product propensity model: one native LightGBM booster per product, one shared feature spec,
Platt calibration per product. What serving holds and what the registry stores.

Registered as an MLflow pyfunc whose artifacts folder ``propensity/`` holds ``metadata.json`` and
one ``booster_<product>.txt`` (LightGBM's text format) per product; serving reads those natively
(``load_propensity``), the pyfunc wrapper is for MLflow's own tools.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from training.calibrate import calibrate, fit_calibration
from training.churn.model import METADATA_KEY, predict_threads, train_booster
from training.config import TrainConfig
from training.encode import FeatureSpec
from training.propensity.acceptance import Acceptance

ARTIFACT_DIR = "propensity"
"""Name of the pyfunc artifact folder holding the boosters and the metadata."""
METADATA_FILE = "metadata.json"
ACCEPTANCE = "acceptance"
"""The acceptance booster's name beside the products' (no product is called so)."""


def booster_file(product: str) -> str:
    return f"booster_{product}.txt"


@dataclass
class PropensityModel:
    """Calibrated P(open the product within the horizon) for each product.

    Attributes:
        products: the modelled products, in output column order (products skipped in training
            for too few openings are absent).
        spec: feature order, categorical features and levels, shared by every booster.
        boosters: product -> native ``lightgbm.Booster``.
        calibration: product -> parameters for :func:`training.calibrate.calibrate`.
        acceptance: see the attribute.
        info: feature service, windows, fingerprint, ... (carried into the metadata).
    """

    products: tuple[str, ...]
    spec: FeatureSpec
    boosters: dict[str, Any]
    calibration: dict[str, dict[str, Any]]
    info: dict[str, Any] = field(default_factory=dict)
    acceptance: Acceptance | None = None
    """P(accept | offered) and the churn a contact adds (``training.propensity.acceptance``);
    None when the log had too few answered cross-sell offers."""

    def raw_scores(self, x: NDArray[np.float64] | pd.DataFrame) -> NDArray[np.float64]:
        """[rows, products] uncalibrated booster probabilities of an encoded matrix."""
        out = np.empty((len(x), len(self.products)), dtype=np.float64)
        for j, p in enumerate(self.products):
            out[:, j] = self.boosters[p].predict(x, **predict_threads(len(x)))
        return out

    def predict_proba(self, x: NDArray[np.float64] | pd.DataFrame) -> NDArray[np.float64]:
        """[rows, products] calibrated P(open within the horizon).

        ``x`` is the encoded float matrix in ``spec.features`` order (``training.encode.encode``
        or ``serving.scoring.encode_rows``). Held products are not masked here: the caller knows
        what the customer holds.
        """
        raw = self.raw_scores(x)
        for j, p in enumerate(self.products):
            raw[:, j] = calibrate(raw[:, j], self.calibration[p])
        return raw

    def offer_proba(
        self, x: NDArray[np.float64], p_open: NDArray[np.float64]
    ) -> NDArray[np.float64] | None:
        """[rows, products] P(accept | offered) given ``predict_proba``'s output (NaN for a
        product never offered); None without an acceptance model."""
        if self.acceptance is None:
            return None
        return self.acceptance.predict(np.asarray(x, dtype=np.float64), p_open, self.products)

    @property
    def contact_churn_ratio(self) -> float:
        """The relative rise in P(churn) from a cross-sell contact (0 without acceptance)."""
        return 0.0 if self.acceptance is None else self.acceptance.contact_churn_ratio

    def contributions(
        self, x: NDArray[np.float64] | pd.DataFrame, product: str
    ) -> NDArray[np.float64]:
        """[rows, features + 1] TreeSHAP contributions to the product's raw score (log-odds);
        the last column is the base value, and each row sums to the raw score.

        Raises:
            KeyError: the product is not modelled.
        """
        if product not in self.boosters:
            raise KeyError(f"no propensity booster for {product!r}: one of {self.products}")
        threads = predict_threads(len(x))
        contrib = self.boosters[product].predict(x, pred_contrib=True, **threads)
        return np.asarray(contrib, dtype=np.float64)

    def metadata(self) -> dict[str, Any]:
        """What serving needs besides the boosters, as JSON-friendly values."""
        return {
            METADATA_KEY: {
                "kind": "propensity",
                "products": list(self.products),
                "spec": self.spec.to_dict(),
                "calibration": self.calibration,
                **self.info,
                **({ACCEPTANCE: self.acceptance.metadata()} if self.acceptance is not None else {}),
            }
        }

    @classmethod
    def from_metadata(cls, boosters: dict[str, Any], metadata: dict[str, Any]) -> PropensityModel:
        m = dict(metadata[METADATA_KEY])
        m.pop("kind", None)
        products = tuple(m.pop("products"))
        spec = FeatureSpec.from_dict(m.pop("spec"))
        calibration = m.pop("calibration")
        accepting = m.pop(ACCEPTANCE, None)
        acceptance = (
            Acceptance.from_metadata(boosters[ACCEPTANCE], accepting)
            if accepting is not None
            else None
        )
        return cls(products, spec, {p: boosters[p] for p in products}, calibration, m, acceptance)

    def save(self, folder: Path) -> None:
        """Write the metadata and one LightGBM text file per booster into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / METADATA_FILE).write_text(json.dumps(self.metadata(), default=str, indent=1))
        for p in self.products:
            self.boosters[p].save_model(str(folder / booster_file(p)))
        if self.acceptance is not None:
            self.acceptance.booster.save_model(str(folder / booster_file(ACCEPTANCE)))

    @classmethod
    def load(cls, folder: Path) -> PropensityModel:
        """Read what :meth:`save` wrote (boosters loaded natively).

        Raises:
            OSError, ValueError, KeyError: files missing or not retain's.
        """
        import lightgbm as lgb

        metadata = json.loads((folder / METADATA_FILE).read_text())
        products = list(metadata[METADATA_KEY]["products"])
        if ACCEPTANCE in metadata[METADATA_KEY]:
            products.append(ACCEPTANCE)
        boosters = {p: lgb.Booster(model_file=str(folder / booster_file(p))) for p in products}
        return cls.from_metadata(boosters, metadata)


def fit_product(
    x_train: pd.DataFrame,
    y_train: NDArray[np.float64],
    x_valid: pd.DataFrame,
    y_valid: NDArray[np.float64],
    spec: FeatureSpec,
    config: TrainConfig,
) -> tuple[Any, dict[str, Any]]:
    """One product's booster (early stopping on validation) and its calibration on validation.

    Unweighted (``scale_pos_weight`` 1): the calibrated probabilities of different products are
    compared with each other when ranking, so each should be close to a rate already.
    """
    booster = train_booster(
        x_train, y_train, x_valid, y_valid, spec, config, {"scale_pos_weight": 1.0}
    )
    raw = np.asarray(booster.predict(x_valid), dtype=np.float64)
    return booster, fit_calibration(raw, y_valid, config.calibration)
