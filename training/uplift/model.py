"""The retention uplift model and its learners: estimated change in P(churn within the horizon)
if each retention action is offered, versus no contact at all.

Three learners on LightGBM, all built on a control model ``m0(x) = P(churn | x, no contact)``
fitted on the (many) no-contact customer-months:

- ``pooled_offset`` (default): one classifier for every randomised contact, pooled over the arms
  (the four retention actions and ``cross_sell``, the arm a categorical feature), boosted from
  ``logit m0(x)`` as a fixed offset, so it learns only how the arm shifts the log-odds of churn:
  ``effect = sigmoid(logit m0(x) + f(x, arm)) - m0(x)``. The simulator's offers and contacts
  multiply the churn intensity, so a shift on the log-odds scale that varies little between
  customers fits them with few splits, the effect grows with the customer's risk, and it always
  stays a difference of two probabilities (``-m0 <= effect <= 1 - m0``).
- ``pooled_x``: the treated half of an X-learner, pooled over arms. The imputed effect
  ``D = y - m0(x)`` of every randomised contact is regressed on the features plus the arm (the
  four retention actions and ``cross_sell``), so the arms share what they have in common (above
  all the harm any contact does to a "sleeping dog") and the model sees five times the rows of
  one action. The X-learner's control half (``m1(x) - y`` on controls) is dropped: its weight,
  P(treated | x), is about 1%.
- ``t``: a T-learner, one classifier per action on that action's contacts: ``m_a(x) - m0(x)``.
- ``dr``: a DR-learner (Kennedy 2023, "Towards optimal doubly robust estimation of
  heterogeneous causal effects"), one regression per action on the doubly robust pseudo-outcome
  ``m_a - m0 + T (y - m_a) / e - (1 - T) (y - m0) / (1 - e)`` of the action's contacts and the
  no-contact rows, every nuisance (``m0``, ``m_a``, the propensity ``e(x) = P(action | x, action
  or no contact)``) cross-fitted over two folds of customers.
- ``sklift_ct``: scikit-uplift's ``ClassTransformationReg`` (the transformed outcome of Athey and
  Imbens, ``y (T - e) / (e (1 - e))``, regressed on x), one LightGBM regressor per action, given
  the same cross-fitted propensities: the established library implementation beside retain's own.

Rows may carry a design weight (``training.uplift.data.WEIGHT``: the inverse of the logged
assignment probability of a randomised holdout design, 1 elsewhere); every learner fits with it.

Serving loads the boosters natively (``lightgbm.Booster(model_file=...)``) from the folder that
``save`` writes: ``metadata.json`` plus one ``<name>.txt`` per booster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from retain.core.tables import RETENTION_ACTIONS
from training.churn.model import predict_threads
from training.config import lightgbm_params
from training.encode import FeatureSpec

METADATA_KEY = "retain"
METADATA_FILE = "metadata.json"
ARTIFACT_DIR = "uplift"
CONTROL = "control"
TAU = "tau"
ARM_FEATURE = "offer_arm"
Kind = Literal["t", "pooled_offset", "pooled_x", "dr", "sklift_ct"]
KINDS: tuple[Kind, ...] = ("t", "pooled_offset", "pooled_x", "dr", "sklift_ct")
"""Every learner, simplest first (the order that breaks ties when the job selects one)."""
DIRECT: tuple[str, ...] = ("dr", "sklift_ct")
"""Kinds whose per-action booster predicts the effect itself (a regression)."""
PROPENSITY_CLIP = 1e-3
"""Cross-fitted propensities are clipped to [clip, 1 - clip] before they divide."""


@dataclass(frozen=True)
class LearnerConfig:
    """LightGBM settings. The treated sets are small (hundreds of contacts per action on a
    10k-customer bank), so trees are tiny, leaves large and shrinkage strong."""

    kind: Kind = "pooled_offset"
    seed: int = 7
    num_threads: int = 2
    control_leaves: int = 15
    control_min_leaf: int = 200
    effect_leaves: int = 4
    effect_min_leaf: int = 150
    effect_lambda_l2: float = 20.0
    t_min_leaf: int = 40
    learning_rate: float = 0.03
    max_rounds: int = 400
    early_stopping_rounds: int = 40
    valid_share: float = 0.2
    folds: int = 2
    direct_max_controls: int = 20_000
    """No-contact rows (a seeded sample) beside each action's rows in ``dr`` and ``sklift_ct``:
    the propensity is estimated on the same rows, so the sample changes no estimate's target."""
    sklift_rounds: int = 100
    """Boosting rounds of ``sklift_ct``'s regressors (the library fits without early stopping)."""

    def params(self, objective: str, leaves: int, min_leaf: int, l2: float) -> dict[str, Any]:
        return lightgbm_params(
            objective,
            seed=self.seed,
            num_threads=self.num_threads,
            learning_rate=self.learning_rate,
            num_leaves=leaves,
            min_data_in_leaf=min_leaf,
            lambda_l2=l2,
            min_sum_hessian_in_leaf=1e-3,
            cat_smooth=50.0,
        )


@dataclass
class UpliftModel:
    """Estimated effect of each retention action on P(churn within the horizon).

    Attributes:
        actions: the retention actions, in the order of ``effects``' columns.
        spec: the features of ``x`` (order, categorical levels).
        boosters: ``control`` (P(churn | x, no contact)) and ``tau`` (pooled kinds) or one per
            action (t: P(churn | x, action); dr, sklift_ct: the effect).
        kind: one of ``KINDS``.
        arms: the pooled model's arm codes (its last input column is the index into ``arms``).
        info: feature service, windows, fingerprint, ... (carried into the metadata).
    """

    actions: tuple[str, ...]
    spec: FeatureSpec
    boosters: dict[str, Any]
    kind: Kind = "pooled_offset"
    arms: tuple[str, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)

    def effects(self, x: NDArray[np.float64] | pd.DataFrame) -> NDArray[np.float64]:
        """[n, len(actions)] change in P(churn within the horizon) if the action is offered
        rather than nothing (negative: the action keeps the customer).

        Args:
            x: the encoded features in ``spec.features`` order (``training.encode.encode`` or
                ``serving.scoring.encode_rows``).
        """
        xa = np.asarray(x, dtype=np.float64)
        out = np.empty((len(xa), len(self.actions)), dtype=np.float64)
        if len(xa) == 0:
            return out
        threads = predict_threads(len(xa) * len(self.actions))
        if self.kind in ("pooled_offset", "pooled_x"):
            # Every (row, action) pair in one call: the action's arm code as the last column.
            codes = np.repeat([float(self.arms.index(a)) for a in self.actions], len(xa))
            stacked = np.hstack([np.tile(xa, (len(self.actions), 1)), codes[:, None]])
            if self.kind == "pooled_offset":
                offset = np.asarray(self.boosters[CONTROL].predict(xa, raw_score=True, **threads))
                shift = self.boosters[TAU].predict(stacked, raw_score=True, **threads)
                base = _sigmoid(offset)
                treated = _sigmoid(np.tile(offset, len(self.actions)) + shift)
                out[:] = (treated - np.tile(base, len(self.actions))).reshape(-1, len(xa)).T
            else:
                out[:] = (
                    np.asarray(self.boosters[TAU].predict(stacked, **threads))
                    .reshape(-1, len(xa))
                    .T
                )
        elif self.kind in DIRECT:
            for j, action in enumerate(self.actions):
                out[:, j] = np.asarray(self.boosters[action].predict(xa, **threads))
        else:
            base = np.asarray(self.boosters[CONTROL].predict(xa, **threads), dtype=np.float64)
            for j, action in enumerate(self.actions):
                out[:, j] = np.asarray(self.boosters[action].predict(xa, **threads)) - base
        return out

    def churn_no_contact(self, x: NDArray[np.float64] | pd.DataFrame) -> NDArray[np.float64]:
        """P(churn within the horizon | x, no contact): the control model."""
        return np.asarray(self.boosters[CONTROL].predict(np.asarray(x, dtype=np.float64)))

    def metadata(self) -> dict[str, Any]:
        """What loading needs besides the booster files, as JSON-friendly values."""
        return {
            METADATA_KEY: {
                "kind": self.kind,
                "actions": list(self.actions),
                "arms": list(self.arms),
                "boosters": sorted(self.boosters),
                "spec": self.spec.to_dict(),
                **json.loads(json.dumps(self.info, default=str)),
            }
        }

    @classmethod
    def from_metadata(cls, boosters: dict[str, Any], metadata: dict[str, Any]) -> UpliftModel:
        m = dict(metadata[METADATA_KEY])
        spec = FeatureSpec.from_dict(m.pop("spec"))
        actions = tuple(m.pop("actions"))
        arms = tuple(m.pop("arms"))
        kind = m.pop("kind")
        m.pop("boosters", None)
        return cls(actions, spec, boosters, kind, arms, m)

    def save(self, folder: Path) -> None:
        """Write ``metadata.json`` and one LightGBM text file per booster into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / METADATA_FILE).write_text(json.dumps(self.metadata(), indent=1))
        for name, booster in self.boosters.items():
            booster.save_model(str(folder / f"{name}.txt"))

    @classmethod
    def load(cls, folder: Path) -> UpliftModel:
        """Read what ``save`` wrote (boosters as native ``lightgbm.Booster``)."""
        import lightgbm as lgb

        metadata = json.loads((folder / METADATA_FILE).read_text())
        names = metadata[METADATA_KEY]["boosters"]
        boosters = {n: lgb.Booster(model_file=str(folder / f"{n}.txt")) for n in names}
        return cls.from_metadata(boosters, metadata)


def _sigmoid(z: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)


def _holdout(ids: NDArray[np.int64], share: float, seed: int) -> NDArray[np.bool_]:
    """A seeded share of customers (not rows) held out for early stopping."""
    customers = np.unique(ids)
    rng = np.random.default_rng(seed)
    held = rng.choice(customers, size=max(1, int(round(share * len(customers)))), replace=False)
    return np.isin(ids, held)


def _train(
    x: pd.DataFrame,
    y: NDArray[np.float64],
    ids: NDArray[np.int64],
    params: dict[str, Any],
    config: LearnerConfig,
    categorical: list[str],
    offset: NDArray[np.float64] | None = None,
    weight: NDArray[np.float64] | None = None,
) -> Any:
    """LightGBM with early stopping on a customer-level holdout of the same rows; ``offset``
    (raw scores to boost from) is not part of the saved model; ``weight``: per-row weights."""
    import lightgbm as lgb

    valid = _holdout(ids, config.valid_share, config.seed)
    init = (None, None) if offset is None else (offset[~valid], offset[valid])
    w = (None, None) if weight is None else (weight[~valid], weight[valid])
    dtrain = lgb.Dataset(
        x[~valid], label=y[~valid], weight=w[0], init_score=init[0], categorical_feature=categorical
    )
    dvalid = lgb.Dataset(
        x[valid],
        label=y[valid],
        weight=w[1],
        init_score=init[1],
        reference=dtrain,
        categorical_feature=categorical,
    )
    booster = lgb.train(
        params,
        dtrain,
        num_boost_round=config.max_rounds,
        valid_sets=[dvalid],
        valid_names=["valid"],
        callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)],
    )
    if booster.best_iteration:
        # Keep only the rounds early stopping chose, so saved and in-memory models agree.
        booster = lgb.Booster(
            model_str=booster.model_to_string(num_iteration=booster.best_iteration)
        )
    return booster


def dr_pseudo_outcome(
    y: NDArray[np.float64],
    treated: NDArray[np.float64],
    m0: NDArray[np.float64],
    m1: NDArray[np.float64],
    propensity: NDArray[np.float64] | float,
) -> NDArray[np.float64]:
    """The doubly robust pseudo-outcome, whose regression on x is the DR-learner:
    ``m1 - m0 + T (y - m1) / e - (1 - T) (y - m0) / (1 - e)``. Its mean given x is the effect
    when either the outcome models or the propensity are right."""
    e = propensity
    return np.asarray(
        m1 - m0 + treated * (y - m1) / e - (1.0 - treated) * (y - m0) / (1.0 - e),
        dtype=np.float64,
    )


def _folds(ids: NDArray[np.int64], k: int, seed: int) -> NDArray[np.int64]:
    """A seeded fold in ``0..k-1`` per row, whole customers in one fold."""
    customers = np.unique(ids)
    fold = np.random.default_rng(seed).permutation(len(customers)) % k
    return np.asarray(fold[np.searchsorted(customers, ids)], dtype=np.int64)


@dataclass(frozen=True)
class _Rows:
    """The training rows every learner reads."""

    x: pd.DataFrame
    y: NDArray[np.float64]
    arm: NDArray[np.str_]
    ids: NDArray[np.int64]
    weight: NDArray[np.float64]
    categorical: list[str]

    def take(self, mask: NDArray[np.bool_]) -> _Rows:
        return _Rows(
            self.x[mask], self.y[mask], self.arm[mask], self.ids[mask], self.weight[mask],
            self.categorical,
        )  # fmt: skip

    def fit(self, params: dict[str, Any], config: LearnerConfig, target: Any = None) -> Any:
        y = self.y if target is None else target
        return _train(self.x, y, self.ids, params, config, self.categorical, weight=self.weight)


def _cross_fitted(
    rows: _Rows,
    fit_on: NDArray[np.bool_],
    predict_on: NDArray[np.bool_],
    target: NDArray[np.float64],
    params: dict[str, Any],
    config: LearnerConfig,
    folds: NDArray[np.int64],
) -> NDArray[np.float64]:
    """Out-of-fold predictions on ``predict_on`` rows of a model of ``target`` fitted on
    ``fit_on`` rows of the other folds (NaN elsewhere)."""
    out = np.full(len(rows.y), np.nan)
    for f in range(config.folds):
        booster = rows.take(fit_on & (folds != f)).fit(
            params, config, target[fit_on & (folds != f)]
        )
        here = predict_on & (folds == f)
        out[here] = booster.predict(rows.x[here].to_numpy())
    return out


_DrInputs = tuple[NDArray[np.bool_], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]


class _Nuisances:
    """The models that every learner of one fit shares, each fitted once, at its first use: the
    control model ``m0`` (every learner), and for the direct learners the cross-fitted ``m0``
    and, per action, the cross-fitted ``m_a`` and propensity ``e``. They depend on the rows and
    the LightGBM settings only, never on the learner, so sharing them changes no estimate."""

    def __init__(self, rows: _Rows, none: str, config: LearnerConfig) -> None:
        self.rows, self.none, self.config = rows, none, config
        self._control: Any = None
        self._m0: NDArray[np.float64] | None = None
        self._inputs: dict[str, _DrInputs] = {}

    def control_params(self) -> dict[str, Any]:
        c = self.config
        return c.params("binary", c.control_leaves, c.control_min_leaf, 1.0)

    def control(self) -> Any:
        """``m0``: P(churn | x, no contact), fitted on every no-contact row."""
        if self._control is None:
            rows = self.rows
            self._control = rows.take(rows.arm == self.none).fit(self.control_params(), self.config)
        return self._control

    def folds(self) -> NDArray[np.int64]:
        return _folds(self.rows.ids, self.config.folds, self.config.seed)

    def cross_fitted_control(self) -> NDArray[np.float64]:
        """Out-of-fold ``m0`` on every row."""
        if self._m0 is None:
            rows = self.rows
            everywhere = np.ones(len(rows.y), bool)
            self._m0 = _cross_fitted(
                rows, rows.arm == self.none, everywhere, rows.y, self.control_params(),
                self.config, self.folds(),
            )  # fmt: skip
        return self._m0

    def dr_inputs(self, action: str) -> _DrInputs:
        """The rows of one action and the no-contact rows, with the cross-fitted ``m_a`` and
        propensity ``e``: (mask, treated flag, m_a, e) on the masked rows."""
        if action not in self._inputs:
            self._inputs[action] = _dr_inputs(self.rows, action, self.none, self.config)
        return self._inputs[action]


def _dr_inputs(rows: _Rows, action: str, none: str, config: LearnerConfig) -> _DrInputs:
    """``_Nuisances.dr_inputs`` computed."""
    folds = _folds(rows.ids, config.folds, config.seed)
    controls = np.flatnonzero(rows.arm == none)
    if len(controls) > config.direct_max_controls:
        rng = np.random.default_rng(config.seed)
        controls = rng.choice(controls, config.direct_max_controls, replace=False)
    mask = rows.arm == action
    mask[controls] = True
    treated = (rows.arm == action).astype(np.float64)
    small = config.params(
        "binary", config.effect_leaves, config.t_min_leaf, config.effect_lambda_l2
    )
    ma = _cross_fitted(rows, rows.arm == action, mask, rows.y, small, config, folds)
    prop = config.params("binary", config.control_leaves, config.control_min_leaf, 1.0)
    e = _cross_fitted(rows, mask, mask, treated, prop, config, folds)
    e = np.clip(e, PROPENSITY_CLIP, 1.0 - PROPENSITY_CLIP)
    return mask, treated[mask], ma[mask], e[mask]


def _fit_direct(
    shared: _Nuisances, kind: Kind, actions: tuple[str, ...], config: LearnerConfig
) -> dict[str, Any]:
    """One effect booster per action: the DR-learner or scikit-uplift's transformed outcome."""
    rows = shared.rows
    effect = config.params(
        "regression", config.effect_leaves, config.effect_min_leaf, config.effect_lambda_l2
    )
    boosters: dict[str, Any] = {}
    for action in actions:
        mask, t, ma, e = shared.dr_inputs(action)
        part = rows.take(mask)
        if kind == "dr":
            pseudo = dr_pseudo_outcome(part.y, t, shared.cross_fitted_control()[mask], ma, e)
            boosters[action] = part.fit(effect, config, pseudo)
        else:
            boosters[action] = _sklift_ct(part, t, e, effect, config)
    return boosters


def _sklift_ct(
    rows: _Rows,
    treated: NDArray[np.float64],
    propensity: NDArray[np.float64],
    params: dict[str, Any],
    config: LearnerConfig,
) -> Any:
    """scikit-uplift's ``ClassTransformationReg`` with a LightGBM regressor; its booster."""
    from lightgbm import LGBMRegressor
    from sklift.models import ClassTransformationReg

    estimator = LGBMRegressor(n_estimators=config.sklift_rounds, **params)
    model = ClassTransformationReg(estimator=estimator, propensity_val=propensity)
    model.fit(
        rows.x,
        rows.y,
        treated.astype(int),
        estimator_fit_params={
            "sample_weight": rows.weight,
            "categorical_feature": rows.categorical or "auto",
        },
    )
    return estimator.booster_


def fit_uplift(
    x: pd.DataFrame,
    y: NDArray[np.float64],
    arm: NDArray[np.str_],
    ids: NDArray[np.int64],
    spec: FeatureSpec,
    config: LearnerConfig,
    none: str = "none",
    cross_sell: str = "cross_sell",
    weight: NDArray[np.float64] | None = None,
) -> UpliftModel:
    """Fit the control model and the effect model(s) of ``config.kind`` (``fit_learners`` with
    one learner)."""
    kind = config.kind
    return fit_learners(x, y, arm, ids, spec, config, (kind,), none, cross_sell, weight)[kind]


def fit_learners(
    x: pd.DataFrame,
    y: NDArray[np.float64],
    arm: NDArray[np.str_],
    ids: NDArray[np.int64],
    spec: FeatureSpec,
    config: LearnerConfig,
    kinds: tuple[Kind, ...],
    none: str = "none",
    cross_sell: str = "cross_sell",
    weight: NDArray[np.float64] | None = None,
) -> dict[Kind, UpliftModel]:
    """Fit several learners on the same rows, sharing the control model (and the direct
    learners' cross-fitted nuisances, ``_Nuisances``), which are most of the time: each model
    is the one ``fit_uplift`` fits alone, with the same boosters.

    Args:
        x: encoded features (``training.encode.encode``) of the training rows.
        y: 1 where the customer churned within the horizon.
        arm: each row's arm: a retention action, ``cross_sell`` or ``none``.
        ids: customer ids (holdouts for early stopping and folds are whole customers).
        spec: the features' spec.
        config: learner settings (its ``kind`` is replaced by each of ``kinds``).
        kinds: the learners to fit.
        weight: each row's design weight (None: all 1).
    """
    rows = _Rows(
        x,
        np.asarray(y, dtype=np.float64),
        np.asarray(arm).astype(str),
        np.asarray(ids, dtype=np.int64),
        np.ones(len(y)) if weight is None else np.asarray(weight, dtype=np.float64),
        list(spec.categorical),
    )
    shared = _Nuisances(rows, none, config)
    return {
        k: _fit_one(shared, spec, replace(config, kind=k), cross_sell) for k in dict.fromkeys(kinds)
    }


def _fit_one(
    shared: _Nuisances, spec: FeatureSpec, config: LearnerConfig, cross_sell: str
) -> UpliftModel:
    """The effect model(s) of ``config.kind`` beside the shared control model."""
    rows, m0 = shared.rows, shared.control()
    actions = tuple(RETENTION_ACTIONS)
    boosters: dict[str, Any] = {CONTROL: m0}
    if config.kind in DIRECT:
        boosters.update(_fit_direct(shared, config.kind, actions, config))
        return UpliftModel(actions, spec, boosters, config.kind, ())
    if config.kind in ("pooled_offset", "pooled_x"):
        arms = (*actions, cross_sell)
        treated = np.isin(rows.arm, arms)
        part = rows.take(treated)
        xt = part.x.copy()
        xt[ARM_FEATURE] = [float(arms.index(a)) for a in part.arm]
        raw = np.asarray(m0.predict(part.x.to_numpy(), raw_score=True), dtype=np.float64)
        leaves, min_leaf, l2 = config.effect_leaves, config.effect_min_leaf, config.effect_lambda_l2
        if config.kind == "pooled_offset":
            params = config.params("binary", leaves, min_leaf, l2)
            target, offset = part.y, raw
        else:
            params = config.params("regression", leaves, min_leaf, l2)
            target, offset = part.y - _sigmoid(raw), None
        boosters[TAU] = _train(
            xt, target, part.ids, params, config, [*part.categorical, ARM_FEATURE], offset,
            part.weight,
        )  # fmt: skip
        return UpliftModel(actions, spec, boosters, config.kind, arms)
    params = config.params(
        "binary", config.effect_leaves, config.t_min_leaf, config.effect_lambda_l2
    )
    for action in actions:
        boosters[action] = rows.take(rows.arm == action).fit(params, config)
    return UpliftModel(actions, spec, boosters, "t", ())
