"""Score the base on a Dask cluster (``retain score --dask-scheduler ADDRESS``).

Each source part is one task; a worker loads the churn and uplift champions once, at its first
part, and keeps them for the next parts of the run (one booster per worker). The tables come back
to the caller, which writes them as ``score_base`` does, so the table is the one the
single-machine path writes, part for part.

The workers read the feature sources and the MLflow store at the caller's paths: they must see the
same home folder (a shared file system) and the same MLflow store (or tracking server), with the
same environment (``RETAIN_ID_KEY`` where the ids are strings).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from retain.core.errors import NotReadyError
from retain.core.settings import Settings
from serving.batch import BatchModels, PartsScorer, load_batch_models, score_part

if TYPE_CHECKING:
    from distributed import Client

_lock = threading.Lock()
_models: dict[str, tuple[tuple[str, tuple[str, str | None]], BatchModels]] = {}
"""Per worker (its address), the models it loaded, under (home, versions): a worker keeps one
set, replaced when a run asks for other versions."""


def worker_models(settings: Settings, versions: tuple[str, str | None]) -> BatchModels:
    """This worker's models for a run scored with ``versions`` (churn, uplift), loaded once.

    Raises:
        NotReadyError: a champion moved to another version since the run began.
    """
    from distributed import get_worker

    address = get_worker().address
    key = (str(settings.home), versions)
    with _lock:
        held = _models.get(address)
        if held is None or held[0] != key:
            _models.pop(address, None)  # the previous run's models go before the new load
            models = load_batch_models(settings)
            if models.versions != versions:
                raise NotReadyError(
                    f"the champions changed during the run (churn, uplift versions {versions} "
                    f"when it began, {models.versions} now): run `retain score` again"
                )
            held = (key, models)
            _models[address] = held
        return held[1]


def loads_held() -> int:
    """How many workers of this process hold models (what the tests count)."""
    with _lock:
        return len(_models)


def _score_on_worker(
    settings: Settings,
    when: pd.Timestamp,
    keys: NDArray[np.int64],
    versions: tuple[str, str | None],
) -> pd.DataFrame:
    return score_part(settings, when, keys, worker_models(settings, versions))


def on_cluster(client: Client) -> PartsScorer:
    """A ``score_base`` parts scorer that scores each part as a task on ``client``'s cluster and
    yields the tables as they come back."""

    def score_parts(
        settings: Settings,
        when: pd.Timestamp,
        parts: Sequence[NDArray[np.int64]],
        models: BatchModels,
    ) -> Iterator[tuple[int, pd.DataFrame]]:
        from distributed import as_completed

        run = uuid.uuid4().hex[:8]
        futures: dict[Any, int] = {
            client.submit(
                _score_on_worker,
                settings,
                when,
                keys,
                models.versions,
                key=f"retain-score-{run}-{index:05d}",
                pure=False,
            ): index
            for index, keys in enumerate(parts)
        }
        try:
            for future in as_completed(futures):
                table = future.result()  # a worker's error is raised here, as it was raised
                index = futures.pop(future)
                future.release()
                yield index, table
        finally:
            client.cancel(list(futures))

    return score_parts
