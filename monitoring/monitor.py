"""``retain monitor``: compare a reference window of as-of months with a current one, for the
churn champion. The I/O edge of monitoring: it reads the windows' point-in-time frames through
the champion's feature service, scores them, and hands arrays to the pure statistics
(``drift``, ``performance``, ``attribution``).

Every statistic uses every row of both windows, except attribution drift, which explains a
seeded sample of ``MonitoringConfig.shap_rows`` rows per window with TreeSHAP. The online store's
freshness and online/offline skew (``monitoring.online``; pure parts in ``freshness`` and ``skew``)
read a seeded sample of ``MonitoringConfig.skew_rows`` customers at the latest month end.

Around the model: the data quality of the raw tables (``quality``), feature drift per segment
(``segments``), the mix of actions in the decision log (``decisions``), offer acceptance
against its prediction from ``/feedback`` (``acceptance``) and fairness slices
(``fairness``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from monitoring.acceptance import Acceptance, acceptance_alerts
from monitoring.alerts import alert
from monitoring.attribution import attribution_table, mean_abs_attribution, ndcg
from monitoring.comparable import (
    comparable_config,
    comparable_frames,
    judge_market,
    market_moves,
    market_wide,
    warm_reference,
)
from monitoring.config import CONFIG_FILE, MonitoringConfig
from monitoring.decisions import ActionMix
from monitoring.drift import (
    STATUS_ORDER,
    categorical_drift,
    feature_drift,
    judge,
    numeric_drift,
    worst,
)
from monitoring.fairness import fairness_alerts
from monitoring.online import online_checks
from monitoring.performance import (
    calibration_error,
    cross_recalibrate,
    expected_auc,
    expected_confusion,
    expected_top_share_precision,
    noise_level,
    realised_auc,
    realised_confusion,
    recalibrate,
    top_share_precision,
)
from monitoring.quality import QualityResult, max_missing_rise, read_quality
from monitoring.segments import segment_drift, worst_pairs, worst_segments
from monitoring.windows import (
    MonthWindow,
    available_months,
    month_period,
    parse_window,
    window_rows,
)
from retain.core.churn import ChurnDefinition
from retain.core.columns import AS_OF, KEY, LABEL
from retain.core.errors import DataError, NotReadyError
from retain.core.progress import Progress, silent
from retain.core.settings import Settings
from training.metrics import auc_standard_error

STEPS = 9
"""Steps of ``run_monitor``'s progress."""


@dataclass
class MonitorResult:
    """What a monitoring run found; ``report.py`` renders it.

    Attributes:
        model: ``{"name", "version", "run_id", "feature_service", "train_window", "threshold"}``.
        reference, current: the windows compared (``YYYY-MM..YYYY-MM``).
        rows: rows per window.
        features: the feature drift table (``drift.feature_drift``), most severe first.
        prediction: score and risk band drift, each a dict of the ``FeatureDrift`` fields.
        bands: rows per risk band in each window (shares).
        attribution: per feature mean |SHAP| and ranks in both windows.
        ndcg: of the current attribution ranking against the reference's.
        performance: one row per month of both windows: estimated and realised figures.
        summary: the headline figures (also logged to MLflow).
        alerts: one line per crossed threshold, alerts first.
        samples: values kept for the charts (scores, the drifted features' values).
        freshness: per feature view, the age of the online store's values
            (``freshness.FRESHNESS_COLUMNS``).
        skew: per feature, online against offline values (``skew.SKEW_COLUMNS``).
        online: ``as_of``, ``sample``, ``materialized``, ``note`` of those two checks.
        quality: the raw tables' data quality.
        segments: per segment level, its worst feature (``segments.worst_segments``).
        segment_pairs: the ``segment_top`` worst segment-level-feature PSIs
            (``segments.worst_pairs``).
        actions: the mix of first-ranked actions in the decision log.
        acceptance: realised offer acceptance per action and channel against the predicted
            P(accept), in the action mix's current window.
        fairness: high-risk flag and offer rates by group (``fairness.RATE_COLUMNS``).
        fairness_auc: ROC AUC by group where outcomes are known (``fairness.AUC_COLUMNS``).
        fairness_info: ``auc_rows`` (which rows the AUCs are on) and ``note``.
    """

    model: dict[str, Any]
    reference: str
    current: str
    rows: dict[str, int]
    features: pd.DataFrame
    prediction: dict[str, dict[str, Any]]
    bands: pd.DataFrame
    attribution: pd.DataFrame
    ndcg: float
    performance: pd.DataFrame
    summary: dict[str, Any]
    alerts: list[dict[str, str]]
    config: MonitoringConfig
    samples: dict[str, Any] = field(default_factory=dict)
    freshness: pd.DataFrame = field(default_factory=pd.DataFrame)
    skew: pd.DataFrame = field(default_factory=pd.DataFrame)
    online: dict[str, Any] = field(default_factory=dict)
    quality: QualityResult | None = None
    segments: pd.DataFrame = field(default_factory=pd.DataFrame)
    segment_pairs: pd.DataFrame = field(default_factory=pd.DataFrame)
    actions: ActionMix | None = None
    acceptance: Acceptance | None = None
    fairness: pd.DataFrame = field(default_factory=pd.DataFrame)
    fairness_auc: pd.DataFrame = field(default_factory=pd.DataFrame)
    fairness_info: dict[str, Any] = field(default_factory=dict)


def band_of(p: NDArray[np.float64], bands: dict[str, float]) -> NDArray[np.object_]:
    """The risk band of each probability (``bands``: name -> lower bound, ascending; below the
    first the band is ``low``), as the service assigns it."""
    names = np.array(["low", *bands], dtype=object)
    return names[np.searchsorted(np.array(list(bands.values())), p, side="right")]


def month_performance(
    frame: pd.DataFrame,
    p: NDArray[np.float64],
    threshold: float,
    window: str,
    q: NDArray[np.float64] | None = None,
    recalibrated: NDArray[np.bool_] | None = None,
) -> pd.DataFrame:
    """Per as-of month: CBPE's estimates, and realised figures where every row of the month is
    labelled. The estimates read the recalibrated probabilities ``q`` (``cross_recalibrate``)
    where given, ranking and flagging by the scores ``p``; ``estimated_auc_plain`` reads ``p``
    alone (the champion's own calibration)."""
    rows = []
    months = month_labels(frame)
    labels = frame[LABEL].to_numpy(dtype=np.float64)
    q = p if q is None else q
    done = np.zeros(len(p), dtype=bool) if recalibrated is None else recalibrated
    for month in np.unique(months):
        at = months == month
        pm, qm, ym = p[at], q[at], labels[at]
        labelled = bool(len(ym)) and not np.isnan(ym).any()
        exp = expected_confusion(qm, threshold, scores=pm)
        row: dict[str, Any] = {
            "window": window,
            "month": str(month),
            "rows": int(at.sum()),
            "mean_score": float(pm.mean()),
            "estimated_auc": expected_auc(qm, scores=pm),
            "estimated_auc_plain": expected_auc(pm),
            "recalibrated": bool(done[at].all()),
            "estimated_precision": exp.precision,
            "estimated_recall": exp.recall,
            "estimated_top10_precision": expected_top_share_precision(qm, scores=pm),
            "labelled": labelled,
            "realised_rate": math.nan,
            "realised_auc": math.nan,
            "realised_precision": math.nan,
            "realised_recall": math.nan,
            "realised_top10_precision": math.nan,
            "realised_ece": math.nan,
        }
        if labelled:
            real = realised_confusion(ym, pm, threshold)
            row.update(
                realised_rate=float(ym.mean()),
                realised_auc=realised_auc(ym, pm),
                realised_precision=real.precision,
                realised_recall=real.recall,
                realised_top10_precision=top_share_precision(ym, pm),
                realised_ece=calibration_error(ym, pm),
            )
        rows.append(row)
    return pd.DataFrame(rows)


def month_codes(frame: pd.DataFrame) -> NDArray[np.int64]:
    """Each row's as-of month as ``YYYYMM``, an integer (quick to compare on a million rows)."""
    stamps = pd.to_datetime(frame[AS_OF], utc=True)
    return np.asarray(stamps.dt.year.to_numpy() * 100 + stamps.dt.month.to_numpy(), np.int64)


def _period_code(month: pd.Period) -> int:
    return int(month.year * 100 + month.month)


def _month_name(code: int) -> str:
    return f"{code // 100:04d}-{code % 100:02d}"


def month_labels(frame: pd.DataFrame) -> NDArray[np.str_]:
    """Each row's as-of month, ``YYYY-MM`` (formatted once per distinct month: ``strftime`` on
    every row takes seconds a million rows)."""
    distinct, which = np.unique(month_codes(frame), return_inverse=True)
    return np.array([_month_name(c) for c in distinct], dtype=str)[which]


def _mean(values: pd.Series) -> float:
    return float(values.mean()) if len(values) else math.nan


@dataclass
class _Recalibration:
    """CBPE's recalibrated probabilities per window: ``rows``, cross-fitted by month, with
    whether each row was recalibrated (for the per-month table, where an estimate meets its
    realised figure); ``window``, one fit on every month (for the window-level estimates, so
    that the reference and the current window read the same map). ``months``: the labelled
    months out of sample (``YYYY-MM``) the fits read; ``fitted``: whether any fit was made."""

    rows: dict[str, tuple[NDArray[np.float64], NDArray[np.bool_]]]
    window: dict[str, NDArray[np.float64]]
    months: list[str]
    fitted: bool
    note: str


def _recalibration(
    windows: list[tuple[str, pd.DataFrame, NDArray[np.float64]]],
    train_window: str,
    reference: MonthWindow,
    current: MonthWindow,
    seed: int,
) -> _Recalibration:
    """CBPE's recalibration (``performance.recalibrate``) over the rows of all windows, fitted
    on the labelled months out of sample for the champion and before the current window: not
    its training window (in sample, its scores flatter it; without a recorded one, not the
    reference either), not the current window (its labels are what a realised figure judges).
    Where nothing is fitted, the champion's calibration as it is."""
    months = np.concatenate([month_codes(f) for _, f, _ in windows])
    y = np.concatenate([f[LABEL].to_numpy(dtype=np.float64) for _, f, _ in windows])
    p = np.concatenate([p for _, _, p in windows])
    known = train_window not in ("", "None")
    trained = parse_window(train_window, "training window") if known else reference
    inside = (months >= _period_code(trained.start)) & (months <= _period_code(trained.end))
    fit = ~np.isnan(y) & ~inside & (months < _period_code(current.start))
    y = np.nan_to_num(y)
    q, done = cross_recalibrate(p, months, y, fit, seed=seed)
    full = recalibrate(y[fit], p[fit], p, seed=seed) if fit.any() else None
    fitted = [_month_name(c) for c in np.unique(months[fit])]
    if full is not None:
        note = (
            f"isotonic on {len(fitted)} labelled month(s) out of sample in "
            f"{fitted[0]}..{fitted[-1]}; by month, leave-one-month-out"
        )
    else:
        note = (
            f"none: {len(fitted)} labelled month(s) out of sample for the model before the "
            f"current window (outside {'its training window' if known else 'the reference'} "
            f"{trained.describe()}), too few to fit; the champion's own calibration, as it is"
        )
    whole = p if full is None else full
    rows, window, start = {}, {}, 0
    for w, _, pw in windows:
        at = slice(start, start + len(pw))
        rows[w], window[w] = (q[at], done[at]), whole[at]
        start += len(pw)
    return _Recalibration(rows, window, fitted, full is not None, note)


def _drift_detail(d: dict[str, Any]) -> str:
    name = {"wasserstein": "W/std", "jensen_shannon": "JS"}[d["distance_name"]]
    text = f"PSI {d['psi']:.2f}, {name} {d['distance']:.3f}, {d['test_name']} p={d['p_value']:.1g}"
    if not math.isnan(d.get("move", math.nan)):
        text += f", moved {d['move']:.1f} monthly steps (market-wide)"
    if abs(d["missing_reference"] - d["missing_current"]) >= 0.01:
        text += f", missing {d['missing_reference']:.0%} -> {d['missing_current']:.0%}"
    return text


def _window_frame(
    settings: Settings,
    window: MonthWindow,
    available: list[pd.Timestamp],
    service: str,
    what: str,
    progress: Progress,
) -> pd.DataFrame:
    from features.frames import entity_frame

    months = window.months(available)
    if not months:
        raise DataError(
            f"the {what} window {window.describe()} has no data: the bank's months are "
            f"{month_period(available[0])}..{month_period(available[-1])}"
        )
    rows = window_rows(settings, months)
    if rows.empty:
        raise DataError(f"the {what} window {window.describe()} has no customers with the bank")
    return entity_frame(settings, rows, service, progress)


def require_tracking_store(settings: Settings) -> None:
    """Fail at once where nothing was ever trained (embedded profile without an MLflow store),
    without creating an empty store or importing MLflow.

    Raises:
        NotReadyError: no tracking store, so no champion.
    """
    local = settings.profile == "embedded" and not settings.mlflow_url
    if local and not (settings.mlflow_dir / "mlflow.db").exists():
        raise NotReadyError(
            "no retain-churn@champion: run `retain train churn` and `retain promote churn`"
        )


def run_monitor(
    settings: Settings,
    config: MonitoringConfig,
    reference: str | None = None,
    current: str | None = None,
    progress: Progress = silent,
) -> MonitorResult:
    """Compare the churn champion's reference window with the current one.

    Args:
        settings: where the data, the feature store and the registry are.
        config: thresholds.
        reference: ``YYYY-MM..YYYY-MM``; default: the champion's training window.
        current: ``YYYY-MM..YYYY-MM``; default: the latest ``config.current_months`` months.
        progress: called as ``progress(step, STEPS)``.

    Raises:
        ConfigError: a window is not ``YYYY-MM..YYYY-MM``; ``monitoring.toml`` names a feature
            or segment the champion does not have.
        NotReadyError: no churn champion, or the feature store is not applied.
        DataError: a window has no data.
    """
    from features.frames import entity_frame
    from serving.config import ServingConfig
    from training.churn.load import load_model
    from training.encode import encode
    from training.plots import shap_values
    from training.tracking import client

    ref_window = parse_window(reference, "--reference") if reference else None
    cur_window = parse_window(current, "--current") if current else None
    bands = ServingConfig.load(settings).bands
    require_tracking_store(settings)
    loaded = load_model(settings)
    model = loaded.model
    info = model.info
    service = str(info.get("feature_service", "churn_v1"))
    features = list(model.spec.features)
    config.check_features(features, str(settings.home / CONFIG_FILE))
    if ref_window is None:
        if "train_window" not in info:
            raise DataError(
                f"{loaded.name} v{loaded.version} records no training window: pass --reference"
            )
        ref_window = parse_window(str(info["train_window"]), "training window")
        default_reference = True
    else:
        default_reference = False
    available = available_months(settings)
    if cur_window is None:
        latest = available[-config.current_months :]
        cur_window = MonthWindow(month_period(latest[0]), month_period(latest[-1]))
    not_judged = ""
    if default_reference:
        ref_window, not_judged = _default_reference(ref_window, cur_window, available, info, config)
    progress(1, STEPS)
    ref = _window_frame(settings, ref_window, available, service, "reference", silent)
    cur = _window_frame(settings, cur_window, available, service, "current", silent)
    progress(2, STEPS)
    market = market_wide(ref, features, AS_OF)
    judged = comparable_config(config, features, market)
    ref_c, cur_c = comparable_frames(ref, cur, features, config.recency_cap_months)
    table = feature_drift(ref_c, cur_c, features, judged)
    history = _market_history(settings, available, ref, cur, market, service)
    table = judge_market(table, market_moves(ref, cur, market, AS_OF, history), config)
    pairs = segment_drift(ref_c, cur_c, features, judged)
    del ref_c, cur_c
    segments = worst_segments(pairs, table)
    progress(3, STEPS)
    p_ref, p_cur = model.predict_proba(ref), model.predict_proba(cur)
    score = judge(numeric_drift(p_ref, p_cur, config.psi_bins, "churn_score"), config)
    band_ref, band_cur = band_of(p_ref, bands), band_of(p_cur, bands)
    band = judge(categorical_drift(pd.Series(band_ref), pd.Series(band_cur), "risk_band"), config)
    order = ["low", *bands]
    band_table = (
        pd.DataFrame(
            {
                "reference": pd.Series(band_ref).value_counts(normalize=True),
                "current": pd.Series(band_cur).value_counts(normalize=True),
            }
        )
        .reindex(order)
        .fillna(0.0)
    )
    progress(4, STEPS)
    rng = np.random.default_rng(config.seed)

    def attributions(frame: pd.DataFrame) -> pd.Series:
        take = rng.choice(len(frame), size=min(config.shap_rows, len(frame)), replace=False)
        x = encode(frame.iloc[np.sort(take)], model.spec)
        return mean_abs_attribution(shap_values(model.booster, x), features)

    a_ref, a_cur = attributions(ref), attributions(cur)
    similarity = ndcg(a_ref, a_cur, config.ndcg_top)
    progress(5, STEPS)
    # The labelled months between the windows: where the estimate meets the realised figures
    # out of sample (the reference is usually the training window, in sample).
    definition = ChurnDefinition()
    data_end = available[-1]
    between = [
        m
        for m in available
        if ref_window.end < month_period(m) < cur_window.start
        and definition.is_labelled(pd.Series([m]), data_end).iloc[0]
    ]
    recent_auc, recent_se, recent = math.nan, math.nan, ""
    mid, p_mid = None, None
    if between:
        mid = entity_frame(settings, window_rows(settings, between), service)
        p_mid = model.predict_proba(mid)
    windows = [("reference", ref, p_ref), ("between", mid, p_mid), ("current", cur, p_cur)]
    present = [(w, f, p) for w, f, p in windows if f is not None and p is not None]
    trained = str(info.get("train_window", ""))
    recal = _recalibration(present, trained, ref_window, cur_window, config.seed)
    parts = [month_performance(f, p, model.threshold, w, *recal.rows[w]) for w, f, p in present]
    q_ref, q_cur = recal.window["reference"], recal.window["current"]
    if mid is not None and p_mid is not None:
        # Decay: the realised AUC of the latest labelled months, pooled, against the test AUC
        # the champion was promoted with.
        last = between[-config.current_months :]
        at = mid[AS_OF].isin(pd.to_datetime(last, utc=True)).to_numpy()
        recent_y = mid[LABEL].to_numpy(dtype=np.float64)[at]
        recent_auc = realised_auc(recent_y, p_mid[at])
        leavers = int(np.nansum(recent_y))
        recent_se = auc_standard_error(recent_auc, leavers, int((recent_y == 0).sum()))
        recent = f"{month_period(last[0])}..{month_period(last[-1])}"
    performance = pd.concat(parts, ignore_index=True)
    mid_perf = performance[(performance["window"] == "between") & performance["labelled"]]
    # Every labelled month out of sample, whichever window holds it (the default reference
    # follows the training window and holds them where no month lies between the windows).
    oos_perf = performance[performance["month"].isin(recal.months)].drop_duplicates("month")
    y_cur = cur[LABEL].to_numpy(dtype=np.float64)
    labelled = ~np.isnan(y_cur)
    auc_ref = expected_auc(q_ref, scores=p_ref)
    auc_cur_est = expected_auc(q_cur, scores=p_cur)
    auc_cur_real = realised_auc(y_cur[labelled], p_cur[labelled]) if labelled.any() else math.nan
    auc_cur = auc_cur_real if not math.isnan(auc_cur_real) else auc_cur_est
    # Like for like: a realised current AUC against the reference's realised one where the
    # reference is labelled and out of sample (not the training window, where the model's own
    # fit flatters it), else against the reference's estimate. CBPE's estimate is only as good
    # as the calibration, and a champion calibrated on other months can be off by 0.05 on all
    # of them alike: against a realised AUC that bias would read as decay every month.
    auc_ref_real, ref_noise = math.nan, 0.0
    if not math.isnan(auc_cur_real) and not _overlaps(ref_window, str(info.get("train_window"))):
        auc_ref_real, ref_noise = labelled_auc(ref[LABEL].to_numpy(dtype=np.float64), p_ref)
    auc_against = auc_ref if math.isnan(auc_ref_real) else auc_ref_real
    auc_status = config.level("auc_drop", auc_against - auc_cur)
    if not math.isnan(auc_cur_real):  # a realised AUC is a sample: a drop within noise says nothing
        y_now = y_cur[labelled]
        noise = auc_standard_error(auc_cur_real, int(y_now.sum()), int((y_now == 0).sum()))
        noise = math.hypot(noise, ref_noise)  # of a difference of independent samples
        auc_status = least(auc_status, noise_level(auc_against - auc_cur, noise))
    champion_test_auc, test_se = math.nan, 0.0
    if loaded.run_id:
        from mlflow.exceptions import MlflowException

        try:
            metrics = client(settings).get_run(loaded.run_id).data.metrics
            champion_test_auc = float(metrics.get("roc_auc", math.nan))
            test_se = champion_auc_error(metrics)
        except MlflowException:
            pass

    alerts: list[dict[str, str]] = []
    for d in table.to_dict("records"):
        if d["status"] != "ok":
            alerts.append(alert("feature drift", d["feature"], d["status"], _drift_detail(d)))
    for d in (score, band):
        if d.status != "ok":
            alerts.append(alert("prediction drift", d.feature, d.status, _drift_detail(d.__dict__)))
    ndcg_status = config.level("ndcg", similarity)
    if ndcg_status != "ok":
        top = ", ".join(a_cur.sort_values(ascending=False).index[:3])
        alerts.append(
            alert(
                "attribution drift",
                "mean |SHAP| ranking",
                ndcg_status,
                f"nDCG {similarity:.3f} (current top 3: {top})",
            )
        )
    if auc_status != "ok":
        source = "realised" if not math.isnan(auc_cur_real) else "estimated"
        alerts.append(
            alert(
                "performance",
                "ROC AUC",
                auc_status,
                f"{source} {auc_cur:.3f} against the reference's "
                f"{'estimated' if math.isnan(auc_ref_real) else 'realised'} {auc_against:.3f}",
            )
        )
    decay_status = config.level("auc_drop", champion_test_auc - recent_auc)
    # The test AUC is a sample too (a few thousand rows, under a hundred leavers).
    decay_noise = math.hypot(recent_se, test_se)
    decay_status = least(decay_status, noise_level(champion_test_auc - recent_auc, decay_noise))
    if decay_status != "ok":
        alerts.append(
            alert(
                "performance",
                f"realised ROC AUC {recent}",
                decay_status,
                f"{recent_auc:.3f} against the champion's test AUC {champion_test_auc:.3f}",
            )
        )
    progress(6, STEPS)
    online = online_checks(settings, config, service)
    progress(7, STEPS)
    ref_months, cur_months = ref_window.months(available), cur_window.months(available)
    earlier = [m for m in available if m < cur_months[0]]
    quality = read_quality(
        settings, ref_months, cur_months, config, earlier[-1] if earlier else None
    )
    progress(8, STEPS)
    actions = _action_mix(settings, config, ref_window, cur_window)
    accepted = _acceptance(settings, config, actions)
    # AUC by slice on the latest rows with outcomes: the current window's, else the labelled
    # months between the windows, else the reference's (in sample where it is the training's).
    if labelled.any():
        labelled_frame, labelled_p, auc_rows = cur, p_cur, f"current {cur_window.describe()}"
    elif mid is not None and p_mid is not None:
        span = f"{month_period(between[0])}..{month_period(between[-1])}"
        labelled_frame, labelled_p, auc_rows = mid, p_mid, f"between {span}"
    else:
        labelled_frame, labelled_p = ref, p_ref
        auc_rows = f"reference {ref_window.describe()}"
    fair = _fairness(
        settings, config, cur, p_cur >= model.threshold, labelled_frame, labelled_p, actions
    )
    fair.info["auc_rows"] = auc_rows
    progress(9, STEPS)
    alerts += quality.alerts
    alerts += segment_alerts(segments, config)
    if actions.drift is not None and actions.drift.status != "ok":
        alerts.append(
            alert(
                "prediction drift",
                "action mix (decision log)",
                actions.drift.status,
                _drift_detail(actions.drift.__dict__),
            )
        )
    alerts += fairness_alerts(fair.rates)
    alerts += acceptance_alerts(accepted)
    alerts += online.alerts
    if not_judged:
        alerts = [a for a in alerts if not against_reference(a)]
        alerts.append(alert("reference", ref_window.describe(), "warn", not_judged))
        table = table.assign(status=NOT_JUDGED)
    alerts.sort(key=lambda a: a["status"] != "alert")
    counts = table["status"].value_counts()
    summary: dict[str, Any] = {
        "status": worst([a["status"] for a in alerts]),
        "features": len(features),
        "features_alert": int(counts.get("alert", 0)),
        "features_warn": int(counts.get("warn", 0)),
        "max_feature_psi": float(table["psi"].max()) if len(table) else 0.0,
        "score_psi": score.psi,
        "score_wasserstein": score.distance,
        "score_mean_reference": float(p_ref.mean()),
        "score_mean_current": float(p_cur.mean()),
        "risk_band_psi": band.psi,
        "risk_band_js": band.distance,
        "ndcg": similarity,
        "auc_reference_estimated": auc_ref,
        "auc_reference_realised": auc_ref_real,
        "auc_current_estimated": auc_cur_est,
        "auc_current_realised": auc_cur_real,
        "champion_test_auc": champion_test_auc,
        "auc_latest_labelled_realised": recent_auc,
        "latest_labelled_months": recent,
        "current_labelled_share": float(labelled.mean()) if len(labelled) else 0.0,
        # CBPE's own check, month by month out of sample: estimated minus realised AUC, with
        # the recalibration (leave-one-month-out) and with the champion's calibration alone.
        "auc_estimate_error_between": _mean(mid_perf["estimated_auc"] - mid_perf["realised_auc"]),
        "auc_estimate_abs_error_between": _mean(
            (mid_perf["estimated_auc"] - mid_perf["realised_auc"]).abs()
        ),
        "auc_estimate_error_between_plain": _mean(
            mid_perf["estimated_auc_plain"] - mid_perf["realised_auc"]
        ),
        "auc_estimate_error_out_of_sample": _mean(
            oos_perf["estimated_auc"] - oos_perf["realised_auc"]
        ),
        "auc_estimate_error_out_of_sample_plain": _mean(
            oos_perf["estimated_auc_plain"] - oos_perf["realised_auc"]
        ),
        "cbpe_recalibration_months": len(recal.months) if recal.fitted else 0,
        "cbpe_recalibration": recal.note,
        "freshness_status": worst(online.freshness["status"].tolist())
        if len(online.freshness)
        else "n/a",
        "freshness_max_age_days": float(online.freshness["max_age_days"].max())
        if online.freshness["max_age_days"].notna().any()
        else math.nan,
        "skew_customers": online.info["sample"],
        "skew_features": len(online.skew),
        "skew_features_differ": int((online.skew["differ"] > 0).sum()),
        "skew_max_share": float(online.skew["differ_share"].max())
        if len(online.skew)
        else math.nan,
        "quality_checks_failed": len(quality.checks),
        "quality_max_missing_rise": max_missing_rise(quality.missing),
        "segment_levels_judged": len(segments),
        "segment_levels_drifted": int((segments["status"] != "ok").sum()),
        "segment_levels_hidden": int(segments["hidden"].sum()) if len(segments) else 0,
        "max_segment_psi": float(segments["psi"].max()) if len(segments) else math.nan,
        "decisions_reference": int(actions.shares["reference_decisions"].sum()),
        "decisions_current": int(actions.shares["current_decisions"].sum()),
        "action_mix_psi": actions.drift.psi if actions.drift else math.nan,
        "action_mix_js": actions.drift.distance if actions.drift else math.nan,
        **accepted.summary(),
        "fairness_min_ratio_high_risk": _min_ratio(fair.rates, HIGH_RISK),
        "fairness_min_ratio_offer": _min_ratio(fair.rates, OFFER),
        "reference_judged": not not_judged,
        "alerts": sum(a["status"] == "alert" for a in alerts),
        "warnings": sum(a["status"] == "warn" for a in alerts),
    }
    shown = [f for f in table["feature"].head(6)]
    samples = {
        "scores": (p_ref, p_cur),
        "features": {f: (ref[f], cur[f]) for f in shown},
    }
    return MonitorResult(
        model={
            "name": loaded.name,
            "version": loaded.version,
            "run_id": loaded.run_id,
            "feature_service": service,
            "train_window": str(info.get("train_window", "")),
            "threshold": model.threshold,
        },
        reference=ref_window.describe(),
        current=cur_window.describe(),
        rows={"reference": len(ref), "current": len(cur)},
        features=table,
        prediction={"churn_score": score.__dict__, "risk_band": band.__dict__},
        bands=band_table,
        attribution=attribution_table(a_ref, a_cur),
        ndcg=similarity,
        performance=performance,
        summary=summary,
        alerts=alerts,
        config=config,
        samples=samples,
        freshness=online.freshness,
        skew=online.skew,
        online=online.info,
        quality=quality,
        segments=segments,
        segment_pairs=worst_pairs(pairs, table, config.segment_top),
        actions=actions,
        acceptance=accepted,
        fairness=fair.rates,
        fairness_auc=fair.auc,
        fairness_info=fair.info,
    )


NOT_JUDGED = "n/a"
"""A feature's status where the reference is not comparable with the current window."""

REFERENCE_KINDS = frozenset(
    {"feature drift", "segment drift", "prediction drift", "attribution drift"}
)
"""Alert kinds that compare the current window's features or scores with the reference's."""


def against_reference(a: dict[str, str]) -> bool:
    """Whether an alert line compares the current window with the reference window: drift of
    features, segments, scores and attributions, and the AUC against the reference's (not the
    decision log's action mix, whose windows are the log's, nor the realised decay, judged
    against the champion's test AUC)."""
    if a["kind"] == "performance":
        return a["subject"] == "ROC AUC"
    return a["kind"] in REFERENCE_KINDS and a["subject"] != "action mix (decision log)"


def least(a: str, b: str) -> str:
    """The less severe of two statuses."""
    return min(a, b, key=STATUS_ORDER.__getitem__)


def champion_auc_error(metrics: dict[str, float]) -> float:
    """The standard error of the champion's test ROC AUC from its run's ``roc_auc``, ``rows``
    and ``base_rate`` (0 where one is missing: judged as if exact)."""
    auc, rows, rate = (metrics.get(k, math.nan) for k in ("roc_auc", "rows", "base_rate"))
    if any(math.isnan(v) for v in (auc, rows, rate)):
        return 0.0
    leavers = round(rows * rate)
    error = auc_standard_error(auc, leavers, round(rows) - leavers)
    return 0.0 if math.isnan(error) else error


def labelled_auc(y: NDArray[np.float64], p: NDArray[np.float64]) -> tuple[float, float]:
    """The realised ROC AUC of the rows with a label (NaN: none yet) and its standard error;
    (NaN, 0) without both classes."""
    known = ~np.isnan(y)
    auc = realised_auc(y[known], p[known]) if known.any() else math.nan
    if math.isnan(auc):
        return math.nan, 0.0
    leavers = int(y[known].sum())
    return auc, auc_standard_error(auc, leavers, int(known.sum()) - leavers)


def _overlaps(window: MonthWindow, other: str) -> bool:
    """Whether ``window`` shares a month with ``other`` (a window's text; empty or None: no)."""
    if other in ("", "None"):
        return False
    o = parse_window(other, "training window")
    return window.start <= o.end and o.start <= window.end


def _market_history(
    settings: Settings,
    available: list[pd.Timestamp],
    reference: pd.DataFrame,
    current: pd.DataFrame,
    market: list[str],
    service: str,
) -> pd.DataFrame | None:
    """One customer's row for each month before the current window that is not in the
    reference (the warm-up months left out of it, the months between the two): the
    market-wide features' other steps and their latest value (``comparable.market_moves``).
    None where there are no market-wide features or no such months."""
    from features.frames import entity_frame

    held = set(pd.to_datetime(reference[AS_OF], utc=True).unique())
    start = pd.to_datetime(current[AS_OF], utc=True).min()
    other = [m for m in available if m < start and m not in held]
    if not market or not other:
        return None
    rows = window_rows(settings, other)
    if rows.empty:
        return None
    one = rows.groupby(AS_OF, sort=True).head(1).reset_index(drop=True)
    return entity_frame(settings, one, service)[[AS_OF, *market]]


def _default_reference(
    trained: MonthWindow,
    current: MonthWindow,
    available: list[pd.Timestamp],
    info: dict[str, Any],
    config: MonitoringConfig,
) -> tuple[MonthWindow, str]:
    """The default reference: the champion's training window without the data's warm-up
    (``comparable.warm_reference``), else the first comparable months after the warm-up, no
    later than the champion's test window and before the current window. Where fewer than
    ``config.reference_min_months`` such months exist, the training window as it is, with the
    reason drift is not judged against it (else "")."""
    limit = current.start
    if "test_window" in info:
        limit = min(limit, parse_window(str(info["test_window"]).split(" ")[0]).end + 1)
    starts = [m for m in available if month_period(m) >= limit]
    kept = warm_reference(
        trained.months(available),
        available,
        config.warmup_months,
        starts[0] if starts else None,
        config.reference_min_months,
    )
    if kept:
        return MonthWindow(month_period(kept[0]), month_period(kept[-1])), ""
    first = month_period(available[0])
    comparable = [m for m in available if month_period(m) < limit][config.warmup_months :]
    note = (
        f"drift not judged: the training window {trained.describe()} lies in the data's "
        f"warm-up ({first}..{first + config.warmup_months - 1}: the first warmup_months = "
        f"{config.warmup_months}, whose lookbacks are not full), and {len(comparable)} "
        f"comparable month(s) precede the current window {current.describe()}; drift is judged "
        f"once reference_min_months = {config.reference_min_months} do, or pass --reference"
    )
    return trained, note


HIGH_RISK = "high-risk flag"
OFFER = "offer"


def segment_alerts(segments: pd.DataFrame, config: MonitoringConfig) -> list[dict[str, str]]:
    """One line per segment level whose worst feature drifts more there than in the whole
    population (drift the overall figures hide), the worst ``segment_top``."""
    hidden = segments[segments["hidden"]].head(config.segment_top)
    return [
        alert(
            "segment drift",
            f"{r['segment']} = {r['level']}",
            r["status"],
            f"{r['feature']} PSI {r['psi']:.2f} there ({r['psi_overall']:.2f} overall); "
            f"{r['features_alert']} feature(s) alert, {r['features_warn']} warn",
        )
        for r in hidden.to_dict("records")
    ]


def _action_mix(
    settings: Settings, config: MonitoringConfig, reference: MonthWindow, current: MonthWindow
) -> ActionMix:
    """The decision log's mix of first-ranked actions (``decisions.split_windows``)."""
    from monitoring.decisions import action_mix, read_decisions, split_windows
    from serving.decision_log import log_url

    def bounds(window: MonthWindow) -> tuple[pd.Timestamp, pd.Timestamp]:
        start = pd.Timestamp(window.start.start_time, tz="UTC") - pd.Timedelta(1, "us")
        return start, pd.Timestamp(window.end.end_time, tz="UTC")

    log = read_decisions(log_url(settings), settings.project)
    ref, cur, basis = split_windows(log, bounds(reference), bounds(current), config.current_months)
    return action_mix(ref, cur, config, basis)


def _acceptance(settings: Settings, config: MonitoringConfig, actions: ActionMix) -> Acceptance:
    """Offer acceptance of the delivered actions of the action mix's current window."""
    from monitoring.acceptance import DELIVERED_COLUMNS, acceptance, read_delivered
    from serving.decision_log import log_url

    current = actions.decisions
    if current.empty:
        return acceptance(pd.DataFrame(columns=DELIVERED_COLUMNS), config)
    start = current["at"].min() - pd.Timedelta(1, "us")
    delivered = read_delivered(
        log_url(settings), settings.project, start.to_pydatetime(), current["at"].max()
    )
    return acceptance(delivered[delivered["decision_id"].isin(current["decision_id"])], config)


@dataclass
class _Fairness:
    rates: pd.DataFrame
    auc: pd.DataFrame
    info: dict[str, Any]


def _fairness(
    settings: Settings,
    config: MonitoringConfig,
    current: pd.DataFrame,
    flagged: NDArray[np.bool_],
    labelled: pd.DataFrame,
    p_labelled: NDArray[np.float64],
    actions: ActionMix,
) -> _Fairness:
    """Flag and offer rates by gender and age band, and AUC by slice on ``labelled``'s rows
    with outcomes. Gender comes from the raw customers table (a bank without it: age bands
    only)."""
    from features.build import read_raw_table
    from monitoring.fairness import auc_by_group, rate_ratios
    from monitoring.segments import age_band

    info: dict[str, Any] = {"note": ""}
    try:
        people = read_raw_table(settings.raw_dir, "customers", [KEY, "gender", "birth_year"])
        people = people.drop_duplicates(KEY).set_index(KEY)
    except DataError as e:
        people = pd.DataFrame(columns=["gender", "birth_year"])
        info["note"] = f"gender not measured: {e}"

    def groups(frame: pd.DataFrame, age: pd.Series) -> dict[str, pd.Series]:
        out = {}
        if len(people):
            out["gender"] = frame[KEY].map(people["gender"]).reset_index(drop=True)
        out["age band"] = age_band(age.reset_index(drop=True))
        return out

    rates = [rate_ratios(HIGH_RISK, groups(current, current["age"]), flagged, config)]
    if len(actions.decisions):
        # Each customer's age at the decision's time.
        log = actions.decisions.reset_index(drop=True)
        born = log[KEY].map(people["birth_year"]) if len(people) else pd.Series(np.nan, log.index)
        age = log["at"].dt.year - pd.to_numeric(born, errors="coerce")
        rates.append(rate_ratios(OFFER, groups(log, age), log["offered"].to_numpy(), config))
    auc = auc_by_group(
        groups(labelled, labelled["age"]), labelled[LABEL].to_numpy(dtype=np.float64), p_labelled
    )
    return _Fairness(pd.concat(rates, ignore_index=True), auc, info)


def _min_ratio(rates: pd.DataFrame, measure: str) -> float:
    judged = rates[(rates["measure"] == measure) & (rates["status"] != "n/a")]
    return float(judged["ratio"].min()) if len(judged) else math.nan
