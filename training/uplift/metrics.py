"""Qini and uplift curves, the Qini coefficient and AUUC: arrays in, numbers out.

The definitions follow scikit-uplift (``sklift.metrics``), whose normalisation causalml's
``qini_score`` shares. Rows are sorted by the uplift score, highest first, and rows with equal
scores enter together. With ``y`` the desired response (here: the customer stayed, 1 - churned),
``t`` the treatment flag and, among the top ``k`` rows, ``N_t, N_c`` treated and control rows and
``R_t, R_c`` their responders:

- Qini curve: ``Q(k) = R_t - R_c * N_t / N_c`` (0 while there is no control row yet): the extra
  responders among the treated of the top ``k``, had they all been like the control.
- Uplift curve: ``U(k) = (R_t / N_t - R_c / N_c) * (N_t + N_c)``.
- Qini coefficient and AUUC: the area between the curve and the random-targeting line from the
  origin to the curve's end, divided by the same area of the perfect ranking (the one that puts
  treated responders first and control responders last). 1 is perfect, 0 is random, negative is
  worse than random. Scores are comparable between rankers of the same rows, not across data sets.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

Curve = tuple[NDArray[np.float64], NDArray[np.float64]]


def _arrays(
    y: ArrayLike, score: ArrayLike, treated: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    ya = np.asarray(y, dtype=np.float64)
    sa = np.asarray(score, dtype=np.float64)
    ta = np.asarray(treated).astype(bool)
    if not (ya.shape == sa.shape == ta.shape):
        raise ValueError(f"lengths differ: y {ya.shape}, score {sa.shape}, treated {ta.shape}")
    return ya, sa, ta


def _cumulative(
    y: NDArray[np.float64], score: NDArray[np.float64], treated: NDArray[np.bool_]
) -> tuple[NDArray[np.float64], ...]:
    """Counts at each distinct score threshold, highest score first: n, N_t, N_c, R_t, R_c."""
    order = np.argsort(-score, kind="stable")
    y, score, treated = y[order], score[order], treated[order]
    # The last row of each run of equal scores: ties enter the curve together.
    ends = np.r_[np.flatnonzero(np.diff(score)), len(score) - 1] if len(score) else np.array([])
    ends = ends.astype(int)
    n_t = np.cumsum(treated)[ends].astype(np.float64)
    r_t = np.cumsum(y * treated)[ends]
    r_c = np.cumsum(y * ~treated)[ends]
    n = ends.astype(np.float64) + 1
    return n, n_t, n - n_t, r_t, r_c


def qini_curve(y: ArrayLike, score: ArrayLike, treated: ArrayLike) -> Curve:
    """Points (rows targeted, Q) of the Qini curve, starting at (0, 0)."""
    n, n_t, n_c, r_t, r_c = _cumulative(*_arrays(y, score, treated))
    q = r_t - np.divide(r_c * n_t, n_c, out=np.zeros_like(r_c), where=n_c > 0)
    return np.r_[0.0, n], np.r_[0.0, q]


def uplift_curve(y: ArrayLike, score: ArrayLike, treated: ArrayLike) -> Curve:
    """Points (rows targeted, U) of the uplift curve, starting at (0, 0)."""
    n, n_t, n_c, r_t, r_c = _cumulative(*_arrays(y, score, treated))
    rate_t = np.divide(r_t, n_t, out=np.zeros_like(r_t), where=n_t > 0)
    rate_c = np.divide(r_c, n_c, out=np.zeros_like(r_c), where=n_c > 0)
    return np.r_[0.0, n], np.r_[0.0, (rate_t - rate_c) * n]


def _area(curve: Curve) -> float:
    x, v = curve
    return float(np.sum((x[1:] - x[:-1]) * (v[1:] + v[:-1]) / 2.0))


def _normalised(actual: Curve, perfect: Curve) -> float:
    """(area(actual) - random) / (area(perfect) - random); NaN when undefined."""
    x_end, v_end = float(perfect[0][-1]), float(perfect[1][-1])
    random_area = x_end * v_end / 2.0
    denominator = _area(perfect) - random_area
    if not np.isfinite(denominator) or abs(denominator) < 1e-12:
        return float("nan")
    return (_area(actual) - random_area) / denominator


def _valid(ya: NDArray[np.float64], ta: NDArray[np.bool_]) -> bool:
    return bool(ta.any() and (~ta).any())


def qini_coefficient(y: ArrayLike, score: ArrayLike, treated: ArrayLike) -> float:
    """Normalised area between the Qini curve and random targeting (``sklift.qini_auc_score``
    with ``negative_effect=True``); NaN without both treated and control rows."""
    ya, sa, ta = _arrays(y, score, treated)
    if not _valid(ya, ta):
        return float("nan")
    perfect = ya * ta - ya * ~ta
    return _normalised(qini_curve(ya, sa, ta), qini_curve(ya, perfect, ta))


def auuc(y: ArrayLike, score: ArrayLike, treated: ArrayLike) -> float:
    """Normalised area between the uplift curve and random targeting
    (``sklift.uplift_auc_score``); NaN without both treated and control rows."""
    ya, sa, ta = _arrays(y, score, treated)
    if not _valid(ya, ta):
        return float("nan")
    control_responders = np.sum((ya == 1) & ~ta)
    treated_non_responders = np.sum((ya == 0) & ta)
    summand = ya if control_responders > treated_non_responders else ta.astype(np.float64)
    perfect = 2.0 * (ya == ta) + summand
    return _normalised(uplift_curve(ya, sa, ta), uplift_curve(ya, perfect, ta))


def _prefix(ranker: str) -> str:
    return "" if ranker == "model" else f"{ranker}_"


def ranker_metrics(
    churned: ArrayLike,
    arm: ArrayLike,
    scores: dict[str, NDArray[np.float64]],
    actions: tuple[str, ...],
    controls: dict[str, str],
) -> dict[str, float]:
    """Qini coefficient and AUUC of each ranker, per action and their mean.

    Args:
        churned: 1 where the row's customer churned within the horizon (the response is 1 - it).
        arm: each row's arm (an action or a control arm).
        scores: ranker -> [n, len(actions)] uplift scores (higher: more churn prevented).
        actions: the treatments, in the order of the score columns.
        controls: metric-name suffix -> the arm used as control ("" -> ``cross_sell``, say);
            ``{action}`` in it is replaced by the action (``held_out:{action}``: each action's
            own holdouts).

    Returns:
        ``{prefix}test_{qini|auuc}{suffix}_{action}`` and ``..._mean``, where prefix is empty
        for the ranker ``model`` and ``<ranker>_`` otherwise.
    """
    retained = 1.0 - np.asarray(churned, dtype=np.float64)
    arms = np.asarray(arm).astype(str)
    out: dict[str, float] = {}
    for ranker, s in scores.items():
        for suffix, control in controls.items():
            for name, fn in (("qini", qini_coefficient), ("auuc", auuc)):
                values = []
                for j, action in enumerate(actions):
                    rows = (arms == action) | (arms == control.format(action=action))
                    v = fn(retained[rows], s[rows, j], arms[rows] == action)
                    out[f"{_prefix(ranker)}test_{name}{suffix}_{action}"] = v
                    values.append(v)
                finite = [v for v in values if np.isfinite(v)]
                mean = float(np.mean(finite)) if finite else float("nan")
                out[f"{_prefix(ranker)}test_{name}{suffix}_mean"] = mean
    return out


ANY_RETENTION = "any_retention"
"""The pooled treatment of ``pool_actions``: a retention offer drawn from the log's mix."""


def pool_actions(
    arm: ArrayLike,
    scores: dict[str, NDArray[np.float64]],
    actions: tuple[str, ...],
    label: str = ANY_RETENTION,
    held: str = "held_out:",
) -> tuple[NDArray[np.str_], dict[str, NDArray[np.float64]], tuple[str, ...]]:
    """Every action's rows as one treatment, "any retention offer", for ``ranker_metrics``.

    With matched holdouts (arms ``<held><action>``, ``training.uplift.data.matched_arms``) every
    row, contacted or held out, was assigned its offer before the coin, so it is scored by that
    offer's column: the pooled treatment is "make the assigned offer". Otherwise the pooled
    treatment is the randomised mix the contacts were drawn from, and every row is scored by the
    mix of its action scores, weighted by each action's share of the treated rows (scoring a
    contacted row by its own action would give contacted and control rows different scores).

    Returns:
        (the arms with ``actions`` renamed ``label`` and ``<held><action>`` renamed
        ``<held><label>``, ranker -> [n, 1] scores, ``(label,)``).
    """
    arms = np.asarray(arm).astype(str)
    counts = np.array([np.sum(arms == a) for a in actions], dtype=np.float64)
    mix = counts / counts.sum() if counts.sum() > 0 else np.full(len(actions), 1 / len(actions))
    column = np.full(len(arms), -1)
    for j, a in enumerate(actions):
        column[arms == f"{held}{a}"] = j
    matched = bool((column >= 0).any())
    if matched:
        for j, a in enumerate(actions):
            column[arms == a] = j
    pooled: dict[str, NDArray[np.float64]] = {}
    for name, s in scores.items():
        values = np.asarray(s, dtype=np.float64)
        out = values @ mix
        own = column >= 0
        out[own] = values[own, column[own]]
        pooled[name] = out[:, None]
    out_arm = np.where(np.isin(arms, actions), label, arms)
    if matched:
        out_arm = np.where(column >= 0, np.where(np.isin(arms, actions), label, f"{held}{label}"),
                           out_arm)  # fmt: skip
    return out_arm, pooled, (label,)


RANDOM_DRAWS = 200
"""Random rankings drawn for the noise floor: enough for a stable 95th percentile."""
RANDOM_QUANTILE = 0.95
"""The share of random rankings a model's Qini and AUUC must beat (``random_test_<m>_p95_...``)."""


def random_metrics(
    churned: ArrayLike,
    arm: ArrayLike,
    actions: tuple[str, ...],
    controls: dict[str, str],
    draws: int = RANDOM_DRAWS,
    seed: int = 7,
    quantile: float = RANDOM_QUANTILE,
) -> dict[str, float]:
    """Random targeting on the same rows: the noise floor a model's figures must clear.

    Returns:
        Over ``draws`` random rankings: the mean of each metric (``random_test_...``, about 0),
        the spread of the Qini coefficient (``random_test_qini_sd...``) and the ``quantile`` of
        the Qini coefficient and AUUC (``random_test_qini_p95...``, ``random_test_auuc_p95...``
        for the default 0.95), per action and for the mean over actions: a ranking scoring above
        it beats 95% of random rankings of this test window.
    """
    n = len(np.asarray(arm))
    rng = np.random.default_rng(seed)
    runs = [
        ranker_metrics(churned, arm, {"random": rng.random((n, len(actions)))}, actions, controls)
        for _ in range(draws)
    ]
    out = {k: float(np.nanmean([r[k] for r in runs])) for k in runs[0]}
    tag = f"p{int(round(quantile * 100))}"
    for k in runs[0]:
        values = np.array([r[k] for r in runs], dtype=np.float64)
        finite = values[np.isfinite(values)]
        for name in ("qini", "auuc"):
            if k.startswith(f"random_test_{name}"):
                q = float(np.quantile(finite, quantile)) if len(finite) else float("nan")
                out[k.replace(f"random_test_{name}", f"random_test_{name}_{tag}", 1)] = q
        if k.startswith("random_test_qini"):
            out[k.replace("random_test_qini", "random_test_qini_sd", 1)] = float(np.nanstd(values))
    return out


def truth_metrics(
    predicted: NDArray[np.float64],
    true: NDArray[np.float64],
    actions: tuple[str, ...],
    rankers: dict[str, NDArray[np.float64]],
    top_share: float = 0.1,
) -> dict[str, float]:
    """How predicted effects match the simulator's true effects on the same rows.

    Args:
        predicted, true: [n, len(actions)] effects (change in P(churn), negative is good).
        actions: the action of each column.
        rankers: ranker -> [n, len(actions)] uplift scores (higher: targeted first).
        top_share: share of rows each ranker targets for ``<ranker>_top10_true_effect``.

    Returns:
        ``truth_corr_<action>`` (Pearson), ``truth_spearman_<action>``, ``pred_mean_effect_<a>``,
        ``true_mean_effect_<a>``, their means over actions, and per ranker the mean true effect
        of the rows it targets first (lower is better), averaged over actions.
    """
    from scipy.stats import pearsonr, spearmanr

    out: dict[str, float] = {}
    ok = np.isfinite(true).all(1) & np.isfinite(predicted).all(1)
    p, t = predicted[ok], true[ok]
    for j, action in enumerate(actions):
        constant = np.ptp(p[:, j]) == 0 or np.ptp(t[:, j]) == 0 if len(p) > 1 else True
        out[f"truth_corr_{action}"] = (
            float("nan") if constant else float(pearsonr(p[:, j], t[:, j])[0])
        )
        out[f"truth_spearman_{action}"] = (
            float("nan") if constant else float(spearmanr(p[:, j], t[:, j])[0])
        )
        out[f"pred_mean_effect_{action}"] = float(np.mean(p[:, j])) if len(p) else float("nan")
        out[f"true_mean_effect_{action}"] = float(np.mean(t[:, j])) if len(t) else float("nan")
    for key in ("truth_corr", "truth_spearman", "pred_mean_effect", "true_mean_effect"):
        values = [out[f"{key}_{a}"] for a in actions if np.isfinite(out[f"{key}_{a}"])]
        out[f"{key}_mean"] = float(np.mean(values)) if values else float("nan")
    k = max(1, int(round(top_share * len(t))))
    for ranker, s in rankers.items():
        s = s[ok]
        tops = [
            float(t[np.argsort(-s[:, j], kind="stable")[:k], j].mean()) for j in range(len(actions))
        ]
        out[f"{ranker}_top{int(round(top_share * 100))}_true_effect"] = (
            float(np.mean(tops)) if len(t) else float("nan")
        )
    return out


def uplift_area(y: ArrayLike, score: ArrayLike, treated: ArrayLike) -> float:
    """Unnormalised AUUC: the area under the uplift curve with both axes per row, x = share
    targeted (0..1) and U(k) / n; for continuous outcomes too. Random targeting scores about
    half the average effect (``uplift_area_random``)."""
    ya, sa, ta = _arrays(y, score, treated)
    if not _valid(ya, ta):
        return float("nan")
    x, u = uplift_curve(ya, sa, ta)
    n = float(len(ya))
    return _area((x / n, u / n))


def uplift_area_random(y: ArrayLike, treated: ArrayLike) -> float:
    """``uplift_area`` of random targeting: half the difference of the group means."""
    ya = np.asarray(y, dtype=np.float64)
    ta = np.asarray(treated).astype(bool)
    if not _valid(ya, ta):
        return float("nan")
    return float(ya[ta].mean() - ya[~ta].mean()) / 2.0
