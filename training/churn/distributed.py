"""Train the churn booster on a Dask cluster (``retain train churn --dask-scheduler ADDRESS``).

``lightgbm.dask`` trains one booster across the workers (LightGBM's data-parallel learner: each
worker holds a share of the training rows, the histograms are summed over the network, so every
worker grows the same trees). The frame, split, parameters, calibration and evaluation are the
single-machine job's; only the booster is trained elsewhere, and it comes back as the same native
``lightgbm.Booster`` (``to_local()``), so serving and promotion see no difference.

Early stopping: ``lightgbm.dask`` would score each worker's share of the validation window on its
own, and workers that disagree on when to stop would leave LightGBM's network waiting. Every worker
scores the whole validation window instead (``ValidationStop``), the same trees giving the same AUC
and so the same decision everywhere. The window travels with the task, one copy per worker
(3M rows x 90 features is about 2 GB on each).

LightGBM finds the bin edges on the workers' shares of the rows and bags within each share, so the
trees differ a little from the single-machine ones; the tests hold the test AUC within 0.005 of the
single-machine model's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from training.churn.model import BoosterTrainer, validation_params
from training.config import TrainConfig
from training.encode import FeatureSpec

if TYPE_CHECKING:
    from distributed import Client

LABEL_COLUMN = "__label__"


class ValidationStop:
    """LightGBM's ``early_stopping(rounds, first_metric_only=True)`` on the validation AUC, where
    every worker holds the whole window: the same rule (stop when the AUC has not risen for
    ``rounds`` rounds; keep the best round), the same answer on every worker."""

    order = 30
    before_iteration = False

    def __init__(self, x: NDArray[np.float64], y: NDArray[np.float64], rounds: int) -> None:
        self.x, self.y, self.rounds = x, y, rounds
        # Per booster (workers in one process may share this object): raw scores, best AUC, round.
        self._state: dict[int, tuple[NDArray[np.float64], float, int]] = {}

    def __call__(self, env: Any) -> None:
        from lightgbm.callback import EarlyStopException
        from sklearn.metrics import roc_auc_score

        key = id(env.model)
        raw, best, best_round = self._state.get(key, (np.zeros(len(self.y)), -np.inf, 0))
        # The newest tree only: the window is scored once per round, as LightGBM's own valid set.
        raw = raw + env.model.predict(
            self.x, start_iteration=env.iteration, num_iteration=1, raw_score=True
        )
        auc = float(roc_auc_score(self.y, raw))
        if auc > best:
            best, best_round = auc, env.iteration
        self._state[key] = (raw, best, best_round)
        last = env.iteration == env.end_iteration - 1
        if env.iteration - best_round >= self.rounds or last:
            self._state.pop(key, None)
            raise EarlyStopException(best_round, [("valid", "auc", best, True)])


def cluster_partitions(
    client: Client, frame: pd.DataFrame
) -> tuple[Any, Any]:  # (dask DataFrame, dask Series)
    """``frame`` (features and ``LABEL_COLUMN``) as one partition per worker, each placed on its
    worker: the rows are shared out in order, as evenly as they go."""
    import dask.dataframe as dd

    workers = sorted(client.nthreads())
    shares = np.array_split(np.arange(len(frame)), max(1, min(len(workers), len(frame))))
    futures = [
        client.scatter(frame.iloc[rows], workers=[worker])
        for rows, worker in zip(shares, workers, strict=False)
    ]
    data = dd.from_delayed(futures, meta=frame.iloc[:0], verify_meta=False)
    return data.drop(columns=[LABEL_COLUMN]), data[LABEL_COLUMN]


def booster_on_cluster(client: Client) -> BoosterTrainer:
    """A booster trainer (``training.churn.model.train_booster``'s signature) that trains with
    ``lightgbm.dask.DaskLGBMClassifier`` on ``client``'s workers."""

    def train(
        x_train: pd.DataFrame,
        y_train: NDArray[np.float64],
        x_valid: pd.DataFrame,
        y_valid: NDArray[np.float64],
        spec: FeatureSpec,
        config: TrainConfig,
        params: dict[str, Any] | None = None,
    ) -> Any:
        from lightgbm.dask import DaskLGBMClassifier

        positives = float(np.sum(y_train))
        scale = (len(y_train) - positives) / positives if positives else 1.0
        lgb_params = validation_params({**config.lgb_params(scale), **(params or {})})
        # Each worker uses its own threads (lightgbm.dask sets them); no metric is computed by
        # LightGBM itself, since ValidationStop scores the window.
        for key in ("num_threads", "metric"):
            lgb_params.pop(key, None)
        frame = x_train.reset_index(drop=True).assign(**{LABEL_COLUMN: y_train})
        x, y = cluster_partitions(client, frame)
        model = DaskLGBMClassifier(
            client=client, n_estimators=config.num_boost_round, metric="None", **lgb_params
        )
        stop = ValidationStop(
            x_valid.to_numpy(dtype=np.float64), y_valid, config.early_stopping_rounds
        )
        model.fit(x, y, categorical_feature=list(spec.categorical), callbacks=[stop])
        return model.to_local().booster_

    return train
