"""Evaluation pictures as matplotlib figures (Agg backend; the caller saves or logs them)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend: the one place retain chooses a backend."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in tests
    import matplotlib.pyplot as plt

    return plt


CURVE_POINTS = 2_000
"""Points drawn per curve: more than a figure's pixels can show. The curves are computed on every
row; only what is drawn is thinned."""


def thin(*arrays: NDArray[Any], points: int = CURVE_POINTS) -> tuple[NDArray[Any], ...]:
    """The arrays (of one length) at about ``points`` evenly spaced positions, first and last
    kept."""
    n = len(arrays[0])
    if n <= points:
        return arrays
    keep = np.unique(np.linspace(0, n - 1, points).round().astype(np.int64))
    return tuple(np.asarray(a)[keep] for a in arrays)


def roc_pr_curves(y: NDArray[np.float64], scores: dict[str, NDArray[np.float64]]) -> Any:
    """ROC and precision-recall curves of every scorer on one window."""
    from sklearn.metrics import auc, precision_recall_curve, roc_curve

    plt = pyplot()
    fig, (roc_ax, pr_ax) = plt.subplots(1, 2, figsize=(11, 4.5))
    for name, p in scores.items():
        fpr, tpr, _ = roc_curve(y, p)
        roc_ax.plot(*thin(fpr, tpr), label=f"{name} (AUC {auc(fpr, tpr):.3f})")
        precision, recall, _ = precision_recall_curve(y, p)
        pr_ax.plot(*thin(recall, precision), label=name)
    roc_ax.plot([0, 1], [0, 1], "k:", lw=1)
    roc_ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    pr_ax.axhline(float(np.mean(y)), color="k", ls=":", lw=1)
    pr_ax.set(xlabel="recall", ylabel="precision", title="Precision-recall")
    roc_ax.legend(loc="lower right", fontsize=8)
    pr_ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


def calibration_curve(
    y: NDArray[np.float64], scores: dict[str, NDArray[np.float64]], bins: int = 10
) -> Any:
    """Observed churn rate against mean predicted probability, by quantile bin."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    top = 0.0
    for name, p in scores.items():
        frame = pd.DataFrame({"y": y, "p": p})
        frame["bin"] = pd.qcut(frame["p"].rank(method="first"), bins, labels=False)
        g = frame.groupby("bin").mean()
        ax.plot(g["p"], g["y"], "o-", label=name)
        top = max(top, float(g["p"].max()), float(g["y"].max()))
    ax.plot([0, top], [0, top], "k:", lw=1)
    ax.set(xlabel="mean predicted probability", ylabel="observed churn rate", title="Calibration")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def gain_lift(y: NDArray[np.float64], scores: dict[str, NDArray[np.float64]]) -> Any:
    """Cumulative gain (share of churners captured) and lift by share of customers contacted."""
    plt = pyplot()
    fig, (gain_ax, lift_ax) = plt.subplots(1, 2, figsize=(11, 4.5))
    n = len(y)
    share = np.arange(1, n + 1) / n
    for name, p in scores.items():
        ordered = np.asarray(y)[np.argsort(-np.asarray(p), kind="stable")]
        gain = np.cumsum(ordered) / max(ordered.sum(), 1)
        x, g = thin(share, gain)
        gain_ax.plot(x, g, label=name)
        lift_ax.plot(x, g / x, label=name)
    gain_ax.plot([0, 1], [0, 1], "k:", lw=1)
    gain_ax.set(
        xlabel="share of customers (highest score first)",
        ylabel="share of churners",
        title="Cumulative gain",
    )
    lift_ax.axhline(1.0, color="k", ls=":", lw=1)
    lift_ax.set(xlabel="share of customers", ylabel="lift", title="Lift", xlim=(0.01, 1))
    gain_ax.legend(fontsize=8)
    lift_ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def shap_values(booster: Any, x: pd.DataFrame) -> NDArray[np.float64]:
    """Exact TreeSHAP values from LightGBM itself (log-odds), one column per feature."""
    contrib = np.asarray(booster.predict(x, pred_contrib=True), dtype=np.float64)
    return contrib[:, :-1]  # the last column is the expected value


def shap_figures(booster: Any, x: pd.DataFrame, top: int = 3) -> dict[str, Any]:
    """SHAP summary (beeswarm) and dependence plots of the ``top`` features by mean |SHAP|.

    Args:
        booster: the native booster.
        x: the encoded sample to explain (keep it small: a thousand rows is plenty).

    Returns:
        file name -> figure.
    """
    import shap

    plt = pyplot()
    values = shap_values(booster, x)
    explanation = shap.Explanation(values=values, data=x.to_numpy(), feature_names=list(x.columns))
    figures: dict[str, Any] = {}
    plt.figure()
    shap.plots.beeswarm(explanation, max_display=20, show=False)
    figures["shap_summary.png"] = plt.gcf()
    order = np.argsort(-np.abs(values).mean(axis=0))[:top]
    for i in order:
        name = x.columns[i]
        plt.figure()
        shap.plots.scatter(explanation[:, int(i)], show=False)
        figures[f"shap_dependence_{name}.png"] = plt.gcf()
    return figures


def close(figures: list[Any]) -> None:
    """Close the figures, and any that shap's plots opened on the side (they would pile up)."""
    plt = pyplot()
    for fig in figures:
        plt.close(fig)
    plt.close("all")
