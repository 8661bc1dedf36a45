"""What a cross-sell offer changes: P(accept | offered), learned from the campaign log, and the
churn a bare contact adds, measured against the log's holdouts.

P(open within the horizon), the propensity model's output, counts the customers who would open
the product anyway: valuing an offer by it pays for openings the offer did not cause. The offer's
incremental effect on opening is ``P(accept | offered) x (1 - P(open anyway))``: an offer is
accepted by a customer who would not have opened the product unprompted, or it only moves an
opening forward (an offer and the customer's own need acting independently; Ascarza 2018 on
targeting by sensitivity, not by base rate).

- **Acceptance** is one LightGBM booster pooled over the offered products (a few hundred accepts
  per bank: one booster per product would learn little), on the customer's features at the send
  time plus the offered product and the logit of the customer's P(open) of it (need, which the
  propensity model learns from every customer-month). Trained on the cross-sell contacts of the log
  (not held out, with an outcome) before the propensity model's test window, stopped early and
  Platt-calibrated on its latest quarter.
- It is used only if, on the offers after its training window, it ranks the accepts above the
  others beyond chance and predicts them better than their base rate (``Acceptance.informative``):
  on a small log a pooled booster can be worse than no model, and would then misprice every offer.
- **Contact churn**: in each randomised cross-sell audience (rules or experiment), the churn rate
  of the contacted minus that of the held out, averaged over audiences by their size, as a ratio of
  the held-out churn rate (a contact scales the churn hazard; the simulated bank and Ascarza,
  Iyengar and Schleicher's campaign alike). ``contact_churn = ratio x P(churn)``: the churn a
  cross-sell contact adds for the customer, costed at the customer's value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from retain.core.columns import AS_OF, KEY, LABEL

PREFIX = "xsell_"
MIN_ACCEPTS = 30
"""Fewer accepted cross-sell offers than this before the test window: no acceptance model (the
offers are then valued by P(open), as a bank without a campaign log must)."""
PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.03,
    "num_leaves": 7,
    "min_data_in_leaf": 40,
    "feature_fraction": 0.8,
    "lambda_l2": 10.0,
    "verbose": -1,
}
"""Small trees, strong regularisation: a few thousand offers, a few hundred accepts."""


def offer_rows(campaigns: pd.DataFrame) -> pd.DataFrame:
    """The log's cross-sell contacts with an answer: ``customer_id``, ``event_timestamp`` (sent),
    ``product`` and ``accepted`` (bool). Holdouts and contacts without an outcome are left out.

    Args:
        campaigns: ``customer_id``, ``sent_at``, ``action_id``, ``holdout``, ``outcome``.
    """
    action = campaigns["action_id"].astype(str)
    outcome = campaigns["outcome"].astype("string")
    keep = (
        action.str.startswith(PREFIX).to_numpy()
        & ~campaigns["holdout"].eq(True).to_numpy()
        & outcome.notna().to_numpy()
    )
    rows = campaigns[keep]
    return pd.DataFrame(
        {
            KEY: rows[KEY].astype("int64").to_numpy(),
            AS_OF: pd.to_datetime(rows["sent_at"], utc=True).to_numpy(),
            "product": action[keep].str.removeprefix(PREFIX).to_numpy(),
            "accepted": (outcome[keep] == "accepted").to_numpy(dtype=bool),
        }
    ).assign(**{AS_OF: lambda d: pd.to_datetime(d[AS_OF], utc=True)})


def offer_matrix(
    x: NDArray[np.float64], p_open: NDArray[np.float64], code: NDArray[np.float64]
) -> NDArray[np.float64]:
    """The acceptance booster's input: the offered product's code, the logit of the customer's
    P(open) of it, then the customer's encoded features."""
    p = np.clip(p_open, 1e-6, 1 - 1e-6)
    return np.column_stack([code, np.log(p / (1 - p)), x])


@dataclass
class Acceptance:
    """P(accept | offered) per cross-sell product, and the churn a contact adds.

    Attributes:
        booster: the pooled LightGBM booster (``offer_matrix`` input).
        calibration: Platt parameters for ``training.calibrate.calibrate``.
        products: the products seen offered, in code order (others get NaN).
        contact_churn_ratio: relative rise in P(churn) from a cross-sell contact.
        info: rows, accepts, the windows and test figures (carried into the metadata).
    """

    booster: Any
    calibration: dict[str, Any]
    products: tuple[str, ...]
    contact_churn_ratio: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def informative(self) -> bool:
        """Whether, on the offers after its training window, it ranks accepts above the others
        beyond chance (AUC above 0.5 by 1.96 standard errors) and predicts them better than their
        base rate (log-loss); False without such offers."""
        info = self.info
        if "test_auc" not in info:
            return False
        return bool(
            info["test_auc"] - 1.96 * info["test_auc_se"] > 0.5
            and info["test_logloss"] < info["test_logloss_base"]
        )

    def predict(
        self, x: NDArray[np.float64], p_open: NDArray[np.float64], products: Sequence[str]
    ) -> NDArray[np.float64]:
        """[rows, products] calibrated P(accept | offered); NaN for a product never offered.

        Args:
            x: encoded features in the propensity model's spec order.
            p_open: [rows, products] P(open within the horizon), aligned with ``products``.
        """
        from training.calibrate import calibrate
        from training.churn.model import predict_threads

        out = np.full((len(x), len(products)), np.nan)
        for j, product in enumerate(products):
            if product not in self.products:
                continue
            code = np.full(len(x), float(self.products.index(product)))
            raw = self.booster.predict(
                offer_matrix(x, p_open[:, j], code), **predict_threads(len(x))
            )
            out[:, j] = calibrate(np.asarray(raw, dtype=np.float64), self.calibration)
        return out

    def metadata(self) -> dict[str, Any]:
        return {
            "products": list(self.products),
            "calibration": self.calibration,
            "contact_churn_ratio": self.contact_churn_ratio,
            **self.info,
        }

    @classmethod
    def from_metadata(cls, booster: Any, metadata: dict[str, Any]) -> Acceptance:
        m = dict(metadata)
        return cls(
            booster,
            m.pop("calibration"),
            tuple(m.pop("products")),
            float(m.pop("contact_churn_ratio", 0.0)),
            m,
        )


def fit_acceptance(
    x: NDArray[np.float64],
    p_open: NDArray[np.float64],
    offers: pd.DataFrame,
    before: pd.Timestamp,
    seed: int = 7,
    num_threads: int = 2,
) -> Acceptance | None:
    """Fit P(accept | offered) on the offers sent before ``before`` (the test window's start);
    report its AUC and calibration on the offers after. None with too few accepts.

    Args:
        x: the offers' encoded features at their send time, aligned with ``offers``.
        p_open: each offer's P(open) of its offered product.
        offers: ``offer_rows``.
    """
    import lightgbm as lgb
    from sklearn.metrics import log_loss, roc_auc_score

    from training.calibrate import calibrate, fit_calibration
    from training.metrics import auc_standard_error

    times = pd.to_datetime(offers[AS_OF], utc=True)
    fit = (times < before).to_numpy()
    y = offers["accepted"].to_numpy(dtype=np.float64)
    if y[fit].sum() < MIN_ACCEPTS or y[fit].sum() == fit.sum():
        return None
    products = tuple(sorted(set(offers["product"][fit])))
    known = offers["product"].isin(products).to_numpy()
    code = offers["product"].map({p: i for i, p in enumerate(products)}).to_numpy(np.float64)
    matrix = offer_matrix(x, p_open, code)
    fit_times = times[fit]
    cut = fit_times.quantile(0.75)
    train = fit & (times < cut).to_numpy()
    valid = fit & ~(times < cut).to_numpy()
    if y[valid].sum() == 0 or y[valid].sum() == valid.sum():
        return None
    params = {**PARAMS, "seed": seed, "num_threads": num_threads, "deterministic": True}
    dtrain = lgb.Dataset(matrix[train], y[train], categorical_feature=[0])
    dvalid = lgb.Dataset(matrix[valid], y[valid], categorical_feature=[0], reference=dtrain)
    booster = lgb.train(
        params,
        dtrain,
        num_boost_round=1000,
        valid_sets=[dvalid],
        callbacks=[lgb.early_stopping(50, verbose=False)],
    )
    calibration = fit_calibration(booster.predict(matrix[valid]), y[valid], "platt")
    info: dict[str, Any] = {
        "offers": int(fit.sum()),
        "accepts": int(y[fit].sum()),
        "before": before.isoformat(),
        "best_iteration": int(booster.best_iteration or booster.current_iteration()),
    }
    test = ~fit & known
    if y[test].sum() > 0 and y[test].sum() < test.sum():
        p = calibrate(np.asarray(booster.predict(matrix[test]), np.float64), calibration)
        auc = float(roc_auc_score(y[test], p))
        info |= {
            "test_offers": int(test.sum()),
            "test_auc": auc,
            "test_auc_se": auc_standard_error(auc, int(y[test].sum()), int((y[test] == 0).sum())),
            "test_logloss": float(log_loss(y[test], p)),
            "test_logloss_base": float(log_loss(y[test], np.full(test.sum(), y[fit].mean()))),
            "test_mean_predicted": float(p.mean()),
            "test_accept_rate": float(y[test].mean()),
        }
    return Acceptance(booster, calibration, products, 0.0, info)


def contact_churn_ratio(labelled: pd.DataFrame) -> tuple[float, float]:
    """The relative rise in churn from a cross-sell contact, and its standard error.

    Args:
        labelled: the log's cross-sell audience members (contacted and held out) with
            ``action_id``, ``part`` (the audience's design), ``holdout`` and ``label`` (churned
            within the horizon).

    Returns:
        ``(ratio, se)``; ``(0, nan)`` without an audience that has both arms.
    """
    y = labelled[LABEL].astype("float64")
    g = labelled.assign(_y=y).groupby(["part", "action_id", "holdout"])["_y"]
    stats = g.agg(["size", "mean", "var"]).unstack("holdout").dropna()
    if stats.empty:
        return 0.0, float("nan")
    n_c, n_h = stats[("size", False)], stats[("size", True)]
    weight = (n_c + n_h) / (n_c + n_h).sum()
    diff = stats[("mean", False)] - stats[("mean", True)]
    base = float((weight * stats[("mean", True)]).sum())
    if base <= 0:
        return 0.0, float("nan")
    var = stats[("var", False)] / n_c + stats[("var", True)] / n_h
    effect, se = float((weight * diff).sum()), float(np.sqrt((weight**2 * var).sum()))
    return effect / base, se / base
