"""Score the whole base from the offline store: ``retain score [--as-of DATE]``.

Every customer with a monthly snapshot at the as-of month end is scored with the churn champion
on the point-in-time features of the FeatureService it was trained on (``features.frames``:
the same features, and the same request time, as the service's online read), one source part at
a time, so memory stays bounded by the largest part. Each part adds its segments and monthly
margin, read point in time from the ``customer_segments`` feature view (``segments_v1``: made at
feature-build time by ``features.segments``, so the view is the truth and a changed ``value.toml``
applies from the next ``retain features build``), its value and value at stake (the margin, P(churn)
and the value formula of the current ``value.toml``) and, when a retention uplift champion exists,
the best retention action and its expected saved value. The table is written to
``$RETAIN_HOME/scores/as_of=YYYY-MM-DD/part-NNNNN.parquet`` (with ``_run.json``) in a temporary
folder renamed into place at the end, so a failed run leaves the previous table whole; the run is
logged to MLflow (experiment ``retain-scores``).

The parts are scored here, one after another (``score_locally``), or on the workers of a Dask
cluster (``serving.distributed``); both call ``score_part`` and write the same table.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from features.schema import SEGMENTS_SERVICE
from features.segments import (
    OUTPUTS,
    ValueConfig,
    customer_value,
    definition_version,
    segment_columns,
)
from retain.core.columns import AS_OF, KEY
from retain.core.errors import ConfigError, DataError, NotReadyError
from retain.core.ids import CustomerIds
from retain.core.progress import Progress, silent
from retain.core.settings import Settings
from serving.actions import Action, ActionCatalogue
from serving.config import ServingConfig
from serving.decide import customer_risk_tolerance

if TYPE_CHECKING:
    from training.churn.load import LoadedModel
    from training.uplift.model import UpliftModel

SCORES_DIR = "scores"
RUN_FILE = "_run.json"
EXPERIMENT = "retain-scores"

COLUMNS: tuple[str, ...] = (
    "customer_id",
    "customer_key",
    "branch_id",
    "value_tier",
    "lifecycle_stage",
    "behaviour_segment",
    "segments_version",
    "churn_probability",
    "risk_band",
    "monthly_margin",
    "value",
    "value_at_stake",
    "action",
    "expected_saved_value",
)
"""The scores table, in order. ``customer_id`` is the bank's id; ``customer_key`` the stores'."""


@dataclass(frozen=True)
class ScoreRun:
    """What ``score_base`` wrote (also ``_run.json`` in the table's folder)."""

    as_of: str
    path: str
    customers: int
    parts: int
    model_name: str
    model_version: str
    feature_service: str
    uplift_version: str | None
    seconds: float
    mlflow_run_id: str | None = None


@dataclass(frozen=True)
class BatchModels:
    """Everything a part is scored with: the models and the configuration they are read with."""

    loaded: LoadedModel
    service: str
    config: ServingConfig
    value_config: ValueConfig
    ids: CustomerIds
    uplift: UpliftModel | None = None
    uplift_version: str | None = None
    catalogue: ActionCatalogue | None = None

    @property
    def versions(self) -> tuple[str, str | None]:
        """The churn and uplift versions, which every worker of a cluster must also load."""
        return self.loaded.version, self.uplift_version


PartsScorer = Callable[
    [Settings, pd.Timestamp, Sequence[NDArray[np.int64]], BatchModels],
    Iterator[tuple[int, pd.DataFrame]],
]
"""Scores the non-empty key arrays of the parts and yields ``(index, table)`` as each is done,
in any order; ``index`` is the part's position in the list and names its file."""


def scores_root(settings: Settings) -> Path:
    return settings.home / SCORES_DIR


def month_end(text: str) -> pd.Timestamp:
    """The month end (23:59:59 UTC, as snapshots are stamped) of ``YYYY-MM`` or ``YYYY-MM-DD``.

    Raises:
        ConfigError: not a date of either form.
    """
    try:
        if len(text) not in (7, 10):
            raise ValueError("wrong length")
        day = pd.Timestamp(text)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"--as-of {text!r} is not a date: use YYYY-MM or YYYY-MM-DD") from e
    return pd.Period(day, freq="M").end_time.tz_localize("UTC").floor("s")


def active_keys(settings: Settings, as_of: pd.Timestamp) -> list[tuple[str, NDArray[np.int64]]]:
    """Per source part, the store keys of the customers with a monthly snapshot at ``as_of``.

    Raises:
        DataError: the sources are missing or unreadable.
    """
    folder = settings.sources_dir / "balances_flows"
    parts = sorted(folder.glob("*.parquet"))
    if not parts:
        raise DataError(f"no feature sources at {folder}: run `retain features build`")
    out: list[tuple[str, NDArray[np.int64]]] = []
    for part in parts:
        try:
            table = pq.read_table(part, columns=[KEY, AS_OF]).to_pandas()
        except (pa.ArrowException, OSError) as e:
            raise DataError(f"corrupt or unreadable Parquet file {part}: {e}") from e
        stamps = pd.to_datetime(table[AS_OF], utc=True)
        out.append((part.name, table.loc[stamps == as_of, KEY].to_numpy(dtype=np.int64)))
    return out


def retention_actions(catalogue: ActionCatalogue) -> list[Action]:
    return [a for a in catalogue.actions if a.kind == "retention"]


def allowed(action: Action, customer: Mapping[str, Any]) -> bool:
    """Eligibility, suitability and consent, as ``/recommend`` applies them (contact history and
    channel limits are the campaign's business, not the list's)."""
    if not all(c.holds(customer) for c in action.eligibility):
        return False
    if action.risk_level > customer_risk_tolerance(customer):
        return False
    return not action.needs_consent or customer.get("marketing_consent") is True


def best_actions(
    frame: pd.DataFrame,
    actions: list[Action],
    effects: NDArray[np.float64],
    value: NDArray[np.float64],
) -> tuple[list[str | None], NDArray[np.float64]]:
    """Per customer, the allowed retention action with the largest expected saved value
    (``-effect x value - cost``, ``effect`` the change in P(churn) it causes), when positive.

    Returns:
        The action ids (None: no action pays) and their expected saved values (NaN for None).
    """
    saved = -effects * value[:, None] - np.array([a.cost for a in actions])[None, :]
    needed = sorted(
        {c.feature for a in actions for c in a.eligibility}
        | {"risk_tolerance", "marketing_consent"}
    )
    rows = frame.reindex(columns=needed).astype(object).where(frame.reindex(columns=needed).notna())
    records = rows.to_dict("records")
    mask = np.array([[allowed(a, r) for a in actions] for r in records], dtype=bool)
    saved = np.where(mask.reshape(saved.shape), saved, -np.inf)
    best = saved.argmax(axis=1) if len(actions) else np.zeros(len(frame), dtype=int)
    top = saved[np.arange(len(frame)), best] if len(actions) else np.full(len(frame), -np.inf)
    ids = [actions[b].id if t > 0 else None for b, t in zip(best, top, strict=True)]
    return ids, np.where(top > 0, top, np.nan)


def stored_segments(frame: pd.DataFrame, segments: pd.DataFrame) -> dict[str, Any]:
    """The ``customer_segments`` values (``OUTPUTS`` and ``segments_version``) of the customers
    of ``frame``, in its order, from a point-in-time read of ``segments_v1``.

    Raises:
        DataError: a customer has no segments row (sources built before the segments existed,
            or in part).
    """
    keys = frame[KEY].to_numpy(dtype=np.int64)
    rows = segments.drop_duplicates(KEY, keep="last").set_index(KEY).reindex(keys)
    missing = rows["segments_version"].isna().to_numpy()
    if missing.any():
        raise DataError(
            f"customer {int(keys[missing.argmax()])} has no customer_segments row at the as-of "
            "time: run `retain features build`, `retain features apply` and `retain features "
            "materialize`, then score again"
        )
    out: dict[str, Any] = {n: rows[n].to_numpy(dtype=object) for n in OUTPUTS}
    out["monthly_margin"] = rows["monthly_margin"].to_numpy(dtype=np.float64)
    out["segments_version"] = rows["segments_version"].to_numpy(dtype=object)
    return out


def computed_segments(frame: pd.DataFrame, value_config: ValueConfig) -> dict[str, Any]:
    """What the feature build would store for the customers of ``frame``: ``segment_columns``
    with ``value_config`` and its version (for a frame read without the segments view)."""
    out = segment_columns(frame, value_config)
    out["segments_version"] = np.full(len(frame), definition_version(value_config), dtype=object)
    return out


def score_frame(
    frame: pd.DataFrame,
    loaded: LoadedModel,
    config: ServingConfig,
    value_config: ValueConfig,
    ids: CustomerIds,
    uplift: UpliftModel | None = None,
    catalogue: ActionCatalogue | None = None,
    segments: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The scores table rows of a point-in-time feature frame (one row per customer).

    Args:
        segments: the point-in-time ``segments_v1`` frame of the same customers (the stored
            segments, the truth); None computes them from ``frame`` with ``value_config`` as the
            feature build would (``computed_segments``).

    Raises:
        DataError: a customer has no row in ``segments``.
    """
    from training.encode import encode

    p = loaded.model.predict_proba(frame)
    seg = (
        computed_segments(frame, value_config)
        if segments is None
        else stored_segments(frame, segments)
    )
    value = customer_value(seg["monthly_margin"], p, value_config)
    keys = frame[KEY].to_numpy(dtype=np.int64)
    out = pd.DataFrame(
        {
            "customer_id": ids.bank_ids(keys),
            "customer_key": keys,
            "branch_id": frame["branch_id"].astype("Int64").array
            if "branch_id" in frame
            else pd.array([pd.NA] * len(frame), dtype="Int64"),
            "value_tier": seg["value_tier"],
            "lifecycle_stage": seg["lifecycle_stage"],
            "behaviour_segment": seg["behaviour_segment"],
            "segments_version": seg["segments_version"],
            "churn_probability": p,
            "risk_band": [config.band(float(x)) for x in p],
            "monthly_margin": seg["monthly_margin"],
            "value": value,
            "value_at_stake": p * value,
        }
    )
    if uplift is not None and catalogue is not None and len(frame):
        actions = [a for a in retention_actions(catalogue) if a.id in uplift.actions]
        effects = uplift.effects(encode(frame, uplift.spec))
        columns = [uplift.actions.index(a.id) for a in actions]
        chosen, saved = best_actions(frame, actions, effects[:, columns], value)
        out["action"], out["expected_saved_value"] = chosen, saved
    else:
        out["action"], out["expected_saved_value"] = None, np.nan
    out["action"] = out["action"].astype("string")
    out["expected_saved_value"] = out["expected_saved_value"].astype("float64")
    for column in (
        "value_tier",
        "lifecycle_stage",
        "behaviour_segment",
        "segments_version",
        "risk_band",
    ):
        out[column] = out[column].astype("string")
    return out[list(COLUMNS)]


def load_batch_models(settings: Settings) -> BatchModels:
    """The churn champion (the alias ``serving.toml`` names), the uplift champion when there is
    one, and the configuration files.

    Raises:
        NotReadyError: no churn champion.
        ConfigError: a configuration file is wrong.
    """
    from retain.core.ids import load_customer_ids
    from training.churn.load import load_model
    from training.config import FEATURE_SERVICE
    from training.uplift.load import load_uplift

    config = ServingConfig.load(settings)
    value_config = ValueConfig.load(settings)
    ids = load_customer_ids(settings)
    loaded = load_model(settings, config.model_name, config.model_alias)
    service = str(loaded.model.info.get("feature_service", FEATURE_SERVICE))
    uplift: UpliftModel | None
    try:
        uplift, uplift_version = load_uplift(settings)
    except NotReadyError:
        uplift, uplift_version = None, None
    catalogue = ActionCatalogue.load() if uplift is not None else None
    return BatchModels(
        loaded, service, config, value_config, ids, uplift, uplift_version, catalogue
    )


def score_part(
    settings: Settings, when: pd.Timestamp, keys: NDArray[np.int64], models: BatchModels
) -> pd.DataFrame:
    """The scores table rows of the customers ``keys`` (one source part's) at ``when``: the
    model's features and the stored segments (``segments_v1``), both point in time.

    Raises:
        NotReadyError: the features were not applied (the segments service is not registered).
        DataError: a customer has no segments row.
    """
    from features.frames import entity_frame

    entities = pd.DataFrame({KEY: keys, AS_OF: pd.Series([when] * len(keys))})
    frame = entity_frame(settings, entities, models.service)
    segments = entity_frame(settings, entities, SEGMENTS_SERVICE)
    return score_frame(
        frame,
        models.loaded,
        models.config,
        models.value_config,
        models.ids,
        models.uplift,
        models.catalogue,
        segments,
    )


def score_locally(
    settings: Settings,
    when: pd.Timestamp,
    parts: Sequence[NDArray[np.int64]],
    models: BatchModels,
) -> Iterator[tuple[int, pd.DataFrame]]:
    """Score the parts here, one after another (memory: the largest part)."""
    for index, keys in enumerate(parts):
        yield index, score_part(settings, when, keys, models)


def score_base(
    settings: Settings,
    as_of: pd.Timestamp | None = None,
    progress: Progress = silent,
    log_run: bool = True,
    score_parts: PartsScorer = score_locally,
) -> ScoreRun:
    """Score every active customer at ``as_of`` (default: the latest month end in the sources)
    and write the dated, partitioned table.

    Args:
        score_parts: where the parts are scored (``serving.distributed.on_cluster``: on a Dask
            cluster); the table is the same.

    Raises:
        NotReadyError: no churn champion, or the features were not built and applied.
        DataError: the sources are missing or unreadable, or no customer is active at ``as_of``.
        ConfigError: a configuration file is wrong.
    """
    from features.store import latest_month_end

    started = time.perf_counter()
    latest = pd.Timestamp(latest_month_end(settings)).tz_convert("UTC")
    when = latest if as_of is None else as_of
    if when > latest:
        raise DataError(
            f"as-of {when.date()} is after the latest snapshot {latest.date()}: "
            "use an earlier date or build the features of later months"
        )
    models = load_batch_models(settings)
    loaded = models.loaded

    parts = active_keys(settings, when)
    total = sum(len(k) for _, k in parts)
    if total == 0:
        raise DataError(
            f"no customer has a snapshot at {when.date()}: the as-of is before the data begins, "
            "or is not a month the sources hold (the empty base is not scored)"
        )
    root = scores_root(settings)
    final = root / f"as_of={when.date().isoformat()}"
    staging = root / f".staging-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    try:
        done = 0
        written = 0
        progress(0, total)
        scored = [keys for _, keys in parts if len(keys)]
        for index, table in score_parts(settings, when, scored, models):
            table.to_parquet(staging / f"part-{index:05d}.parquet", index=False)
            written += 1
            done += len(table)
            progress(done, total)
        run = ScoreRun(
            as_of=when.date().isoformat(),
            path=str(final),
            customers=done,
            parts=written,
            model_name=loaded.name,
            model_version=loaded.version,
            feature_service=models.service,
            uplift_version=models.uplift_version,
            seconds=round(time.perf_counter() - started, 2),
        )
        if log_run:
            run = _log(settings, run, staging)
        (staging / RUN_FILE).write_text(json.dumps(asdict(run), indent=2), encoding="utf-8")
        _replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return run


def _replace(staging: Path, final: Path) -> None:
    """Put the new table in place of the old one, by renames."""
    old = final.with_name(f".old-{uuid.uuid4().hex[:8]}")
    if final.exists():
        final.rename(old)
    staging.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def _log(settings: Settings, run: ScoreRun, staging: Path) -> ScoreRun:
    """The run in MLflow: model versions, as-of, counts by band and tier, value at stake."""
    import mlflow

    from training.tracking import experiment_id, tracking

    table = pd.read_parquet(staging, columns=["risk_band", "value_tier", "value_at_stake"])
    with (
        tracking(settings),
        mlflow.start_run(
            experiment_id=experiment_id(settings, EXPERIMENT), run_name=f"score {run.as_of}"
        ) as active,
    ):
        mlflow.log_params(
            {
                "as_of": run.as_of,
                "model": f"{run.model_name} v{run.model_version}",
                "uplift_model": f"retain-uplift v{run.uplift_version}"
                if run.uplift_version
                else "none",
                "feature_service": run.feature_service,
            }
        )
        metrics: dict[str, float] = {
            "customers": run.customers,
            "parts": run.parts,
            "seconds": run.seconds,
            "value_at_stake_total": float(table["value_at_stake"].sum()),
        }
        for column in ("risk_band", "value_tier"):
            for name, n in table[column].value_counts().items():
                metrics[f"customers_{column}_{name}"] = int(n)
        mlflow.log_metrics(metrics)
        mlflow.set_tags({"retain.job": "score", "retain.output": run.path})
        return ScoreRun(**{**asdict(run), "mlflow_run_id": active.info.run_id})
