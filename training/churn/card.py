"""The Markdown model card, rendered from a run's figures (pure: no I/O)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from training.churn.baselines import LOGISTIC_ROWS
from training.churn.evaluate import Report

if TYPE_CHECKING:
    from training.churn.crossval import CrossValidation

HEADLINE = (
    "roc_auc",
    "pr_auc",
    "brier",
    "log_loss",
    "ece",
    "lift_top5",
    "lift_top10",
    "lift_top20",
    "capture_top5",
    "capture_top10",
    "capture_top20",
)

KNOWN_LIMITS = (
    "Trained and tested on the windows above; behaviour outside them (new products, a rate "
    "shock, a different customer mix) is not measured.",
    "Calibration was fitted on the validation window; it drifts when the churn rate moves and "
    "should be checked on every retraining.",
    "Scores say who is likely to leave, not who can be kept: retention offers need the uplift "
    "model, not this one.",
    "Gender is used only to measure flag rates, never as a feature; other attributes may still "
    "act as proxies.",
    "On simulated data the truth ceiling is known; on a bank's own data it is not.",
)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "n/a" if math.isnan(v) else f"{v:.4f}"
    return str(v)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _frame_table(frame: pd.DataFrame) -> str:
    return markdown_table(list(frame.columns), frame.itertuples(index=False, name=None))


def render_model_card(
    *,
    model_name: str,
    report: Report,
    info: dict[str, Any],
    features: Sequence[str],
    categorical: Sequence[str],
    importance: pd.DataFrame | None = None,
    cv: CrossValidation | None = None,
) -> str:
    """The model card of one training run.

    Args:
        model_name: the registered model name.
        report: figures on the test window.
        info: run facts: ``feature_service``, ``train_window``, ``valid_window``,
            ``test_window``, ``rows_*``, ``data_fingerprint``, ``code_version``,
            ``best_iteration``, ``calibration``, ``run_id`` (missing ones are skipped).
        features, categorical: the model's inputs.
        importance: feature, gain (optional; the top 15 are listed).
        cv: the cross-validation by customer (snapshot mode).

    With ``info["split"] == "snapshot"`` the card says first that no out-of-time validation was
    possible, and gives the cross-validated figures.
    """
    in_time = info.get("split") == "snapshot"
    out: list[str] = [f"# Model card: {model_name}", ""]
    out += [
        "Predicts the probability that a retail customer leaves or goes dormant within the "
        "horizon after the as-of date. Calibrated: a score of 0.2 means about a 20% chance.",
        "",
    ]
    if in_time:
        out += [
            "## Validation: in-time only",
            "",
            f"**No out-of-time validation was possible.** {_in_time_text(info)}",
            "",
        ]
        if cv is not None:
            out += [
                f"Cross-validation, {cv.folds} stratified folds of customers (mean ± sd over "
                "folds):",
                "",
                markdown_table(
                    ["metric", "mean", "sd"],
                    [(k, cv.mean(k), cv.sd(k)) for k in cv.per_fold],
                ),
                "",
            ]
    out += ["## Data", ""]
    facts = [
        ("feature service", "feature_service"),
        ("train window", "train_window"),
        ("validation window", "valid_window"),
        ("test window", "test_window"),
        ("train rows", "rows_train"),
        ("validation rows", "rows_valid"),
        ("test rows", "rows_test"),
        ("horizon (days)", "horizon_days"),
        ("data fingerprint", "data_fingerprint"),
        ("code version", "code_version"),
        ("boosting rounds", "best_iteration"),
        ("calibration", "calibration"),
        ("run", "run_id"),
    ]
    out.append(markdown_table(["fact", "value"], [(k, info[v]) for k, v in facts if v in info]))
    out += ["", f"## Features ({len(features)})", ""]
    cat = set(categorical)
    out.append(", ".join(f"`{f}`" + (" (categorical)" if f in cat else "") for f in features))
    if importance is not None and len(importance):
        out += ["", "Top features by gain:", ""]
        out.append(_frame_table(importance.head(15)))
    title = "the test split (in-time)" if in_time else "the test window"
    out += ["", f"## Metrics on {title}", ""]
    scorers = list(report.metrics)
    out.append(
        markdown_table(
            ["metric", *scorers],
            [(k, *(report.metrics[s].get(k, math.nan) for s in scorers)) for k in HEADLINE],
        )
    )
    out += [
        "",
        "`logistic`: logistic regression on the same features (fitted on at most "
        f"{LOGISTIC_ROWS:,} train rows, a sample stratified by label); `rule`: balance fell by "
        "half in three months or salary stopped"
        + (
            "; `truth`: the simulator's true churn probability (the ceiling)."
            if "truth" in report.metrics
            else "."
        ),
    ]
    if report.truth:
        out += ["", markdown_table(["against the truth", "value"], list(report.truth.items()))]
    out += ["", "## Slices", ""]
    for name, table in report.slices.items():
        out += [f"### {name}", "", _frame_table(table), ""]
    out += [
        "## Fairness",
        "",
        f"High-risk flag: calibrated probability >= {_fmt(report.threshold)} (the operating "
        "threshold). Four-fifths ratio = lowest group flag rate / highest.",
        "",
    ]
    for name, table in report.fairness.items():
        ratio = report.four_fifths.get(name, math.nan)
        out += [f"### {name} (four-fifths ratio {_fmt(ratio)})", "", _frame_table(table), ""]
    out += ["## Known limits", ""]
    if in_time:
        out.append(
            "- No out-of-time validation: every figure above is in-time, from customers of the "
            "same as-of time(s) as the training data. Measure the model again as new outcomes "
            "arrive, and retrain on a longer history when there is one."
        )
    out += [f"- {line}" for line in KNOWN_LIMITS]
    return "\n".join(out) + "\n"


def _in_time_text(info: dict[str, Any]) -> str:
    windows = f" (test: {info['test_window']})" if "test_window" in info else ""
    return (
        "The data has too few labelled as-of months for a split by time, so train, validation "
        f"and test are stratified random sets of customers{windows}. The figures are in-time: "
        "they do not show how the model holds up as customers, products and the economy change, "
        "and are optimistic about drift."
    )
