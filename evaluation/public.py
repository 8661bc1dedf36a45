"""Evaluation on public real data sets, against published results (``retain evaluate public``).

Each data set goes through the ingestion path: its mapping (``ingest/public/*.yaml``) is
validated and the file read into typed tables of ``retain.core.tables`` plus extras, exactly as a
bank's own tables are.

- Churn_Modelling.csv: churn ROC AUC of a LightGBM model, 5-fold stratified cross-validation, on
  the frame of retain's pipeline: ingested into a temporary home folder, ``features build`` and
  ``apply``, then the point-in-time frame of the snapshot labels through ``churn_bank_v1`` (retain's
  features and the bank's extras); ``churn_v1`` alone is given beside it.
- bank-additional-full.csv: term-deposit offer propensity without ``duration``, tested on the later
  20% of the calls (the file is in date order), as Moro, Cortez and Rita (2014) held out their
  latest calls. Their protocol is a rolling window: the model is retrained as calls arrive and
  tested on the next ones; here the test period is cut into ``blocks`` blocks by time and, before
  each, the model is retrained on the last ``window`` calls (the headline figure, AUC of all the
  held-out predictions pooled) and, for comparison, on every earlier call. The static figure (one
  model trained on the earlier 80%) shows what happens without retraining; a shuffled 5-fold
  figure, which ignores time, is given for context.
- hillstrom.csv: a T-learner (one LightGBM model per group) predicts each e-mail's uplift on visit
  and on spend; on a 30% held-out share, the Qini coefficient (normalised as scikit-uplift's
  ``qini_auc_score``: 0 random, 1 perfect) and the AUUC (area under the uplift curve per customer,
  in the outcome's units, beside random targeting's), from ``training.uplift.metrics``. Beside it,
  on the same split, the other learners retain compares (``UPLIFT_LEARNERS``): one model with the
  group as a feature (the idea of retain's pooled models), a DR-learner and scikit-uplift's
  transformed outcome, both given the design's propensity; and the 95th percentile of random
  rankings' Qini and AUUC on the same rows.

Bank Marketing and Hillstrom are not churn data: their model frames are built from the ingested
tables directly (``snapshot_frame``), not through a feature service.

Fixed, modest hyper-parameters chosen beforehand (no tuning on the test data), two threads.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from features.extras import feature_names
from ingest.mapping import Mapping, load_mapping
from ingest.read import Bank, read_bank
from retain.core.errors import DataError
from retain.core.progress import Progress, silent
from retain.core.settings import Settings
from training.config import lightgbm_params
from training.encode import FeatureSpec, encode, fit_spec
from training.metrics import roc_auc
from training.uplift.metrics import qini_coefficient, uplift_area, uplift_area_random

FILES: dict[str, str] = {
    "churn_modelling": "Churn_Modelling.csv",
    "bank_marketing": "bank-additional-full.csv",
    "hillstrom": "hillstrom.csv",
}
"""Data set -> the file it reads (under ``--data``)."""

PUBLISHED: dict[str, str] = {
    "churn_modelling": "ROC AUC about 0.86-0.87 for gradient-boosted models (commonly reported; "
    "no peer-reviewed reference)",
    "bank_marketing": "ROC AUC 0.80, Moro, Cortez & Rita (2014), best model (a neural network), "
    "later calls held out, without duration",
    "hillstrom": "visit rate 18.28% (Mens), 15.14% (Womens), 10.62% (No E-Mail) "
    "(Hillstrom 2008); no published Qini/AUUC reference",
}

EXPERIMENT = "retain-public"

PUBLISHED_SHORT: dict[str, str] = {
    "churn_modelling": "about 0.86-0.87 (GBM, commonly reported)",
    "bank_marketing": "0.80 (Moro et al. 2014)",
    "hillstrom": "none for Qini/AUUC",
}
"""``PUBLISHED`` in a few words, for the terminal table."""

CONTROL = "no_email"
TREATMENTS: tuple[str, ...] = ("mens_email", "womens_email")
UPLIFT_OUTCOMES: dict[str, str] = {"visit": "binary", "spend": "regression"}
UPLIFT_LEARNERS: tuple[str, ...] = ("t", "s", "dr", "sklift_ct")
"""Learners compared on Hillstrom: T-learner (the headline ``qini``/``auuc``), one model with the
group as a feature, DR-learner, scikit-uplift's ``ClassTransformationReg``."""
RANDOM_DRAWS = 200


@dataclass(frozen=True)
class PublicParams:
    """LightGBM settings of the public evaluations (fixed beforehand)."""

    num_threads: int = 2
    seed: int = 0
    folds: int = 5
    test_share: float = 0.2
    # Rolling window (Moro et al. 2014): test blocks, and the calls each model is trained on
    # (the last ``window``; None: all earlier calls). Fixed before looking at the test figure.
    blocks: int = 10
    window: int | None = 20_000
    uplift_test_share: float = 0.3
    # Hillstrom: the learners compared beside the T-learner (the T-learner's is the headline).
    uplift_learners: tuple[str, ...] = UPLIFT_LEARNERS
    rounds: int = 300
    learning_rate: float = 0.05
    num_leaves: int = 15
    min_data_in_leaf: int = 50
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    lambda_l2: float = 1.0
    # Spend is zero for 99% of customers: a slower, coarser regression overfits less.
    spend_rounds: int = 150
    spend_min_data_in_leaf: int = 300

    def lgb(self, objective: str = "binary") -> dict[str, Any]:
        regression = objective == "regression"
        return lightgbm_params(
            objective,
            seed=self.seed,
            num_threads=self.num_threads,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_data_in_leaf=self.spend_min_data_in_leaf if regression else self.min_data_in_leaf,
            lambda_l2=self.lambda_l2,
            feature_fraction=self.feature_fraction,
            bagging_fraction=self.bagging_fraction,
        )


@dataclass
class PublicReport:
    """The figures of ``evaluate_public``; ``to_dict`` is what ``reports/public.json`` holds."""

    churn: dict[str, Any] = field(default_factory=dict)
    bank_marketing: dict[str, Any] = field(default_factory=dict)
    hillstrom: list[dict[str, Any]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "published": PUBLISHED}


def public_mapping(name: str, data_dir: Path) -> Mapping:
    """The packaged mapping of a public data set, reading its file from ``data_dir``.

    Raises:
        DataError: the data set's file is not in ``data_dir``.
    """
    path = data_dir / FILES[name]
    if not path.is_file():
        raise DataError(
            f"{FILES[name]} not found in {data_dir}: pass --data DIR or set RETAIN_PUBLIC_DATA"
        )
    with resources.as_file(resources.files("ingest") / "public" / f"{name}.yaml") as yml:
        mapping = load_mapping(yml, feature_names())
    return mapping.model_copy(update={"base": data_dir.absolute()})


def snapshot_frame(bank: Bank, drop: tuple[str, ...] = ()) -> tuple[pd.DataFrame, list[str]]:
    """One row per customer of a snapshot bank: its tables side by side, with the label.

    Timestamps become days before the snapshot (``<field>_days``); identifiers, gender (never a
    model feature), columns with one value and ``drop`` are left out of the features.

    Returns:
        (frame with ``customer_id``, ``label`` and every column, feature names).

    Raises:
        DataError: the bank has no snapshot labels, or a customer has several contacts.
    """
    if bank.labels is None:
        raise DataError("the public evaluation needs a snapshot mapping with a label")
    frame = bank.tables["customers"]
    for table in ("monthly", "campaigns"):
        rows = bank.tables[table]
        if rows.empty:
            continue
        if rows["customer_id"].duplicated().any():
            raise DataError(f"table {table}: a snapshot frame wants one row per customer")
        frame = frame.merge(rows, on="customer_id", how="left", suffixes=("", f"_{table}"))
    frame = frame.merge(bank.labels[["customer_id", "label"]], on="customer_id", how="inner")
    as_of = bank.mapping.as_of
    for column in list(frame.columns):
        if pd.api.types.is_datetime64_any_dtype(frame[column]):
            frame[f"{column}_days"] = (as_of - frame[column]).dt.total_seconds() / 86400.0
            frame = frame.drop(columns=column)
    ids = {"customer_id", "contact_id", "label", "gender"}
    features = [
        c
        for c in frame.columns
        if c not in ids and c not in drop and frame[c].nunique(dropna=True) > 1
    ]
    return frame, features


def _fit(
    x: pd.DataFrame, y: NDArray[np.float64], spec: FeatureSpec, params: dict[str, Any], rounds: int
) -> Any:
    import lightgbm as lgb

    data = lgb.Dataset(x, label=y, categorical_feature=list(spec.categorical), free_raw_data=True)
    return lgb.train(params, data, num_boost_round=rounds)


def _score(
    train: pd.DataFrame,
    test: pd.DataFrame,
    features: list[str],
    label: str,
    params: dict[str, Any],
    rounds: int,
) -> NDArray[np.float64]:
    """Fit on ``train``, predict ``test``: categories are learnt from the training rows only."""
    spec = fit_spec(train, features)
    booster = _fit(encode(train, spec), train[label].to_numpy(np.float64), spec, params, rounds)
    return np.asarray(booster.predict(encode(test, spec)), dtype=np.float64)


def cv_auc(
    frame: pd.DataFrame,
    features: list[str],
    p: PublicParams,
    label: str = "label",
    progress: Progress = silent,
) -> list[float]:
    """ROC AUC of each fold of a stratified, shuffled k-fold cross-validation."""
    from sklearn.model_selection import StratifiedKFold

    folds = StratifiedKFold(n_splits=p.folds, shuffle=True, random_state=p.seed)
    aucs = []
    for i, (a, b) in enumerate(folds.split(frame, frame[label])):
        train, test = frame.iloc[a], frame.iloc[b]
        scores = _score(train, test, features, label, p.lgb(), p.rounds)
        aucs.append(roc_auc(test[label].to_numpy(), scores))
        progress(i + 1, p.folds)
    return aucs


def time_split_auc(
    frame: pd.DataFrame, features: list[str], order: str, p: PublicParams, label: str = "label"
) -> dict[str, Any]:
    """Train on the earliest ``1 - test_share`` of the rows by ``order``, test on the rest."""
    frame = frame.sort_values(order, kind="stable", ignore_index=True)
    cut = int(round(len(frame) * (1.0 - p.test_share)))
    train, test = frame.iloc[:cut], frame.iloc[cut:]
    scores = _score(train, test, features, label, p.lgb(), p.rounds)
    return {
        "roc_auc": roc_auc(test[label].to_numpy(), scores),
        "train_rows": len(train),
        "test_rows": len(test),
        "train_positive_rate": float(train[label].mean()),
        "test_positive_rate": float(test[label].mean()),
    }


def rolling_auc(
    frame: pd.DataFrame,
    features: list[str],
    order: str,
    p: PublicParams,
    window: int | None,
    label: str = "label",
    progress: Progress = silent,
) -> dict[str, Any]:
    """Rolling-window evaluation over the latest ``test_share`` of the rows by ``order``.

    The test period is cut into ``p.blocks`` consecutive blocks; before each block a model is
    trained on the ``window`` rows just before it (all earlier rows when ``window`` is None), as
    if retrained when the block's calls arrive. ``roc_auc`` is over all held-out predictions
    pooled (as Moro et al. report it); ``block_auc`` is each block's own.
    """
    frame = frame.sort_values(order, kind="stable", ignore_index=True)
    cut = int(round(len(frame) * (1.0 - p.test_share)))
    bounds = np.linspace(cut, len(frame), p.blocks + 1).round().astype(int)
    scores, blocks = [], []
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        train = frame.iloc[0 if window is None else max(0, a - window) : a]
        test = frame.iloc[a:b]
        scores.append(_score(train, test, features, label, p.lgb(), p.rounds))
        y = test[label].to_numpy()
        blocks.append(
            {
                "rows": int(b - a),
                "train_rows": len(train),
                "positive_rate": float(y.mean()),
                "roc_auc": roc_auc(y, scores[-1]),
            }
        )
        progress(i + 1, p.blocks)
    y_all = frame[label].to_numpy()[cut:]
    return {
        "roc_auc": roc_auc(y_all, np.concatenate(scores)),
        "block_auc_mean": float(np.nanmean([blk["roc_auc"] for blk in blocks])),
        "window": window,
        "blocks": blocks,
    }


def out_of_range_share(train: pd.DataFrame, test: pd.DataFrame, columns: list[str]) -> float:
    """Share of ``test`` rows with a value of ``columns`` outside its range in ``train``: rows on
    which a tree model cannot follow the value (it treats them as the nearest edge)."""
    outside = np.zeros(len(test), dtype=bool)
    for c in columns:
        outside |= ((test[c] < train[c].min()) | (test[c] > train[c].max())).to_numpy()
    return float(outside.mean())


def _outcome_model(kind: str, p: PublicParams) -> tuple[str, int]:
    """LightGBM's objective and rounds for an outcome: a visit (binary) or the spend."""
    return ("binary", p.rounds) if kind == "binary" else ("regression", p.spend_rounds)


def t_learner_uplift(
    train: pd.DataFrame,
    test: pd.DataFrame,
    features: list[str],
    treatment: str,
    outcome: str,
    kind: str,
    p: PublicParams,
) -> dict[str, NDArray[np.float64]]:
    """Predicted uplift of each arm of ``TREATMENTS`` over ``CONTROL`` on ``outcome`` for the
    ``test`` rows: a model of the outcome in the arm minus one of it in the control group."""
    objective, rounds = _outcome_model(kind, p)
    params = p.lgb(objective)
    pred = {
        group: _score(train[train[treatment] == group], test, features, outcome, params, rounds)
        for group in (CONTROL, *TREATMENTS)
    }
    return {arm: pred[arm] - pred[CONTROL] for arm in TREATMENTS}


def s_learner_uplift(
    train: pd.DataFrame,
    test: pd.DataFrame,
    features: list[str],
    treatment: str,
    outcome: str,
    kind: str,
    p: PublicParams,
) -> dict[str, NDArray[np.float64]]:
    """One model of the outcome with the group as a feature; the uplift of an arm is its
    prediction with the arm minus with the control."""
    objective, rounds = _outcome_model(kind, p)
    spec = fit_spec(train, [*features, treatment])
    booster = _fit(
        encode(train, spec), train[outcome].to_numpy(np.float64), spec, p.lgb(objective), rounds
    )
    pred = {
        g: np.asarray(booster.predict(encode(test.assign(**{treatment: g}), spec)), np.float64)
        for g in (CONTROL, *TREATMENTS)
    }
    return {arm: pred[arm] - pred[CONTROL] for arm in TREATMENTS}


def propensity_uplift(
    train: pd.DataFrame,
    test: pd.DataFrame,
    features: list[str],
    treatment: str,
    outcome: str,
    kind: str,
    p: PublicParams,
    learner: str,
) -> dict[str, NDArray[np.float64]]:
    """The DR-learner (``dr``: the doubly robust pseudo-outcome, group models cross-fitted over
    two folds) or scikit-uplift's ``ClassTransformationReg`` (``sklift_ct``), per arm against the
    control, given the design's propensity (the arm's share of the arm and control rows: the
    e-mails were assigned at random)."""
    from lightgbm import LGBMRegressor
    from sklift.models import ClassTransformationReg

    from training.uplift.model import dr_pseudo_outcome

    objective, rounds = _outcome_model(kind, p)
    out = {}
    for arm in TREATMENTS:
        rows = train[train[treatment].isin([arm, CONTROL])].reset_index(drop=True)
        treated = (rows[treatment] == arm).to_numpy(np.float64)
        y = rows[outcome].to_numpy(np.float64)
        e = float(treated.mean())
        if learner == "sklift_ct":
            spec = fit_spec(rows, features)
            estimator = LGBMRegressor(n_estimators=p.spend_rounds, **p.lgb("regression"))
            model = ClassTransformationReg(estimator=estimator, propensity_val=e)
            model.fit(
                encode(rows, spec),
                y,
                treated.astype(int),
                estimator_fit_params={"categorical_feature": list(spec.categorical) or "auto"},
            )
            out[arm] = np.asarray(model.predict(encode(test, spec)), dtype=np.float64)
            continue
        fold = np.random.default_rng(p.seed).permutation(len(rows)) % 2
        m = {g: np.zeros(len(rows)) for g in (0, 1)}
        for f in (0, 1):
            for g in (0, 1):
                fit_on = rows[(fold != f) & (treated == g)]
                m[g][fold == f] = _score(
                    fit_on, rows[fold == f], features, outcome, p.lgb(objective), rounds
                )
        pseudo = dr_pseudo_outcome(y, treated, m[0], m[1], e)
        out[arm] = _score(
            rows.assign(_pseudo=pseudo),
            test,
            features,
            "_pseudo",
            p.lgb("regression"),
            p.spend_rounds,
        )
    return out


def hillstrom_learners(
    train: pd.DataFrame,
    test: pd.DataFrame,
    features: list[str],
    treatment: str,
    outcome: str,
    kind: str,
    p: PublicParams,
) -> dict[str, dict[str, NDArray[np.float64]]]:
    """Learner of ``UPLIFT_LEARNERS`` -> arm -> predicted uplift of the ``test`` rows."""
    args = (train, test, features, treatment, outcome, kind, p)
    learners = {
        "t": lambda: t_learner_uplift(*args),
        "s": lambda: s_learner_uplift(*args),
        "dr": lambda: propensity_uplift(*args, "dr"),
        "sklift_ct": lambda: propensity_uplift(*args, "sklift_ct"),
    }
    return {name: learners[name]() for name in ("t", *p.uplift_learners) if name in learners}


def _random_spread(
    y: NDArray[np.float64],
    treated: NDArray[np.bool_],
    rng: np.random.Generator,
    draws: int = RANDOM_DRAWS,
) -> dict[str, float]:
    """Random rankings of these rows: the spread of their Qini coefficient (mean 0) and the 95th
    percentiles of their Qini and AUUC, the noise floor a model must clear to mean anything."""
    scores = [rng.random(len(y)) for _ in range(draws)]
    qini = np.array([qini_coefficient(y, s, treated) for s in scores])
    area = np.array([uplift_area(y, s, treated) for s in scores])
    return {
        "qini_random_sd": float(np.std(qini)),
        "qini_random_p95": float(np.quantile(qini, 0.95)),
        "auuc_random_p95": float(np.quantile(area, 0.95)),
    }


def uplift_report(
    frame: pd.DataFrame,
    features: list[str],
    treatment: str,
    p: PublicParams,
    progress: Progress = silent,
) -> list[dict[str, Any]]:
    """Qini coefficient and AUUC of a T-learner (``qini``, ``auuc``) and of every learner of
    ``UPLIFT_LEARNERS`` (``learners``) for each arm and outcome, on a held-out share drawn at
    random within each group, beside random rankings of the same rows."""
    rng = np.random.default_rng(p.seed)
    is_test = np.zeros(len(frame), dtype=bool)
    for _, idx in frame.groupby(treatment).indices.items():
        is_test[rng.choice(idx, size=int(round(len(idx) * p.uplift_test_share)), replace=False)] = (
            True
        )
    train, test = frame[~is_test], frame[is_test]
    uplift = {}
    for i, (outcome, kind) in enumerate(UPLIFT_OUTCOMES.items()):
        uplift[outcome] = hillstrom_learners(train, test, features, treatment, outcome, kind, p)
        progress(i + 1, len(UPLIFT_OUTCOMES))
    rows: list[dict[str, Any]] = []
    for arm in TREATMENTS:
        in_arm = test[treatment].isin([arm, CONTROL]).to_numpy()
        treated = (test[treatment] == arm).to_numpy()[in_arm]
        for outcome in UPLIFT_OUTCOMES:
            y = test[outcome].to_numpy(np.float64)[in_arm]
            score = uplift[outcome]["t"][arm][in_arm]
            learners = {
                name: {
                    "qini": qini_coefficient(y, by_arm[arm][in_arm], treated),
                    "auuc": uplift_area(y, by_arm[arm][in_arm], treated),
                }
                for name, by_arm in uplift[outcome].items()
            }
            rows.append(
                {
                    "treatment": arm,
                    "outcome": outcome,
                    "test_rows": int(in_arm.sum()),
                    "treated_mean": float(y[treated].mean()),
                    "control_mean": float(y[~treated].mean()),
                    "effect": float(y[treated].mean() - y[~treated].mean()),
                    "qini": qini_coefficient(y, score, treated),
                    "auuc": uplift_area(y, score, treated),
                    "auuc_random": uplift_area_random(y, treated),
                    **_random_spread(y, treated, rng),
                    "learners": learners,
                }
            )
    return rows


def feast_frame(bank: Bank, home: Path, services: tuple[str, ...]) -> dict[str, Any]:
    """The bank's snapshot through retain's pipeline, in a fresh home folder ``home``: ingest
    (raw tables and extras), ``features build``, ``features apply``, then the training frame
    (snapshot labels, point-in-time) through the first of ``services``.

    Returns:
        ``frame``, and each service's feature names under its own name.

    Raises:
        DataError: the bank has no snapshot labels, or a table cannot be written.
    """
    from features.build import build_sources
    from features.frames import feature_names, training_frame
    from features.store import apply
    from ingest.write import write_bank

    if bank.labels is None:
        raise DataError("the public evaluation needs a snapshot mapping with a label")
    settings = Settings().with_home(home)
    write_bank(bank, settings)
    build_sources(settings)
    apply(settings)
    out: dict[str, Any] = {"frame": training_frame(settings, services[0])}
    for service in services:
        out[service] = feature_names(settings, service)
    return out


def evaluate_churn(data_dir: Path, p: PublicParams, progress: Progress = silent) -> dict[str, Any]:
    """Churn AUC of a k-fold CV on frames built through the Feast pipeline: ``churn_bank_v1``
    (retain's features and the bank's extras, the headline) and ``churn_v1`` alone."""
    import tempfile

    from features.extras import SERVICE

    start = time.perf_counter()
    bank = read_bank(public_mapping("churn_modelling", data_dir))
    with tempfile.TemporaryDirectory(prefix="retain-public-") as tmp:
        built = feast_frame(bank, Path(tmp), (SERVICE, "churn_v1"))
    frame, features = built["frame"], built[SERVICE]
    aucs = cv_auc(frame, features, p, progress=progress)
    base = cv_auc(
        frame, built["churn_v1"], p, progress=lambda d, t: progress(p.folds + d, 2 * p.folds)
    )
    return {
        "rows": len(frame),
        "positive_rate": float(frame["label"].mean()),
        "feature_service": SERVICE,
        "features": features,
        "fold_auc": aucs,
        "roc_auc": float(np.mean(aucs)),
        "roc_auc_std": float(np.std(aucs)),
        "churn_v1_roc_auc": float(np.mean(base)),
        "seconds": round(time.perf_counter() - start, 1),
    }


MACRO: tuple[str, ...] = (
    "emp_var_rate",
    "cons_price_idx",
    "cons_conf_idx",
    "euribor3m",
    "nr_employed",
)
"""Bank Marketing's macro-economic indicators (one value per period, not per client)."""


def bank_marketing_steps(p: PublicParams, context_cv: bool = True) -> int:
    """Models ``evaluate_bank_marketing`` fits: static, two rolling windows, the shuffled CV."""
    return 1 + 2 * p.blocks + (p.folds if context_cv else 0)


def evaluate_bank_marketing(
    data_dir: Path, p: PublicParams, progress: Progress = silent, context_cv: bool = True
) -> dict[str, Any]:
    """Rolling-window AUC over the later calls (the protocol of Moro et al., the headline
    ``roc_auc``), with the last ``p.window`` calls and with every earlier call (``expanding``);
    the static time split (``static``: one model, no retraining); with ``context_cv`` the
    shuffled k-fold AUC, which ignores time and so flatters the model.

    ``macro_out_of_range`` is the share of held-out calls whose macro-economic indicators lie
    outside the range the model was trained on (the static split, and pooled over the blocks).
    """
    start = time.perf_counter()
    bank = read_bank(public_mapping("bank_marketing", data_dir))
    frame, features = snapshot_frame(bank, drop=("outcome",))
    steps = bank_marketing_steps(p, context_cv)
    static = time_split_auc(frame, features, "contact_id", p)
    progress(1, steps)
    rolling = rolling_auc(
        frame, features, "contact_id", p, p.window, progress=lambda d, t: progress(1 + d, steps)
    )
    expanding = rolling_auc(
        frame,
        features,
        "contact_id",
        p,
        None,
        progress=lambda d, t: progress(1 + p.blocks + d, steps),
    )
    cv = (
        cv_auc(frame, features, p, progress=lambda d, t: progress(1 + 2 * p.blocks + d, steps))
        if context_cv
        else []
    )
    ordered = frame.sort_values("contact_id", kind="stable", ignore_index=True)
    cut = static["train_rows"]
    macro = [c for c in MACRO if c in features]
    bounds = np.cumsum([cut] + [b["rows"] for b in rolling["blocks"]])
    outside = [
        out_of_range_share(ordered.iloc[max(0, a - (p.window or a)) : a], ordered.iloc[a:b], macro)
        * (b - a)
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    return {
        "roc_auc": rolling["roc_auc"],
        "rows": len(frame),
        "test_rows": static["test_rows"],
        "features": features,
        "rolling": rolling,
        "expanding": expanding,
        "static": static,
        "macro_out_of_range": {
            "static": out_of_range_share(ordered.iloc[:cut], ordered.iloc[cut:], macro),
            "rolling": float(sum(outside) / static["test_rows"]),
        },
        "cv_roc_auc": float(np.mean(cv)) if cv else float("nan"),
        "seconds": round(time.perf_counter() - start, 1),
    }


def evaluate_hillstrom(
    data_dir: Path, p: PublicParams, progress: Progress = silent
) -> list[dict[str, Any]]:
    start = time.perf_counter()
    bank = read_bank(public_mapping("hillstrom", data_dir))
    outcomes = ("outcome", "visit", "conversion", "spend", "action_id")
    frame, features = snapshot_frame(bank, drop=outcomes)
    rows = uplift_report(frame, features, "action_id", p, progress)
    seconds = round(time.perf_counter() - start, 1)
    return [{**r, "features": features, "seconds": seconds} for r in rows]


def evaluate_public(
    data_dir: Path,
    p: PublicParams | None = None,
    progress: Progress = silent,
    names: tuple[str, ...] = tuple(FILES),
) -> PublicReport:
    """The public evaluations (all three by default).

    Args:
        data_dir: the folder holding ``FILES``.
        p: LightGBM settings (default ``PublicParams()``).
        progress: called as ``progress(models_done, models_total)``.
        names: which data sets (keys of ``FILES``).

    Raises:
        DataError: a file is missing, or a file does not follow its mapping.
    """
    p = p or PublicParams()
    unknown = [n for n in names if n not in FILES]
    if unknown:
        raise DataError(f"unknown public data set {unknown[0]!r}: use one of {', '.join(FILES)}")
    for name in names:
        public_mapping(name, data_dir)  # every file present before the first model
    steps = {
        "churn_modelling": 2 * p.folds,
        "bank_marketing": bank_marketing_steps(p),
        "hillstrom": len(UPLIFT_OUTCOMES),
    }
    total = sum(steps[n] for n in names)
    report = PublicReport(params=asdict(p))
    done = 0
    for name in names:

        def step(d: int, t: int, offset: int = done) -> None:
            progress(offset + d, total)

        if name == "churn_modelling":
            report.churn = evaluate_churn(data_dir, p, step)
        elif name == "bank_marketing":
            report.bank_marketing = evaluate_bank_marketing(data_dir, p, step)
        else:
            report.hillstrom = evaluate_hillstrom(data_dir, p, step)
        done += steps[name]
    return report


def window_text(window: int | None) -> str:
    """How many calls each rolling-window model is trained on, in words."""
    return "every earlier call" if window is None else f"the last {window:,} calls"


def markdown(report: PublicReport) -> str:
    """The report as a markdown table: retain's figure beside the published one."""
    c, b = report.churn, report.bank_marketing
    lines = ["| data set | task | retain | published |", "|---|---|---|---|"]
    if c:
        lines.append(
            f"| Churn_Modelling.csv | churn, {len(c['fold_auc'])}-fold CV ROC AUC, through the "
            f"feature service {c['feature_service']} | {c['roc_auc']:.3f} "
            f"(± {c['roc_auc_std']:.3f}; churn_v1 alone, without the bank's own columns: "
            f"{c['churn_v1_roc_auc']:.3f}) | {PUBLISHED['churn_modelling']} |"
        )
    if b:
        r, e, st = b["rolling"], b["expanding"], b["static"]
        lines.append(
            f"| bank-additional-full.csv | offer propensity, no `duration`, later "
            f"{b['test_rows']:,} calls held out in {len(r['blocks'])} blocks, retrained before "
            f"each on {window_text(r['window'])} (rolling window), ROC AUC of the pooled "
            f"predictions | {r['roc_auc']:.3f} (mean per block {r['block_auc_mean']:.3f}; "
            f"on every earlier call {e['roc_auc']:.3f}; no retraining {st['roc_auc']:.3f}; "
            f"shuffled CV, ignoring time: {b['cv_roc_auc']:.3f}) | {PUBLISHED['bank_marketing']} |"
        )
    for r in report.hillstrom:
        unit = "visits" if r["outcome"] == "visit" else "$"
        lines.append(
            f"| hillstrom.csv | uplift of {r['treatment']} on {r['outcome']}: Qini (random 0 "
            f"± sd) / AUUC, {unit} per customer (random) | {r['qini']:.3f} "
            f"(± {r['qini_random_sd']:.3f}) / {r['auuc']:.4f} ({r['auuc_random']:.4f}); "
            f"observed effect {r['effect']:.4f} | {PUBLISHED['hillstrom']} |"
        )
        others = "; ".join(
            f"{name} {v['qini']:.3f} / {v['auuc']:.4f}" for name, v in r["learners"].items()
        )
        lines.append(
            f"| hillstrom.csv | the same, every learner: Qini / AUUC (random p95 "
            f"{r['qini_random_p95']:.3f} / {r['auuc_random_p95']:.4f}) | {others} | |"
        )
    return "\n".join(lines) + "\n"


def log_public(settings: Settings, report: PublicReport, experiment: str = EXPERIMENT) -> str:
    """Log the figures as one MLflow run of ``experiment``; returns the run id.

    Raises:
        ConfigError: the tracking store cannot be reached.
    """
    import mlflow

    from training.tracking import code_version, experiment_id, tracking

    metrics: dict[str, float] = {}
    if report.churn:
        metrics["churn_modelling_cv_auc"] = report.churn["roc_auc"]
        metrics["churn_modelling_churn_v1_cv_auc"] = report.churn["churn_v1_roc_auc"]
    if report.bank_marketing:
        metrics["bank_marketing_rolling_auc"] = report.bank_marketing["rolling"]["roc_auc"]
        metrics["bank_marketing_expanding_auc"] = report.bank_marketing["expanding"]["roc_auc"]
        metrics["bank_marketing_time_split_auc"] = report.bank_marketing["static"]["roc_auc"]
        metrics["bank_marketing_cv_auc"] = report.bank_marketing["cv_roc_auc"]
    for r in report.hillstrom:
        key = f"hillstrom_{r['treatment']}_{r['outcome']}"
        metrics.update({f"{key}_qini": r["qini"], f"{key}_auuc": r["auuc"]})
        metrics[f"{key}_auuc_random"] = r["auuc_random"]
        metrics[f"{key}_qini_random_p95"] = r["qini_random_p95"]
        for name, v in r["learners"].items():
            metrics.update({f"{key}_{name}_qini": v["qini"], f"{key}_{name}_auuc": v["auuc"]})
    with tracking(settings):
        with mlflow.start_run(experiment_id=experiment_id(settings, experiment)) as run:
            mlflow.log_params({k: v for k, v in report.params.items()})
            mlflow.set_tag("code_version", code_version())
            mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v == v})
            mlflow.log_dict(report.to_dict(), "public.json")
            mlflow.log_text(markdown(report), "public.md")
        return str(run.info.run_id)
