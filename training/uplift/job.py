"""``retain train uplift``: the effect of each retention action on churn, learned from the
randomised part of the campaign history; evaluated, logged to MLflow, registered as
``retain-uplift`` with alias ``challenger``.

What is estimated: the change in P(churn within the horizon) if an action is offered *rather than
nothing*, the number the decision needs (an offer must beat doing nothing, not another offer).
So the comparison group is the customer-months the bank could have contacted and did not
(``training.uplift.data``), not the randomised cross-sell contacts: a cross-sell contact carries
the same contact effect as a retention offer, and on the simulated bank that effect (any contact
wakes a "sleeping dog") is the largest and most uneven part of the true effects (at 50k customers
the true effect of a fee waiver correlates 0.93 with the true effect of a bare contact); a
cross-sell control would cancel it and call an offer to a sleeping dog harmless. The no-contact
months are observational, but the bank's targeting rules read only the month-end snapshot that the
features hold, so the control model, conditioned on the features, is not confounded. (Adding the
rules' own contacts to the control, i.e. "offer vs business as usual", which the experiment
identifies without that assumption, gave the same estimates at 50k customers.)

Evaluation on the later contacts (a horizon after the training contacts): the Qini coefficient and
AUUC (``training.uplift.metrics``) of the model, random targeting, the churn score (the churn model
given, ``retain-churn@champion`` from the command line, else the control model) and, on simulated
data, the true effects. The headline ``test_qini_mean``/``test_auuc_mean``, which the gate
(``training.gate.decide_uplift``) and the selection read, follows the gate's protocol
(``training.uplift.protocol.GATE``): every retention offer made against the holdouts assigned the
same offer, in every randomised audience of the log (the experiment's and each rule's), per action
(``test_qini_<action>``) and their mean. Beside it, on the experiment's rows only and per action:
``..._vs_cross_sell_...`` (the randomised cross-sell contacts as control: the offer beyond a bare
contact; the headline before), ``..._vs_none_...`` (the no-contact months) and
``..._vs_holdout_...`` (the experiment's holdouts). Random rankings of the same window give the
noise floor (``random_test_<metric>_p95...``, the 95th percentile of 200) that the gate asks the
model to clear. With the truth at hand it also logs the correlation of predicted and true effects
and the true effect of each ranker's top 10%.

Which learner: ``training.uplift.model.KINDS`` (the pooled models, a T-learner, a DR-learner and
scikit-uplift's transformed outcome) are fitted together (``fit_learners``: one control model
for all) on the training window less its last
``valid_months`` months (and a horizon's gap) and scored on those months; the one with the best
validation Qini (``valid_qini_mean``, the headline's protocol) is kept, a tie (within
``tie``) going to the simpler learner (earlier in ``KINDS``). The rule is fixed before any test
figure is computed; then every learner is refitted on the whole training window and measured on
the test window, and all their figures are logged (``learner_<kind>_...``) beside the kept
learner's headline figures, so the selection can be audited.

What to expect: the experiment is 4% of eligible customer-months, so a 10k-customer bank holds
about 260 randomised contacts per action to train on (5-10 churners each) and 100 to test on;
the rules' audiences, randomised with their holdouts, add five times more. Even so, at 10k
customers the gate's test accepts the true effects on only half of the banks (the protocol's
power, ``training.uplift.protocol``); at 50k it accepted them on every bank tried. On the
simulator much of the true effects' spread is the latent "sleeping dog" type, which the features
barely reveal (the observable ceiling, ``retain evaluate uplift-ceiling``: correlation 0.36 at
10k customers, 0.46 at 50k).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from retain.core.churn import HORIZON_DAYS, ChurnDefinition
from retain.core.columns import KEY, LABEL
from retain.core.errors import DataError
from retain.core.progress import Progress, silent
from retain.core.settings import Settings
from retain.core.tables import RETENTION_ACTIONS
from retain.core.truth import GroundTruth
from training.config import FEATURE_SERVICE, MODEL_NAMES
from training.encode import encode, fit_spec
from training.registry import register_challenger
from training.tracking import experiment_id, log_boosters, log_lineage, run_info, tracking
from training.uplift.data import (
    ARM,
    MAX_CONTROLS,
    NONE,
    WEIGHT,
    arm_counts,
    load_frame,
    time_split,
)
from training.uplift.metrics import pool_actions, qini_curve, truth_metrics
from training.uplift.model import (
    ARTIFACT_DIR,
    KINDS,
    Kind,
    LearnerConfig,
    UpliftModel,
    fit_learners,
)
from training.uplift.protocol import GATE, side_figures

EXPERIMENT = "retain-uplift"
MODEL_NAME = MODEL_NAMES["uplift"]


@dataclass(frozen=True)
class UpliftConfig:
    """How ``retain train uplift`` trains.

    Attributes:
        seed, num_threads: LightGBM's (fixed: the same data gives the same model).
        kind: one learner of ``training.uplift.model.KINDS``, or None (default) to select one
            of ``learners`` on the validation window.
        learners: the learners compared when ``kind`` is None, simplest first.
        compare: also refit every learner on the whole training window and measure it on the
            test window beside the kept one (the side-by-side table; one fit per learner more).
        valid_months: latest months of the training window the selection scores on.
        tie: validation Qini differences up to this are ties (the simpler learner wins).
        horizon_days: churn horizon after the send time; train and test are this far apart.
        test_months: latest months of labelled contacts in the test window (9: the width
            chosen with the gate's protocol, ``training.uplift.protocol``).
        min_contacts: randomised contacts per retention action the train window must hold.
        max_controls: no-contact customer-months kept at most (a seeded sample).
        service: the Feast FeatureService.
    """

    seed: int = 7
    num_threads: int = 2
    kind: Kind | None = None
    learners: tuple[Kind, ...] = KINDS
    compare: bool = False
    valid_months: int = 3
    tie: float = 0.001
    horizon_days: int = HORIZON_DAYS
    test_months: int = 9
    min_contacts: int = 40
    max_controls: int = MAX_CONTROLS
    service: str = FEATURE_SERVICE

    def learner(self, kind: Kind) -> LearnerConfig:
        return LearnerConfig(kind=kind, seed=self.seed, num_threads=self.num_threads)


@dataclass
class FittedUplift:
    """A trained uplift model and what was measured on the test window."""

    model: UpliftModel
    metrics: dict[str, float]
    info: dict[str, Any]
    curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)


@dataclass
class UpliftResult:
    run_id: str
    version: str
    metrics: dict[str, float]
    fitted: FittedUplift


def _check_sizes(counts: dict[str, int], minimum: int) -> None:
    short = {a: counts.get(f"n_{a}", 0) for a in RETENTION_ACTIONS}
    if min(short.values()) < minimum or counts.get(f"n_{NONE}", 0) < minimum:
        found = ", ".join(f"{a} {n}" for a, n in short.items())
        raise DataError(
            f"too few randomised retention contacts to learn uplift from (train window: {found}; "
            f"no-contact months {counts.get(f'n_{NONE}', 0)}; need {minimum} each): simulate or "
            "ingest a bigger or longer campaign history"
        )


@dataclass(frozen=True)
class ChurnScorer:
    """A churn model the evaluation ranks by, next to the uplift model.

    Attributes:
        name: what the run records as its ``churn_score`` (``retain-churn@champion``).
        predict: P(churn within the horizon) of rows of the uplift frame.
    """

    name: str
    predict: Callable[[pd.DataFrame], NDArray[np.float64]]


def _churn_scores(
    churn_score: ChurnScorer | None, test: pd.DataFrame, model: UpliftModel, x: Any
) -> tuple[NDArray[np.float64], str]:
    """P(churn) from ``churn_score``, else (or when it cannot score these rows) the control
    model."""
    if churn_score is not None:
        try:
            return churn_score.predict(test), churn_score.name
        except DataError:  # a churn model on another feature service lacks some features here
            pass
    return model.churn_no_contact(x), "control model"


def _fit(
    frame: pd.DataFrame, spec: Any, config: UpliftConfig, kinds: tuple[Kind, ...]
) -> dict[Kind, UpliftModel]:
    """Every learner of ``kinds`` on the same rows, sharing their control model."""
    weight = frame[WEIGHT].to_numpy(dtype=np.float64) if WEIGHT in frame else None
    return fit_learners(
        encode(frame, spec),
        frame[LABEL].to_numpy(dtype=np.float64),
        frame[ARM].to_numpy().astype(str),
        frame[KEY].to_numpy(dtype=np.int64),
        spec,
        config.learner(kinds[0]),
        kinds,
        weight=weight,
    )


def _qini_mean(model: UpliftModel, rows: pd.DataFrame) -> dict[str, float]:
    """``test_qini_mean`` and ``test_auuc_mean`` of a model on rows (the gate's protocol)."""
    scores = {"model": -model.effects(encode(rows, model.spec).to_numpy())}
    m = GATE.figures(rows, scores, model.actions)
    return {k: m[f"test_{k}_mean"] for k in ("qini", "auuc")}


def select_learner(
    train: pd.DataFrame, spec: Any, config: UpliftConfig
) -> tuple[Kind, dict[str, float], str]:
    """The rule fixed before the test window is looked at: fit every learner on the training
    window less its last ``valid_months`` months, keep the best validation Qini; ties (within
    ``config.tie``) go to the simpler learner.

    Returns:
        (the kept kind, ``learner_<kind>_valid_{qini,auuc}_mean`` figures, the validation window;
        ``-`` and the first learner when the training window is too short to hold one out).
    """
    try:
        split = time_split(train, config.horizon_days, config.valid_months)
        masks = split.masks(train)
        _check_sizes(arm_counts(train[masks["train"]]), config.min_contacts)
    except DataError:
        return config.learners[0], {}, "-"
    fit_rows, valid = train[masks["train"]], train[masks["test"]]
    figures: dict[str, float] = {}
    for kind, model in _fit(fit_rows, spec, config, config.learners).items():
        scored = _qini_mean(model, valid)
        figures.update({f"learner_{kind}_valid_{k}_mean": v for k, v in scored.items()})
    qini: dict[str, float] = {k: figures[f"learner_{k}_valid_qini_mean"] for k in config.learners}
    return (
        keep_best(qini, config.learners, config.tie),
        figures,
        split.windows(train)["test_window"],
    )


def keep_best(valid_qini: Mapping[str, float], order: tuple[Kind, ...], tie: float) -> Kind:
    """The learner with the best validation Qini; those within ``tie`` of it count as equal and
    the first of them in ``order`` (simplest first) is kept; the first learner when no figure
    is finite."""
    finite = [v for v in valid_qini.values() if np.isfinite(v)]
    if not finite:
        return order[0]
    best = max(finite)
    return next(
        k for k in order if np.isfinite(valid_qini.get(k, np.nan)) and valid_qini[k] >= best - tie
    )


def fit_and_evaluate(
    frame: pd.DataFrame,
    features: list[str],
    config: UpliftConfig,
    progress: Progress = silent,
    *,
    truth: GroundTruth | None = None,
    churn_score: ChurnScorer | None = None,
) -> FittedUplift:
    """Split by send time, select a learner on the training window, fit it on the earlier rows
    and measure it on the later ones (every learner, with ``config.compare``).

    Args:
        frame: ``training.uplift.data.load_frame``'s rows and features.
        features: the service's features, in order.
        config: training configuration.
        progress: called as progress(done, total).
        truth: the simulated bank's ground truth (None on a bank's own data).
        churn_score: the churn model to compare with (None: the control model's churn).

    Raises:
        DataError: too few months or too few randomised contacts.
    """
    split = time_split(frame, config.horizon_days, config.test_months)
    masks = split.masks(frame)
    train, test = frame[masks["train"]], frame[masks["test"]].reset_index(drop=True)
    counts_train, counts_test = arm_counts(train), arm_counts(test)
    _check_sizes(counts_train, config.min_contacts)
    progress(1, 5)
    spec = fit_spec(train, features)
    if config.kind is None:
        kind, selection, valid_window = select_learner(train, spec, config)
        kinds = config.learners if config.compare else (kind,)
    else:
        kind, selection, valid_window, kinds = config.kind, {}, "-", (config.kind,)
    models = _fit(train, spec, config, kinds)
    model = models[kind]
    progress(2, 5)
    actions = model.actions
    x_test = encode(test, spec).to_numpy()
    true = truth.offer_effects(test, RETENTION_ACTIONS) if truth is not None else None
    metrics: dict[str, float] = dict(selection)
    for k, m in models.items():
        metrics.update(_learner_metrics(k, m.effects(x_test), test, actions, true))
    predicted = model.effects(x_test)
    churn_p, churn_source = _churn_scores(churn_score, test, model, x_test)
    scores = {"model": -predicted, "churn_score": np.repeat(churn_p[:, None], len(actions), 1)}
    if true is not None:
        scores["truth"] = -np.nan_to_num(true, nan=0.0)
    metrics.update(GATE.figures(test, scores, actions, seed=config.seed))
    metrics.update(side_figures(test, scores, actions, seed=config.seed))
    progress(3, 5)
    if true is not None:
        metrics.update(truth_metrics(predicted, true, actions, scores))
    metrics.update({f"train_{k}": float(v) for k, v in counts_train.items()})
    metrics.update({f"test_{k}": float(v) for k, v in counts_test.items()})
    curves = _qini_curves(test, scores, actions)
    info = run_info(
        config.service,
        features,
        split.windows(frame),
        config.horizon_days,
        frame,
        kind=model.kind,
        learners=",".join(kinds),
        valid_window=valid_window,
        churn_score=churn_source,
        truth=true is not None,
    )
    model.info = {k: v for k, v in info.items() if k not in ("churn_score", "truth", "learners")}
    progress(4, 5)
    return FittedUplift(model, metrics, info, curves)


def _learner_metrics(
    kind: str,
    predicted: NDArray[np.float64],
    test: pd.DataFrame,
    actions: tuple[str, ...],
    true: NDArray[np.float64] | None,
) -> dict[str, float]:
    """One learner's test figures as ``learner_<kind>_test_{qini,auuc}[_vs_none]_mean`` and,
    with the truth, ``learner_<kind>_truth_corr_mean``."""
    scores = {"model": -predicted}
    m = {**GATE.figures(test, scores, actions), **side_figures(test, scores, actions)}
    out = {f"learner_{kind}_{k}": v for k, v in m.items() if k.endswith("_mean")}
    if true is not None:
        corr = truth_metrics(predicted, true, actions, {})["truth_corr_mean"]
        out[f"learner_{kind}_truth_corr_mean"] = corr
    return out


def _qini_curves(
    test: pd.DataFrame, scores: dict[str, np.ndarray], actions: tuple[str, ...]
) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """The Qini curve of each of the gate's treatments per ranker, on the gate's comparison."""
    churned, arm = test[LABEL].to_numpy(dtype=np.float64), GATE.arms(test)
    if GATE.pooled:
        arm, scores, actions = pool_actions(arm, scores, actions)
    out: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for j, action in enumerate(actions):
        rows = (arm == action) | (arm == GATE.control.format(action=action))
        out[action] = {
            name: qini_curve(1.0 - churned[rows], s[rows, j], arm[rows] == action)
            for name, s in scores.items()
        }
    return out


def _qini_figure(curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]) -> Any:
    from training.plots import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 4), squeeze=False)
    for ax, (action, by_ranker) in zip(axes[0], curves.items(), strict=True):
        for name, (x, q) in by_ranker.items():
            ax.plot(x / max(x[-1], 1.0), q, label=name)
        x, q = next(iter(by_ranker.values()))
        ax.plot([0, 1], [0, q[-1]], "k:", lw=1, label="random")
        ax.set(title=action, xlabel="share targeted", ylabel="extra customers kept (Qini)")
        ax.legend(fontsize=7)
    fig.suptitle("Qini curves on the test window (the gate's comparison: offer vs its holdouts)")
    fig.tight_layout()
    return fig


def log_uplift(settings: Settings, fitted: FittedUplift, config: UpliftConfig, run_id: str) -> str:
    """Log a fitted model into the active run and register it with alias ``challenger``.

    Returns:
        The registered version.
    """
    import mlflow

    from training import plots
    from training.uplift.pyfunc import UpliftPyfunc

    info = fitted.info
    log_lineage(
        config,
        info,
        MODEL_NAME,
        fitted.metrics,
        {
            "train_window": info["train_window"],
            "test_window": info["test_window"],
            "churn_score": info["churn_score"],
            "actions": ",".join(fitted.model.actions),
            "learner": fitted.model.kind,
            "valid_window": info["valid_window"],
        },
    )
    mlflow.log_dict({"metrics": fitted.metrics, "info": info}, "evaluation.json")
    fig = _qini_figure(fitted.curves)
    mlflow.log_figure(fig, "plots/qini.png")
    plots.close([fig])
    uri = log_boosters(fitted.model, ARTIFACT_DIR, UpliftPyfunc())
    return register_challenger(
        settings,
        uri,
        MODEL_NAME,
        run_id,
        "Change in P(churn within the horizon) if each retention action is offered rather than "
        "nothing (negative keeps the customer).",
    )


def train_uplift(
    settings: Settings,
    seed: int = 7,
    num_threads: int = 2,
    progress: Progress = silent,
    *,
    config: UpliftConfig | None = None,
    frame: tuple[pd.DataFrame, list[str]] | None = None,
    truth: GroundTruth | None = None,
    churn_score: ChurnScorer | None = None,
) -> UpliftResult:
    """The ``retain train uplift`` job: rows, features, fit, evaluate, log, register.

    Args:
        settings: where the data and the MLflow store are.
        seed, num_threads: LightGBM's (override ``config``).
        progress: called as progress(done, total).
        config: training configuration (default ``UpliftConfig()``).
        frame: ``training.uplift.data.load_frame``'s result already in memory.
        truth: the simulated bank's ground truth (None on a bank's own data).
        churn_score: the churn model to compare with (None: the control model's churn).

    Raises:
        NotReadyError: the feature store is not applied.
        DataError: the data is missing, too short, or has too few randomised contacts.
        ConfigError: the MLflow store is unusable.
    """
    import mlflow

    config = replace(config or UpliftConfig(), seed=seed, num_threads=num_threads)
    if frame is None:
        frame = load_frame(
            settings,
            config.service,
            ChurnDefinition(horizon_days=config.horizon_days),
            config.seed,
            config.max_controls,
        )
    fitted = fit_and_evaluate(
        frame[0], frame[1], config, progress, truth=truth, churn_score=churn_score
    )
    exp = experiment_id(settings, EXPERIMENT)
    with tracking(settings), mlflow.start_run(experiment_id=exp) as run:
        version = log_uplift(settings, fitted, config, run.info.run_id)
    progress(5, 5)
    return UpliftResult(run.info.run_id, version, fitted.metrics, fitted)
