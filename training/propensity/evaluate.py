"""Evaluation of the propensity model on the test window, and its model card and plot.

Plain functions: scores and labels in, figures or markdown out (no MLflow).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from training.metrics import roc_auc
from training.propensity.data import label_column
from training.propensity.model import PropensityModel
from training.ranking import top_k_metrics

MIN_TEST_POSITIVES = 10
"""A product with fewer openings than this in the test window is left out of the macro AUC (its
own AUC is still reported): with a handful of positives its AUC is mostly noise."""


def evaluate_propensity(
    model: PropensityModel,
    x_test: NDArray[np.float64],
    test: pd.DataFrame,
    popular: dict[str, float],
    truth: NDArray[np.float64] | None,
) -> dict[str, float]:
    """Per-product AUC and top-3 ranking metrics of the model, the popular ranking and truth.

    Candidates are the modelled products the customer does not hold; the ranking metrics are
    over rows where the customer opened at least one of them. The macro AUC averages the
    products with at least ``MIN_TEST_POSITIVES`` openings in the window.
    """
    labels = test[[label_column(p) for p in model.products]].to_numpy(dtype=np.float64)
    candidates = ~np.isnan(labels)
    opened = labels == 1.0
    scorers: dict[str, NDArray[np.float64]] = {"": model.predict_proba(x_test)}
    scorers["popular_"] = np.tile([popular[p] for p in model.products], (len(test), 1))
    if truth is not None:
        scorers["truth_"] = truth
    positives = opened.sum(axis=0)
    counted = positives >= MIN_TEST_POSITIVES
    out: dict[str, float] = {
        "test_rows": float(len(test)),
        "test_macro_products": float(counted.sum()),
    }
    for prefix, s in scorers.items():
        if prefix != "popular_":  # a constant score has no AUC
            aucs = []
            for j, p in enumerate(model.products):
                c = candidates[:, j]
                auc = roc_auc(labels[c, j], s[c, j])
                out[f"test_{prefix}auc_{p}"] = auc
                if counted[j]:
                    aucs.append(auc)
            finite = [a for a in aucs if not math.isnan(a)]
            out[f"test_{prefix}macro_auc"] = float(np.mean(finite)) if finite else math.nan
        ranked = top_k_metrics(s, opened, candidates, k=3)
        out[f"test_{prefix}hit_rate_at_3"] = ranked["hit_rate_at_3"]
        out[f"test_{prefix}map_at_3"] = ranked["map_at_3"]
        out["test_rows_opened"] = ranked["rows"]
    for j, p in enumerate(model.products):
        out[f"test_positives_{p}"] = float(positives[j])
    return out


def auc_figure(metrics: dict[str, float], products: tuple[str, ...]) -> Any:
    """Horizontal bars of each product's test AUC, the model's next to the truth's."""
    from training.plots import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4))
    y = np.arange(len(products))
    ax.barh(y - 0.2, [metrics[f"test_auc_{p}"] for p in products], 0.4, label="model")
    if "test_truth_macro_auc" in metrics:
        ax.barh(y + 0.2, [metrics[f"test_truth_auc_{p}"] for p in products], 0.4, label="truth")
    ax.set_yticks(y, products)
    ax.axvline(0.5, color="grey", lw=0.8)
    ax.set_xlim(0.3, 1.0)
    ax.set_xlabel("test ROC AUC")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def model_card(
    model_name: str,
    products: tuple[str, ...],
    metrics: dict[str, float],
    info: dict[str, Any],
    popular: dict[str, float],
    skipped: dict[str, str],
) -> str:
    """A markdown model card: data, windows, per-product figures, ranking against baselines."""
    m = metrics
    has_truth = "test_truth_macro_auc" in m
    lines = [
        f"# {model_name}: product propensity",
        "",
        "Calibrated P(the customer opens the product within "
        f"{info['horizon_days']} days), one LightGBM booster per product, trained on the rows not "
        "holding it.",
        "",
        f"- feature service: `{info['feature_service']}` ({len(info['features'])} features)",
        f"- train {info['train_window']}, validation {info['valid_window']}, "
        f"test {info['test_window']}",
        f"- rows: train {info['rows_train']}, validation {info['rows_valid']}, "
        f"test {info['rows_test']}",
        f"- data fingerprint `{info['data_fingerprint']}`, code `{info['code_version']}`",
        "",
        "| product | test openings | train opening rate | AUC |"
        + (" truth AUC |" if has_truth else ""),
        "|---|---:|---:|---:|" + ("---:|" if has_truth else ""),
    ]
    for p in products:
        row = (
            f"| {p} | {m[f'test_positives_{p}']:.0f} | {popular[p]:.4f} "
            f"| {m[f'test_auc_{p}']:.4f} |"
        )
        lines.append(row + (f" {m[f'test_truth_auc_{p}']:.4f} |" if has_truth else ""))
    lines += [
        "",
        f"Macro AUC {m['test_macro_auc']:.4f}"
        + (f" (truth {m['test_truth_macro_auc']:.4f})" if has_truth else "")
        + f", over the {m['test_macro_products']:.0f} products with at least "
        f"{MIN_TEST_POSITIVES} test openings.",
        "",
    ]
    lines += [
        f"Next product opened ({m['test_rows_opened']:.0f} test rows with an opening):",
        "",
        "| ranking | hit rate@3 | MAP@3 |",
        "|---|---:|---:|",
    ]
    for label, prefix in (("model", ""), ("most popular", "popular_"), ("truth", "truth_")):
        if f"test_{prefix}map_at_3" in m:
            lines.append(
                f"| {label} | {m[f'test_{prefix}hit_rate_at_3']:.4f} "
                f"| {m[f'test_{prefix}map_at_3']:.4f} |"
            )
    if skipped:
        lines += ["", "Skipped products:", ""]
        lines += [f"- {p}: {why}" for p, why in skipped.items()]
    return "\n".join(lines) + "\n"
