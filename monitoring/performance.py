"""Performance without labels: confidence-based performance estimation (CBPE, as in NannyML),
owned here, next to the realised figures where labels exist. Pure functions over arrays.

If the scores are calibrated (among customers scored p, a share p leave), each customer is a
coin with probability p, and every metric has an expected value computable from the scores
alone:

- the **expected confusion matrix** at the operating threshold t: a customer flagged (p >= t)
  is a true positive with probability p and a false positive with 1 - p; one not flagged is a
  false negative with p and a true negative with 1 - p;
- the **expected ROC AUC**: the expected number of correctly ordered (leaver, stayer) pairs
  over the expected number of such pairs; customer i outranks customer j and forms such a pair
  with probability p_i (1 - p_j), ties counting half.

CBPE's stated limit: it trusts the calibration. Under covariate shift it holds; under concept
drift (the same features now mean a different risk) the estimate cannot be trusted, and only
realised figures, once the outcomes are in, tell.

It trusts the calibration within every score range, not only on average: a champion calibrated
by one global Platt curve can be right on average and still too sure at the top and too unsure
below, which lifts the expected AUC. As NannyML's CBPE does, ``recalibrate`` first fits a
monotone (isotonic) map of label on score on labelled rows out of sample for the model, and the
estimates read the recalibrated probabilities while ranking and flagging by the champion's
scores (``expected_auc(q, scores=p)``, ``expected_confusion(q, t, scores=p)``).
``cross_recalibrate`` does it leave-one-month-out, so that a month's estimate never reads its
own labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray


@dataclass(frozen=True)
class Confusion:
    """A confusion matrix (expected counts may be fractional) and the rates derived from it."""

    tp: float
    fp: float
    fn: float
    tn: float

    @property
    def precision(self) -> float:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def specificity(self) -> float:
        return _ratio(self.tn, self.tn + self.fp)

    @property
    def accuracy(self) -> float:
        return _ratio(self.tp + self.tn, self.tp + self.fp + self.fn + self.tn)

    @property
    def f1(self) -> float:
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    def as_dict(self) -> dict[str, float]:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
            "precision": self.precision,
            "recall": self.recall,
            "specificity": self.specificity,
            "accuracy": self.accuracy,
            "f1": self.f1,
        }


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.nan


def _probabilities(p: ArrayLike) -> NDArray[np.float64]:
    a = np.asarray(p, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"expected one probability per row, got shape {a.shape}")
    if len(a) and (np.isnan(a).any() or a.min() < 0 or a.max() > 1):
        raise ValueError("probabilities must lie in [0, 1] without NaN")
    return a


def expected_confusion(
    p: ArrayLike, threshold: float, scores: ArrayLike | None = None
) -> Confusion:
    """The confusion matrix expected at ``threshold`` if ``p`` are calibrated probabilities;
    rows are flagged by ``scores >= threshold`` (default: ``p``, its own scores)."""
    a = _probabilities(p)
    flagged = (a if scores is None else np.asarray(scores, dtype=np.float64)) >= threshold
    return Confusion(
        tp=float(a[flagged].sum()),
        fp=float((1 - a[flagged]).sum()),
        fn=float(a[~flagged].sum()),
        tn=float((1 - a[~flagged]).sum()),
    )


def realised_confusion(y: ArrayLike, p: ArrayLike, threshold: float) -> Confusion:
    """The confusion matrix of labels ``y`` (0/1) against flags ``p >= threshold``."""
    ya = np.asarray(y, dtype=np.float64)
    flagged = _probabilities(p) >= threshold
    return Confusion(
        tp=float(ya[flagged].sum()),
        fp=float((1 - ya[flagged]).sum()),
        fn=float(ya[~flagged].sum()),
        tn=float((1 - ya[~flagged]).sum()),
    )


def expected_auc(p: ArrayLike, scores: ArrayLike | None = None) -> float:
    """The ROC AUC of ``scores`` (default: ``p``) expected if row i leaves with calibrated
    probability ``p_i`` (NaN for fewer than two rows or when every p is 0 or every p is 1).

    Numerator: the sum over ordered pairs i != j of p_i (1 - p_j) where s_i > s_j, plus half of
    it where s_i = s_j (ties, as in the realised AUC). Denominator: the sum over all ordered pairs
    i != j of p_i (1 - p_j). One sort; ties of s grouped with ``np.unique``.
    """
    a = _probabilities(p)
    s = a if scores is None else np.asarray(scores, dtype=np.float64)
    if len(s) != len(a):
        raise ValueError(f"{len(s)} scores for {len(a)} probabilities")
    order = np.argsort(s, kind="stable")
    a, s = a[order], s[order]
    if len(a) < 2:
        return math.nan
    values, start = np.unique(s, return_index=True)
    pos = np.add.reduceat(a, start)  # expected leavers per tie group
    neg = np.add.reduceat(1 - a, start)  # expected stayers per tie group
    self_pairs = np.add.reduceat(a * (1 - a), start)
    neg_below = np.cumsum(neg) - neg  # expected stayers scored strictly lower
    within = pos * neg - self_pairs  # ordered pairs inside a tie group, i != j
    numerator = float(np.sum(pos * neg_below) + 0.5 * np.sum(within))
    denominator = float(a.sum() * (1 - a).sum() - np.sum(a * (1 - a)))
    return numerator / denominator if denominator > 0 else math.nan


def realised_auc(y: ArrayLike, p: ArrayLike) -> float:
    """ROC AUC of labels ``y`` against scores ``p`` (ties count half); NaN with one class."""
    from scipy.stats import rankdata

    ya = np.asarray(y, dtype=np.float64)
    pa = np.asarray(p, dtype=np.float64)
    positives = float(ya.sum())
    negatives = float(len(ya) - positives)
    if positives == 0 or negatives == 0:
        return math.nan
    ranks = rankdata(pa)  # average ranks: Mann-Whitney with ties counted half
    return float((ranks[ya == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def beyond_noise(drop: float, standard_error: float, z: float = 1.96) -> bool:
    """Whether an AUC ``drop`` exceeds ``z`` standard errors (NaN error: judged as it is)."""
    return math.isnan(standard_error) or drop > z * standard_error


WARNING_LIMIT = 1.96
ACTION_LIMIT = 3.0
"""A control chart's limits, in standard errors (Shewhart): a statistic judged every month
passes 1.96 by chance in one month in 40 (one-sided), 3 in one in 740. On simulated banks with
no drift, monthly AUC drops over their Hanley-McNeil errors have a spread of 0.92 (36 months,
4 seeds), so the errors are right and a 1.96 limit would alert about once every three years
per check; a drop of 2.7 errors occurs in a quiet month."""


def noise_level(drop: float, standard_error: float) -> str:
    """The most a ``drop`` of a realised AUC may be called given its ``standard_error``:
    ``alert`` beyond ``ACTION_LIMIT`` errors, ``warn`` beyond ``WARNING_LIMIT``, else ``ok``
    (NaN error: ``alert``, judged as it is)."""
    if beyond_noise(drop, standard_error, ACTION_LIMIT):
        return "alert"
    return "warn" if beyond_noise(drop, standard_error, WARNING_LIMIT) else "ok"


def calibration_error(y: ArrayLike, p: ArrayLike, bins: int = 10) -> float:
    """Expected calibration error over equal-width bins of ``p``: the row-weighted mean gap
    between the mean score and the rate of positives (NaN without rows)."""
    ya = np.asarray(y, dtype=np.float64)
    pa = _probabilities(p)
    if len(pa) == 0:
        return math.nan
    which = np.minimum((pa * bins).astype(np.int64), bins - 1)
    n = np.bincount(which, minlength=bins)
    gap = np.abs(
        np.bincount(which, weights=pa, minlength=bins)
        - np.bincount(which, weights=ya, minlength=bins)
    )
    return float(gap.sum() / n.sum())


def top_share_precision(y: ArrayLike, p: ArrayLike, share: float = 0.1) -> float:
    """Rate of positives among the ``share`` of rows with the highest scores."""
    ya = np.asarray(y, dtype=np.float64)
    pa = np.asarray(p, dtype=np.float64)
    k = max(1, int(round(share * len(pa))))
    if len(pa) == 0:
        return math.nan
    top = np.argsort(-pa, kind="stable")[:k]
    return float(ya[top].mean())


def expected_top_share_precision(
    p: ArrayLike, share: float = 0.1, scores: ArrayLike | None = None
) -> float:
    """The rate of leavers expected among the ``share`` of rows with the highest ``scores``
    (default: ``p``)."""
    pa = _probabilities(p)
    return top_share_precision(pa, pa if scores is None else scores, share)


RECALIBRATION_ROWS = 200_000
"""Most rows an isotonic recalibration is fitted on (a seeded sample beyond): the fit is a sort
and one pass, well under a second at this size."""

RECALIBRATION_MIN_CLASS = 20
"""Fewest leavers, and fewest stayers, a recalibration is fitted on (else none: the champion's
own calibration is read as it is)."""


def recalibrate(
    y_fit: ArrayLike,
    p_fit: ArrayLike,
    p: ArrayLike,
    rows: int = RECALIBRATION_ROWS,
    seed: int = 0,
) -> NDArray[np.float64] | None:
    """``p`` mapped through the isotonic regression of labels ``y_fit`` (0/1) on scores
    ``p_fit`` (NannyML's CBPE step): the rate of leavers at each score, monotone in it. Fitted
    on a seeded sample of ``rows`` where there are more; None where the fit has fewer than
    ``RECALIBRATION_MIN_CLASS`` leavers or stayers."""
    from sklearn.isotonic import IsotonicRegression

    ya = np.asarray(y_fit, dtype=np.float64)
    pa = np.asarray(p_fit, dtype=np.float64)
    if len(pa) > rows:
        take = np.random.default_rng(seed).choice(len(pa), size=rows, replace=False)
        ya, pa = ya[take], pa[take]
    leavers = float(ya.sum())
    if min(leavers, len(ya) - leavers) < RECALIBRATION_MIN_CLASS:
        return None
    fitted = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(pa, ya)
    return np.clip(fitted.predict(np.asarray(p, dtype=np.float64)), 0.0, 1.0)


def cross_recalibrate(
    p: ArrayLike,
    groups: ArrayLike,
    y: ArrayLike,
    fit: ArrayLike,
    rows: int = RECALIBRATION_ROWS,
    seed: int = 0,
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Every row's recalibrated probability (``recalibrate``), cross-fitted by group (month):
    the fit reads the rows where ``fit`` is true (labelled, out of sample for the model), except
    those of the row's own group. Returns the probabilities and whether each row was
    recalibrated (where not, its ``p`` as it is: too few labelled rows in the other groups)."""
    pa = _probabilities(p)
    g = np.asarray(groups)
    ya = np.asarray(y, dtype=np.float64)
    f = np.asarray(fit, dtype=bool)
    q, done = pa.copy(), np.zeros(len(pa), dtype=bool)
    fit_groups = set(np.unique(g[f]).tolist())
    outside = ~np.isin(g, list(fit_groups))
    for group in [None, *sorted(fit_groups)]:
        at = outside if group is None else g == group
        use = f if group is None else f & (g != group)
        if not at.any() or not use.any():
            continue
        mapped = recalibrate(ya[use], pa[use], pa[at], rows, seed)
        if mapped is not None:
            q[at], done[at] = mapped, True
    return q, done
