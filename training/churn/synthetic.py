"""A small synthetic churn dataset with churn_v1-like columns and a known true probability:
for tests and examples of training without the simulator and Feast."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from retain.core.columns import AS_OF, KEY
from training.churn.data import Dataset, attributes_from, sort_frame

REGIONS = ("north", "south", "east", "west")
CHANNELS = ("branch", "mobile", "phone", "sms_email")


def true_logit(frame: pd.DataFrame) -> np.ndarray:
    """The churn log-odds the synthetic labels are drawn from."""
    stopped = (
        frame["months_since_salary_stopped"].notna() & (frame["months_since_salary"] >= 1)
    ).to_numpy()
    fell = (frame["bal_total_chg_3m"].fillna(0) < -0.3).to_numpy()
    age = frame["age"].to_numpy()
    return (
        -3.6
        + 2.0 * stopped
        + 1.5 * fell
        + 1.5 * (stopped & fell)  # a bank rule cannot see that both together are worse
        + 2.0 * (frame["complaints_3m"].to_numpy() >= 2)
        + 0.6 * ((age < 30) | (age > 70))
        + 1.2 * ((frame["region"] == "south") & (frame["preferred_channel"] == "branch")).to_numpy()
        - 0.6 * (frame["tenure_months"].to_numpy() > 60)
    )


@dataclass(frozen=True)
class SyntheticTruth:
    """The synthetic frame's ground truth: its true churn probabilities; nothing else is known.

    Attributes:
        p_churn: the true P(label = 1), indexed by (customer_id, event_timestamp).
    """

    p_churn: pd.Series

    def churn_probability(self, rows: pd.DataFrame) -> NDArray[np.float64]:
        index = pd.MultiIndex.from_frame(rows[[KEY, AS_OF]])
        return self.p_churn.reindex(index).to_numpy(dtype=np.float64)

    def adoption(self, rows: pd.DataFrame, products: Sequence[str]) -> NDArray[np.float64]:
        return np.full((len(rows), len(products)), np.nan)

    def offer_effects(self, rows: pd.DataFrame, actions: Sequence[str]) -> NDArray[np.float64]:
        return np.full((len(rows), len(actions)), np.nan)


def synthetic_dataset(
    customers: int = 1500, months: int = 18, seed: int = 0, unlabelled_tail: int = 3
) -> Dataset:
    """A churn dataset of ``customers`` x ``months`` as-of month ends (last ones unlabelled)."""
    rng = np.random.default_rng(seed)
    ids = np.unique(rng.integers(10**6, 10**12, customers * 2))[:customers]
    ids = rng.permutation(ids).astype("int64")
    month_ends = pd.date_range("2023-01-31", periods=months, freq="ME", tz="UTC") + pd.Timedelta(
        "23:59:59"
    )
    base = pd.DataFrame(
        {
            "customer_id": ids,
            "region": rng.choice(REGIONS, customers),
            "preferred_channel": rng.choice(CHANNELS, customers),
            "birth_age": rng.integers(20, 80, customers),
            "gender": rng.choice(["female", "male"], customers),
            "joined": rng.integers(0, 120, customers),
        }
    )
    rows = []
    for i, m in enumerate(month_ends):
        f = pd.DataFrame(
            {
                "customer_id": base["customer_id"],
                "event_timestamp": m,
                "bal_total": rng.lognormal(8, 1.2, customers).astype("float32"),
                "bal_total_chg_3m": np.where(
                    rng.uniform(size=customers) < 0.1,
                    rng.uniform(-0.9, -0.4, customers),
                    rng.normal(0.02, 0.15, customers),
                ).astype("float32"),
                "months_since_salary": np.where(
                    rng.uniform(size=customers) < 0.8, 0.0, rng.integers(1, 4, customers)
                ).astype("float32"),
                "complaints_3m": rng.poisson(0.2, customers).astype("int64"),
                "age": (base["birth_age"] + i // 12).astype("int64"),
                "tenure_months": (base["joined"] + i).astype("int64"),
                "region": base["region"],
                "preferred_channel": base["preferred_channel"],
            }
        )
        stopped = (f["months_since_salary"] >= 1) & (rng.uniform(size=customers) < 0.5)
        f["months_since_salary_stopped"] = np.where(
            stopped, f["months_since_salary"] - 1, np.nan
        ).astype("float32")
        rows.append(f)
    frame = pd.concat(rows, ignore_index=True)
    truth = 1.0 / (1.0 + np.exp(-true_logit(frame)))
    frame["label"] = (rng.uniform(size=len(frame)) < truth).astype("float64")
    last = month_ends[-unlabelled_tail:] if unlabelled_tail else []
    frame.loc[frame["event_timestamp"].isin(last), "label"] = np.nan
    frame["_truth"] = truth
    frame = sort_frame(frame)
    truth_series = frame.pop("_truth")
    features = [
        "bal_total",
        "bal_total_chg_3m",
        "months_since_salary",
        "months_since_salary_stopped",
        "complaints_3m",
        "age",
        "tenure_months",
        "region",
        "preferred_channel",
    ]
    customers_table = base.rename(columns={"birth_age": "birth_year"})[["customer_id", "gender"]]
    return Dataset(
        frame=frame[["customer_id", "event_timestamp", "label", *features]],
        features=features,
        feature_service="churn_v1",
        attributes=attributes_from(frame, customers_table),
        truth=SyntheticTruth(
            pd.Series(truth_series.to_numpy(), index=pd.MultiIndex.from_frame(frame[[KEY, AS_OF]]))
        ),
    )
