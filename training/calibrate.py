"""Probability calibration as plain parameters, so serving applies it without scikit-learn.

Two methods, both fitted on the validation window's raw booster scores:

- ``isotonic``: a monotone step table ``{"method": "isotonic", "x": [...], "y": [...]}`` applied by
  linear interpolation, clipped at both ends (the same as scikit-learn's ``IsotonicRegression``).
- ``platt``: ``{"method": "platt", "a": a, "b": b}``, ``p = 1 / (1 + exp(-(a * logit(s) + b)))``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

METHODS = ("isotonic", "platt")
_EPS = 1e-6


def _logit(s: NDArray[np.float64]) -> NDArray[np.float64]:
    s = np.clip(s, _EPS, 1 - _EPS)
    return np.log(s / (1 - s))


def fit_calibration(
    raw_scores: ArrayLike, labels: ArrayLike, method: str = "isotonic"
) -> dict[str, Any]:
    """Fit a calibration map from raw scores in [0, 1] to probabilities.

    Returns:
        JSON-serialisable parameters for :func:`calibrate`.

    Raises:
        ValueError: unknown method, or labels of only one class.
    """
    s = np.asarray(raw_scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if method not in METHODS:
        raise ValueError(f"unknown calibration method {method!r}: use one of {', '.join(METHODS)}")
    if len(np.unique(y)) < 2:
        raise ValueError("calibration needs both classes in the validation window")
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(s, y)
        return {
            "method": "isotonic",
            "x": [float(v) for v in iso.X_thresholds_],
            "y": [float(v) for v in iso.y_thresholds_],
        }
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1e6).fit(_logit(s).reshape(-1, 1), y)
    return {"method": "platt", "a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0])}


def calibrate(raw_scores: ArrayLike, params: dict[str, Any]) -> NDArray[np.float64]:
    """Map raw booster scores to calibrated probabilities with ``params`` from fit_calibration.

    Raises:
        ValueError: unknown method in ``params``.
    """
    s = np.asarray(raw_scores, dtype=np.float64)
    if params["method"] == "isotonic":
        return np.interp(s, np.asarray(params["x"]), np.asarray(params["y"]))
    if params["method"] == "platt":
        z = params["a"] * _logit(s) + params["b"]
        return 1.0 / (1.0 + np.exp(-z))
    raise ValueError(f"unknown calibration method {params['method']!r}")
