"""``retain train churn`` split by stage, against a bare ``lightgbm.train`` on the same matrix.

Runs in this process on a home folder whose features are applied. The stages are read off the
training job's own progress calls, so the job is measured exactly as the command runs it.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

STAGES = {
    1: "split",
    2: "fit LightGBM + calibration",
    3: "fit baselines",
    4: "evaluate (metrics, slices, truth)",
    5: "log metrics and tables",
    6: "plots, model and registration",
}


def run(home: Path) -> list[tuple[str, str]]:
    """Train once through ``train_churn`` and once bare; return (label, figure) rows."""
    import lightgbm as lgb

    from retain.core.columns import LABEL
    from retain.core.settings import Settings
    from simulator.truth import ground_truth
    from training.churn.data import load_dataset
    from training.churn.job import split_dataset, train_churn
    from training.config import TrainConfig
    from training.encode import encode

    settings = Settings(home=home)
    config = TrainConfig()
    started = time.perf_counter()
    data = load_dataset(settings, truth=ground_truth(settings))
    frame_s = time.perf_counter() - started

    marks: dict[int, float] = {}

    def mark(done: int, total: int) -> None:
        marks.setdefault(done, time.perf_counter())

    started = time.perf_counter()
    result = train_churn(settings, config, data=data, progress=mark)
    whole_s = time.perf_counter() - started
    stage_start = started

    # The same matrix, parameters and number of rounds, with nothing around it.
    model = result.fitted.model
    _, masks = split_dataset(data, config)
    train = data.frame[masks["train"]]
    x, y = encode(train, model.spec), train[LABEL].to_numpy(dtype=np.float64)
    positives = float(y.sum())
    params = config.lgb_params((len(y) - positives) / positives)
    rounds = model.booster.current_iteration()
    started = time.perf_counter()
    dataset = lgb.Dataset(x, label=y, categorical_feature=list(model.spec.categorical))
    lgb.train(params, dataset, num_boost_round=rounds)
    bare_s = time.perf_counter() - started

    counts = "/".join(f"{int(masks[k].sum()):,}" for k in ("train", "valid", "test"))
    rows = [
        ("labelled rows (train/valid/test)", f"{len(data.frame):,} ({counts})"),
        ("frame from Feast (churn_v1)", f"{frame_s:.1f}s"),
    ]
    for step in sorted(marks):
        rows.append((f"  {STAGES[step]}", f"{marks[step] - stage_start:.1f}s"))
        stage_start = marks[step]
    rows += [
        ("train churn, whole (after the frame)", f"{whole_s:.1f}s"),
        (f"bare lightgbm.train, {rounds} rounds", f"{bare_s:.1f}s"),
        ("whole (frame + train) / bare", f"{(frame_s + whole_s) / bare_s:.1f}x"),
    ]
    return rows
