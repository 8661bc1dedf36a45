"""``retain score`` of a whole base from the offline store, with reasons for the top 5%, against a
bare ``Booster.predict`` on the same feature matrix in the same run.

Setup (not timed): a bank of ``customers`` customers x 12 months is simulated, built and applied;
the churn champion is trained on a smaller bank (``MODEL_CUSTOMERS``) and promoted, and the big
bank reads it from that bank's MLflow store (a link): the model's quality does not change the cost
of scoring, and training on the whole base is another benchmark's business.

Then, in this process: the job as ``retain score`` runs it (``score_base``: point-in-time features
of every active customer, one source part at a time, probabilities, segments, value, the Parquet
table and the MLflow run), and the reasons (TreeSHAP, ``top_reasons`` as the at-risk list words
them) of the top 5% by value at stake, read from the offline features (the list's ``explain``
reads the same values from the online store, which is not materialized here). Then each stage
alone on the same parts, to say where the time goes: the feature read, the stored segments' read
(``segments_v1``, point in time, as ``score_part`` reads them), encoding, the bare
``Booster.predict``, the rest of the table (with those segments), the write. With
``dask_workers``, the job again on a ``LocalCluster`` of that many worker processes.

Peak memory is this process's peak RSS after each step (it only grows); the setup commands'
own peaks are in their rows.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from benchmarks.measure import Measurement, retain

T = TypeVar("T")

MONTHS = 12
MODEL_CUSTOMERS = 20_000
TOP_SHARE = 0.05


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(fn: Callable[[], T]) -> tuple[T, float, float]:
    """``fn()``, its wall and CPU seconds (this process, all threads)."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def _bank(home: Path, customers: int, label: str) -> list[Measurement]:
    env = {"RETAIN_HOME": str(home)}
    return [
        retain(
            f"{label}: simulate {customers:,} x {MONTHS} months",
            "simulate",
            "--customers",
            str(customers),
            "--months",
            str(MONTHS),
            env=env,
        ),
        retain(f"{label}: features build", "features", "build", env=env),
        retain(f"{label}: features apply", "features", "apply", env=env),
    ]


def setup(root: Path, customers: int) -> tuple[Path, list[Measurement]]:
    """The bank to score (features applied) reading a promoted churn champion; its home."""
    model_home, home = root / "model", root / "bank"
    env = {"RETAIN_HOME": str(model_home)}
    rows = _bank(model_home, MODEL_CUSTOMERS, "model bank")
    rows.append(
        retain(
            "model bank: train churn",
            "train",
            "churn",
            "--cv-folds",
            "0",
            "--shap-sample",
            "200",
            env=env,
        )
    )
    rows.append(retain("model bank: promote churn", "promote", "churn", env=env))
    rows += _bank(home, customers, "scored bank")
    (home / "mlflow").symlink_to(model_home / "mlflow", target_is_directory=True)
    return home, rows


def _seconds(wall: float, cpu: float) -> str:
    return f"{wall:,.1f} s (CPU {cpu:,.1f} s)"


def _reasons(models: Any, frames: list[pd.DataFrame], table: pd.DataFrame) -> int:
    """The top reasons of the top ``TOP_SHARE`` of the base by value at stake; how many."""
    from serving.reasons import ReasonCatalogue, top_reasons
    from serving.scoring import descriptions
    from training.encode import encode

    model = models.loaded.model
    features = list(model.spec.features)
    catalogue = ReasonCatalogue.load(descriptions=descriptions())
    top = table.nlargest(max(1, int(len(table) * TOP_SHARE)), "value_at_stake")["customer_key"]
    frame = pd.concat(frames, ignore_index=True)
    rows = frame[frame["customer_id"].isin(top.to_numpy())]
    contrib = model.booster.predict(encode(rows, model.spec), pred_contrib=True)
    values = rows[features].astype(object).where(rows[features].notna(), None)
    k = models.config.top_reasons
    listed = [
        top_reasons(c, v, features, catalogue, k)
        for c, v in zip(contrib, values.to_dict("records"), strict=True)
    ]
    return len(listed)


def run(root: Path, customers: int, dask_workers: int = 0) -> list[Measurement | tuple[str, str]]:
    """Set the banks up (unless ``root`` holds them from an earlier run), then measure; returns
    the rows to print."""
    from features.frames import entity_frame
    from features.schema import SEGMENTS_SERVICE
    from retain.core.columns import AS_OF, KEY
    from retain.core.settings import Settings
    from serving.batch import active_keys, load_batch_models, score_base, score_frame
    from training.encode import encode

    home, rows = (
        (root / "bank", []) if (root / "bank" / "mlflow").exists() else setup(root, customers)
    )
    out: list[Measurement | tuple[str, str]] = list(rows)
    settings = Settings(home=home)
    load = os.getloadavg()[0]

    # The first run pays this process's imports (Feast, MLflow, LightGBM) and first reads, as a
    # `retain score` command does; the second is the job's own cost, compared below.
    _, cold_wall, cold_cpu = _timed(lambda: score_base(settings))
    run_, job_wall, job_cpu = _timed(lambda: score_base(settings))
    job_peak = _peak_mib()
    table = pd.read_parquet(run_.path)
    models, models_wall, models_cpu = _timed(lambda: load_batch_models(settings))
    when = pd.Timestamp(run_.as_of).to_period("M").end_time.tz_localize("UTC").floor("s")
    keyed, keys_wall, keys_cpu = _timed(lambda: active_keys(settings, when))
    parts = [k for _, k in keyed if len(k)]

    def read(service: str) -> list[pd.DataFrame]:
        return [
            entity_frame(
                settings, pd.DataFrame({KEY: k, AS_OF: pd.Series([when] * len(k))}), service
            )
            for k in parts
        ]

    frames, read_wall, read_cpu = _timed(lambda: read(models.service))
    segments, seg_wall, seg_cpu = _timed(lambda: read(SEGMENTS_SERVICE))
    model = models.loaded.model
    matrices, enc_wall, enc_cpu = _timed(lambda: [encode(f, model.spec) for f in frames])
    matrix = np.vstack([m.to_numpy() for m in matrices])
    _, bare_wall, bare_cpu = _timed(lambda: model.booster.predict(matrix))
    tables, rest_wall, rest_cpu = _timed(
        lambda: [
            score_frame(
                f,
                models.loaded,
                models.config,
                models.value_config,
                models.ids,
                models.uplift,
                models.catalogue,
                s,
            )
            for f, s in zip(frames, segments, strict=True)
        ]
    )
    write_dir = root / f"write-{os.getpid()}"
    write_dir.mkdir()
    _, write_wall, write_cpu = _timed(
        lambda: [t.to_parquet(write_dir / f"part-{i:05d}.parquet") for i, t in enumerate(tables)]
    )
    listed, why_wall, why_cpu = _timed(lambda: _reasons(models, frames, table))
    stages_peak = _peak_mib()

    whole = job_wall + why_wall
    staged = read_wall + seg_wall + rest_wall + write_wall  # score_base's per-part stages
    floor = bare_wall + read_wall
    n = run_.customers
    out += [
        ("load average (1 min) at the start", f"{load:.1f} on {os.cpu_count()} cores"),
        (f"customers scored ({run_.parts} source parts)", f"{n:,}"),
        ("score_base, first run in this process (imports included)", _seconds(cold_wall, cold_cpu)),
        (
            "score_base, the whole `retain score` job (second run)",
            f"{_seconds(job_wall, job_cpu)}, {n / job_wall:,.0f} customers/s; "
            f"peak {job_peak:,.0f} MiB",
        ),
        (
            f"reasons (TreeSHAP + words) for the top {TOP_SHARE:.0%} ({listed:,})",
            _seconds(why_wall, why_cpu),
        ),
        ("the whole job: scores + reasons", f"{whole:,.1f} s (goal: under 600 s)"),
        ("  champion, uplift and configuration loaded", _seconds(models_wall, models_cpu)),
        ("  active customers' keys (one column of every part)", _seconds(keys_wall, keys_cpu)),
        ("  feature read (point in time, every part)", _seconds(read_wall, read_cpu)),
        ("  segments read (segments_v1, point in time, every part)", _seconds(seg_wall, seg_cpu)),
        ("  encode to the booster's matrix", _seconds(enc_wall, enc_cpu)),
        ("  bare Booster.predict, same matrix", _seconds(bare_wall, bare_cpu)),
        (
            "  score_frame (encode + predict + calibrate, stored segments, value, bands)",
            _seconds(rest_wall, rest_cpu),
        ),
        ("  Parquet write", _seconds(write_wall, write_cpu)),
        (
            "  the rest of score_base (the MLflow run, the rename)",
            f"{job_wall - models_wall - keys_wall - staged:,.1f} s",
        ),
        (
            "scoring throughput / bare predict throughput",
            f"{bare_wall / job_wall:.3f} (bare predict {n / bare_wall:,.0f} customers/s)",
        ),
        (
            "whole job / (bare predict + feature read) (goal: at most 2x)",
            f"{whole / floor:.2f}x wall, {(job_cpu + why_cpu) / (bare_cpu + read_cpu):.2f}x CPU",
        ),
        ("peak RSS after the stages, this process", f"{stages_peak:,.0f} MiB"),
    ]
    if dask_workers:
        out += _on_cluster(settings, dask_workers, job_wall)
    return out


def _on_cluster(settings: Any, workers: int, job_wall: float) -> list[tuple[str, str]]:
    """``score_base`` again with the parts scored on a LocalCluster of worker processes."""
    from distributed import Client, LocalCluster

    from serving.batch import score_base
    from serving.distributed import on_cluster

    with (
        LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        _, wall, cpu = _timed(lambda: score_base(settings, score_parts=on_cluster(client)))
    return [
        (
            f"score_base on a LocalCluster of {workers} worker processes (after start-up)",
            f"{_seconds(wall, cpu)} here; {wall / job_wall:.2f}x the single-machine job",
        )
    ]
