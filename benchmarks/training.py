"""``retain train churn`` split by stage, against a bare ``lightgbm.train`` on the same matrix.

Runs in this process on a home folder whose features are applied. The stages are read off the
training job's own progress calls (``training.churn.job.STAGES``), so the job is measured exactly
as the command runs it. Each figure is wall time and this process's CPU time (all its threads):
on a shared machine the wall times wait for the cores, the CPU times less so.

The MLflow store is created before the job is timed: a bank retrains every month into the store
it already has, and creating one (its schema migrations) is a one-off cost, shown on its own row.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

T = TypeVar("T")


class Clock:
    """Wall and CPU seconds since it was started."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def timed(fn: Callable[[], T]) -> tuple[T, float, float]:
    """``fn()`` with its wall and CPU seconds."""
    clock = Clock()
    out = fn()
    return (out, *clock.lap())


def _seconds(wall: float, cpu: float) -> str:
    return f"{wall:.1f}s (CPU {cpu:.1f}s)"


def run(home: Path) -> list[tuple[str, str]]:
    """Train once through ``train_churn`` and once bare; return (label, figure) rows."""
    import lightgbm as lgb

    from retain.core.columns import LABEL
    from retain.core.settings import Settings
    from simulator.truth import ground_truth
    from training.churn.data import load_dataset
    from training.churn.job import EXPERIMENT, STAGES, split_dataset, train_churn
    from training.config import TrainConfig
    from training.encode import encode
    from training.tracking import experiment_id

    settings = Settings(home=home)
    config = TrainConfig()
    data, frame_wall, frame_cpu = timed(
        lambda: load_dataset(settings, truth=ground_truth(settings))
    )
    _, store_wall, store_cpu = timed(lambda: experiment_id(settings, EXPERIMENT))

    marks: dict[int, tuple[float, float]] = {}
    clock = Clock()

    def mark(done: int, total: int) -> None:
        marks.setdefault(done, clock.lap())

    result = train_churn(settings, config, data=data, progress=mark)
    whole_wall, whole_cpu = clock.lap()

    # The same matrix, parameters and number of rounds, with nothing around it.
    model = result.fitted.model
    _, masks = split_dataset(data, config)
    train = data.frame[masks["train"]]
    x, y = encode(train, model.spec), train[LABEL].to_numpy(dtype=np.float64)
    positives = float(y.sum())
    params = config.lgb_params((len(y) - positives) / positives)
    rounds = model.booster.current_iteration()

    def bare() -> None:
        dataset = lgb.Dataset(x, label=y, categorical_feature=list(model.spec.categorical))
        lgb.train(params, dataset, num_boost_round=rounds)

    _, bare_wall, bare_cpu = timed(bare)

    counts = "/".join(f"{int(masks[k].sum()):,}" for k in ("train", "valid", "test"))
    rows = [
        ("labelled rows (train/valid/test)", f"{len(data.frame):,} ({counts})"),
        ("frame from Feast (churn_v1)", _seconds(frame_wall, frame_cpu)),
        ("MLflow store created (once per home, not in the job)", _seconds(store_wall, store_cpu)),
    ]
    before = (0.0, 0.0)
    for step in sorted(marks):
        wall, cpu = marks[step]
        rows.append((f"  {STAGES[step - 1]}", _seconds(wall - before[0], cpu - before[1])))
        before = (wall, cpu)
    rows += [
        ("train churn, whole (after the frame)", _seconds(whole_wall, whole_cpu)),
        (
            f"bare lightgbm.train, {rounds} rounds (the job's best; it trains up to "
            f"{config.early_stopping_rounds} more until early stopping)",
            _seconds(bare_wall, bare_cpu),
        ),
        (
            "train churn / bare (goal: at most 2x)",
            f"{whole_wall / bare_wall:.2f}x (CPU {whole_cpu / bare_cpu:.2f}x)",
        ),
    ]
    return rows
