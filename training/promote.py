"""``retain promote churn`` and ``retain rollback churn``: the gate applied to the registry.

The challenger and the champion are scored on the same most recent labelled window (the test
window of a fresh split), next to both baselines refitted on that split's train window. A
challenger trained on a snapshot (no room for a split by time) is scored on its own stratified test
split of customers instead, rebuilt from the seed and shares it recorded, and the outcome says so:
such figures are in-time. The outcome and its figures are written as tags on the challenger's
version (and the champion's, as the comparison it lost or won); ``champion`` moves only when the
gate passes. The registered model's ``champion.history`` tag keeps the versions that were
champion, in order, for rollback.

Propensity and uplift are gated on one headline metric of their training runs instead
(``promote_headline``); their rollback is the same.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from retain.core.columns import LABEL
from retain.core.errors import NotReadyError, RetainError
from retain.core.progress import Progress, silent
from retain.core.settings import Settings
from training.churn.data import Dataset
from training.churn.evaluate import Report, build_report, slice_groups
from training.churn.load import LoadedModel, load_version
from training.config import (
    HEADLINE_FLOORS,
    HEADLINE_METRICS,
    MODEL_NAMES,
    GateConfig,
    TrainConfig,
)
from training.gate import Decision, decide, decide_headline, decide_uplift
from training.registry import CHALLENGER, CHAMPION, version_by_alias
from training.split import IN_TIME_CAVEAT
from training.tracking import client, namespaced

HISTORY_TAG = "champion.history"
HISTORY_KEEP = 100


class PromotionRefused(RetainError):
    """The challenger failed the gate; the champion stays."""

    exit_code = 1


@dataclass
class Promotion:
    """What ``promote`` decided and the figures it rested on."""

    name: str
    challenger: str
    champion: str | None
    decision: Decision
    window: str
    figures: dict[str, dict[str, float]] = field(default_factory=dict)
    note: str = ""
    """What the window is when it is not a window in time (snapshot mode), else empty."""

    def rows(self) -> list[tuple[str, str, str, str]]:
        """(check, value, limit, result) rows for the printed table."""
        return [
            (c.name, f"{c.value:.4f}", f"{c.limit:.4f}", "pass" if c.passed else "FAIL")
            for c in self.decision.checks
        ]


def _history(c: Any, name: str) -> list[str]:
    """The champion history of ``name`` (its name in MLflow, namespaced)."""
    tags = c.get_registered_model(name).tags or {}
    try:
        return [str(v) for v in json.loads(tags.get(HISTORY_TAG, "[]"))]
    except ValueError:
        return []


def _set_history(c: Any, name: str, history: list[str]) -> None:
    c.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history[-HISTORY_KEEP:]))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _report(loaded: LoadedModel, test: Any, attrs: Any, extra: dict[str, np.ndarray]) -> Report:
    y = test[LABEL].to_numpy(dtype=np.float64)
    scores = {"model": loaded.model.predict_proba(test), **extra}
    return build_report(y, scores, slice_groups(attrs), loaded.model.threshold)


def _kind(name: str) -> str:
    """The command-line name of a registered model (``retain-churn`` -> ``churn``)."""
    return next((k for k, v in MODEL_NAMES.items() if v == name), name)


def rescoring_config(challenger: LoadedModel) -> TrainConfig:
    """The split to score on: a fresh time split by default; for a challenger trained on a
    snapshot, its own stratified split of customers (same seed and shares), so that its test
    customers are ones it was not trained on."""
    info = challenger.model.info
    if info.get("split") != "snapshot":
        return TrainConfig()
    return TrainConfig(
        split="snapshot",
        seed=int(info.get("split_seed", TrainConfig.seed)),
        valid_share=float(info.get("valid_share", TrainConfig.valid_share)),
        test_share=float(info.get("test_share", TrainConfig.test_share)),
    )


def _snapshot_note(challenger: LoadedModel, champion: LoadedModel | None, seed: int) -> str:
    note = (
        f"in-time: the challenger's stratified test split of customers (seed {seed}), not a "
        f"later window; {IN_TIME_CAVEAT}"
    )
    if champion is None:
        return note
    keys = ("split", "split_seed", "valid_share", "test_share", "data_fingerprint")
    if any(champion.model.info.get(k) != challenger.model.info.get(k) for k in keys):
        note += (
            "; the champion was trained on other data or another split and may have seen some "
            "of these customers (its figures may be optimistic)"
        )
    return note


def check_ready(settings: Settings, name: str) -> tuple[Any, Any | None]:
    """The challenger and champion versions (champion None when there is none yet).

    Raises:
        NotReadyError: no challenger, or the challenger is already the champion.
    """
    challenger_mv = version_by_alias(settings, name, CHALLENGER)
    if challenger_mv is None:
        raise NotReadyError(f"no challenger for {name}: run `retain train {_kind(name)}` first")
    champion_mv = version_by_alias(settings, name, CHAMPION)
    if champion_mv is not None and champion_mv.version == challenger_mv.version:
        raise NotReadyError(
            f"{name} version {challenger_mv.version} is already the champion: "
            "train a new challenger"
        )
    return challenger_mv, champion_mv


def promote(
    settings: Settings,
    gate: GateConfig | None = None,
    *,
    name: str = MODEL_NAMES["churn"],
    data: Dataset | None = None,
    config: TrainConfig | None = None,
    progress: Progress = silent,
) -> Promotion:
    """Apply the gate to ``name@challenger`` and move ``champion`` if it passes.

    Args:
        config: the split to score on (default: ``rescoring_config`` of the challenger).

    Returns:
        The promotion, whether it passed or not (the caller decides how to report a refusal).

    Raises:
        NotReadyError: no challenger, or the challenger is already the champion.
        DataError: the data has no usable window.
    """
    from training.churn.data import load_dataset
    from training.churn.job import fit_baselines, split_dataset

    gate = gate or GateConfig()
    challenger_mv, champion_mv = check_ready(settings, name)
    progress(0, 4)
    challenger = load_version(settings, name, str(challenger_mv.version))
    champion = load_version(settings, name, str(champion_mv.version)) if champion_mv else None
    config = config or rescoring_config(challenger)
    if data is None:
        data = load_dataset(settings, challenger.model.info.get("feature_service", "churn_v1"))
    progress(1, 4)
    split, masks = split_dataset(data, config)
    train, test = data.frame[masks["train"]], data.frame[masks["test"]]
    baselines = fit_baselines(train, challenger.model, config.seed)
    base_scores = baselines.scores(test, challenger.model)
    attrs = data.attributes.loc[test.index]
    progress(2, 4)
    challenger_report = _report(challenger, test, attrs, base_scores)
    champion_report = _report(champion, test, attrs, {}) if champion else None
    progress(3, 4)
    decision = decide(
        challenger_report.gate_evaluation(gate.min_slice_rows, gate.min_slice_positives),
        (
            champion_report.gate_evaluation(gate.min_slice_rows, gate.min_slice_positives)
            if champion_report
            else None
        ),
        {k: challenger_report.metrics[k]["roc_auc"] for k in ("logistic", "rule")},
        gate,
    )
    figures = {"challenger": challenger_report.metrics["model"]}
    figures.update({k: challenger_report.metrics[k] for k in ("logistic", "rule")})
    if champion_report:
        figures["champion"] = champion_report.metrics["model"]
    result = Promotion(
        name,
        challenger.version,
        champion.version if champion else None,
        decision,
        split.windows()["test_window"],
        figures,
        _snapshot_note(challenger, champion, config.seed) if split.mode == "snapshot" else "",
    )
    _record(settings, result)
    progress(4, 4)
    return result


def _record(settings: Settings, result: Promotion) -> None:
    """Write the outcome as version tags and move the alias when the gate passed."""
    c = client(settings)
    name = namespaced(settings, result.name)
    tags = {
        **result.decision.tags(),
        "gate.at": _now(),
        "gate.window": result.window,
        "gate.against": result.champion or "none (first champion)",
        **({"gate.validation": result.note} if result.note else {}),
    }
    for who, m in result.figures.items():
        if "roc_auc" in m:  # churn: the AUC and ECE the gate judged
            tags[f"gate.{who}_auc"] = f"{m['roc_auc']:.4f}"
            tags[f"gate.{who}_ece"] = f"{m['ece']:.4f}"
        else:  # a headline metric
            tags.update({f"gate.{who}_{k}": f"{v:.4f}" for k, v in m.items()})
    for k, v in tags.items():
        c.set_model_version_tag(name, result.challenger, k, v[:5000])
    if result.champion:
        c.set_model_version_tag(
            name,
            result.champion,
            "gate.last_challenge",
            f"{tags['gate.outcome']} challenger {result.challenger} at {tags['gate.at']}",
        )
    if not result.decision.promote:
        return
    history = _history(c, name)
    if result.champion and (not history or history[-1] != result.champion):
        history.append(result.champion)
    history.append(result.challenger)
    _set_history(c, name, history)
    c.set_registered_model_alias(name, CHAMPION, result.challenger)
    c.set_model_version_tag(name, result.challenger, "champion.since", tags["gate.at"])


def _run_metric(c: Any, mv: Any, metric: str) -> float:
    """A metric of the run that produced a model version (NaN when absent)."""
    if not mv.run_id:
        return float("nan")
    return float(c.get_run(mv.run_id).data.metrics.get(metric, float("nan")))


def promote_headline(
    settings: Settings, kind: str, tolerance: float = 0.01, progress: Progress = silent
) -> Promotion:
    """Gate a non-churn model (``propensity``, ``uplift``) on its headline metric and move
    ``champion`` if it passes (see :func:`training.gate.decide_headline`; uplift:
    :func:`training.gate.decide_uplift`, against random rankings of its test window).

    Returns:
        The promotion, whether it passed or not.

    Raises:
        NotReadyError: no challenger, or the challenger is already the champion.
        KeyError: ``kind`` has no headline metric.
    """
    name, metric = MODEL_NAMES[kind], HEADLINE_METRICS[kind]
    challenger_mv, champion_mv = check_ready(settings, name)
    progress(0, 2)
    c = client(settings)
    challenger = _run_metric(c, challenger_mv, metric)
    champion = _run_metric(c, champion_mv, metric) if champion_mv else None
    run = c.get_run(challenger_mv.run_id) if challenger_mv.run_id else None
    if kind == "uplift":  # against random rankings of the same test window, not against zero
        decision = decide_uplift(dict(run.data.metrics) if run else {}, champion, tolerance)
    else:
        decision = decide_headline(metric, challenger, champion, HEADLINE_FLOORS[kind], tolerance)
    figures = {"challenger": {metric: challenger}}
    if champion is not None:
        figures["champion"] = {metric: champion}
    window = run.data.params.get("test_window", "unknown") if run else "unknown"
    result = Promotion(
        name,
        str(challenger_mv.version),
        str(champion_mv.version) if champion_mv else None,
        decision,
        f"each model's own test window (challenger: {window})",
        figures,
    )
    _record(settings, result)
    progress(2, 2)
    return result


@dataclass
class Rollback:
    name: str
    from_version: str
    to_version: str


def rollback(settings: Settings, name: str = MODEL_NAMES["churn"]) -> Rollback:
    """Point ``champion`` back at the version it pointed at before the last promotion.

    Raises:
        NotReadyError: there is no champion, or no earlier champion to go back to.
    """
    c = client(settings)
    current = version_by_alias(settings, name, CHAMPION)
    if current is None:
        raise NotReadyError(f"{name} has no champion to roll back")
    registered = namespaced(settings, name)
    history = _history(c, registered)
    if history and history[-1] == str(current.version):
        history = history[:-1]
    if not history:
        raise NotReadyError(
            f"{name} version {current.version} is the first champion: there is no earlier one"
        )
    previous = history[-1]
    _set_history(c, registered, history)
    c.set_registered_model_alias(registered, CHAMPION, previous)
    at = _now()
    c.set_model_version_tag(registered, str(current.version), "champion.rolled_back_at", at)
    c.set_model_version_tag(registered, previous, "champion.restored_at", at)
    return Rollback(name, str(current.version), previous)
