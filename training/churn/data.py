"""What training reads: the churn_v1 training frame, the customers' slice attributes and, on
simulated data, the ground truth it is given. The I/O edge of training; everything after it is
frames in memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from retain.core.columns import AS_OF, KEY
from retain.core.errors import DataError
from retain.core.progress import Progress, silent
from retain.core.settings import Settings
from retain.core.truth import GroundTruth


@dataclass
class Dataset:
    """A training frame and what is measured next to it.

    Attributes:
        frame: one row per customer and as-of time: customer_id, event_timestamp, label,
            then the features (sorted by as-of time and customer for reproducibility).
        features: the feature service's features, in its order.
        feature_service: the Feast feature service the frame came through.
        attributes: aligned with ``frame`` by index: ``gender`` (from the raw customers table,
            never a feature), ``age``, ``region``, ``preferred_channel``, ``total_balance``.
        truth: the ground truth behind the data (None on a bank's own data); looked up only
            for the rows evaluated.
    """

    frame: pd.DataFrame
    features: list[str]
    feature_service: str
    attributes: pd.DataFrame
    truth: GroundTruth | None = None

    def truth_of(self, rows: pd.DataFrame) -> NDArray[np.float64] | None:
        """The true P(churn label = 1) of ``rows`` of ``frame``, or None without truth."""
        return self.truth.churn_probability(rows) if self.truth is not None else None


def sort_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in (as-of, customer) order with a fresh index: the same data gives the same frame."""
    return frame.sort_values([AS_OF, KEY], kind="stable").reset_index(drop=True)


def attributes_from(frame: pd.DataFrame, customers: pd.DataFrame | None) -> pd.DataFrame:
    """Slice attributes aligned with ``frame``: features where the frame has them, the rest
    (gender always) from the raw ``customers`` table."""
    out = pd.DataFrame(index=frame.index)
    if "bal_total" in frame:
        out["total_balance"] = frame["bal_total"]
    if "age" in frame:
        out["age"] = frame["age"]
    for col in ("region", "preferred_channel"):
        if col in frame:
            out[col] = frame[col]
    if customers is not None:
        c = customers.drop_duplicates(KEY).set_index(KEY)
        ids = frame[KEY]
        out["gender"] = ids.map(c["gender"]).to_numpy() if "gender" in c else None
        if "age" not in out and "birth_year" in c:
            out["age"] = frame[AS_OF].dt.year - ids.map(c["birth_year"]).to_numpy()
        for col in ("region", "preferred_channel"):
            if col not in out and col in c:
                out[col] = ids.map(c[col]).to_numpy()
    return out


def read_customers(settings: Settings) -> pd.DataFrame | None:
    """The raw customers table's columns used for slices and fairness, or None if absent."""
    path = settings.raw_dir / "customers"
    if not path.is_dir() or not any(path.glob("*.parquet")):
        return None
    cols = ["customer_id", "gender", "birth_year", "region", "preferred_channel"]
    try:
        return pd.concat(
            [pd.read_parquet(p, columns=cols) for p in sorted(path.glob("*.parquet"))],
            ignore_index=True,
        )
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read the raw customers table at {path}: {e}") from e


def labelled_as_of(settings: Settings) -> list[pd.Timestamp]:
    """The labelled as-of times of the data, sorted: from the label table alone (the raw tables'
    keys, or a snapshot's labels), without building features. Decides the split up front.

    Raises:
        DataError: the raw tables are missing or corrupt.
    """
    from features.frames import label_table

    labels = label_table(settings)
    return sorted(pd.to_datetime(labels[AS_OF], utc=True).drop_duplicates())


def load_dataset(
    settings: Settings,
    service: str = "churn_v1",
    progress: Progress = silent,
    truth: GroundTruth | None = None,
) -> Dataset:
    """Build the training frame through the feature service and attach attributes and truth.

    Args:
        settings: where the raw tables and the feature store are.
        service: the Feast feature service.
        progress: called as progress(done, total).
        truth: the simulated bank's ground truth, when the data was simulated.

    Raises:
        NotReadyError: the feature store has not been applied or the service is unknown.
        DataError: raw tables are missing, or the frame has no labelled rows.
    """
    from features.frames import feature_names, training_frame

    frame = training_frame(settings, service=service, progress=progress)
    if len(frame) == 0:
        raise DataError(
            "the training frame has no labelled as-of months: ingest a history with known "
            "outcomes (or a snapshot with a label), or simulate more months "
            "(a label needs the whole horizon after its as-of date)"
        )
    features = feature_names(settings, service)
    frame = sort_frame(frame)
    return Dataset(
        frame=frame,
        features=features,
        feature_service=service,
        attributes=attributes_from(frame, read_customers(settings)),
        truth=truth,
    )
