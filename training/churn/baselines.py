"""The two baselines a churn model must beat, fitted and scored on the same split as the model.

- ``logistic``: scikit-learn logistic regression on the same features (median imputation and
  scaling for numbers, one-hot encoding for categories), fitted on a stratified sample of at most
  ``LOGISTIC_ROWS`` train rows and scored on every test row.
- ``rule``: what a bank would use today: flag a customer whose balance fell by half in three
  months or whose salary stopped. Its flag becomes a probability through the churn rate of
  flagged and unflagged customers in the train window, so calibration metrics mean something.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from retain.core.errors import DataError
from training.encode import FeatureSpec, encode
from training.split import stratified_parts

LOGISTIC_ROWS = 200_000
"""The most train rows the logistic baseline is fitted on: on a million rows its fit costs as
much CPU as the booster. On a simulated bank of 65k customers, fits on 200k of the 606k train
rows scored a test ROC AUC of 0.7534 and 0.7551 (two sampling seeds) against 0.7557 on all of
them, within the test window's own noise; 100k rows gave 0.7509 and 0.7533."""


def train_sample(train: pd.DataFrame, rows: int, seed: int, label: str = "label") -> pd.DataFrame:
    """At most ``rows`` rows of ``train``, stratified by label, in their order (all of them when
    there are no more); the same frame and seed give the same rows."""
    if len(train) <= rows:
        return train
    share = rows / len(train)
    part = stratified_parts(train[label].to_numpy(), (share, 1.0 - share), seed)
    return train[part == 0]


def fit_logistic(
    train: pd.DataFrame,
    spec: FeatureSpec,
    seed: int,
    label: str = "label",
    max_rows: int = LOGISTIC_ROWS,
) -> Any:
    """A fitted scikit-learn pipeline: impute + scale numbers, one-hot categories, logistic;
    fitted on ``train_sample(train, max_rows, seed)``."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [f for f in spec.features if f not in spec.categorical]
    categorical = list(spec.categorical)
    pre = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy=median), StandardScaler()), numeric),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="missing"),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                categorical,
            ),
        ]
    )
    model = Pipeline([("pre", pre), ("lr", LogisticRegression(max_iter=1000, random_state=seed))])
    rows = train_sample(train, max_rows, seed, label)
    with _empty_features_quiet():
        model.fit(_logistic_input(rows, spec), rows[label].to_numpy(dtype=int))
    return model


def median(values: NDArray[np.float64]) -> float:
    """The median of one column's observed values (NaN when there are none), for
    ``SimpleImputer(strategy=median)``: the same values as its ``"median"``, which sorts the
    columns as a masked array (2.0 s CPU on 200,000 rows, where this partition takes 0.15 s)."""
    return float(np.median(values)) if len(values) else math.nan


@contextmanager
def _empty_features_quiet() -> Iterator[None]:
    """Without the imputers' warnings about features with no value at all (a bank's snapshot
    leaves many unmapped): they drop them, which is what the baseline should do, and stderr is
    for progress and errors."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipping features without any observed values")
        warnings.filterwarnings("ignore", "All-NaN slice encountered", RuntimeWarning)
        yield


def _logistic_input(frame: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """The numbers as the booster's matrix has them (one float block, which the pipeline reads
    without gathering columns), then the categories as objects with NaN for missing."""
    numbers = tuple(f for f in spec.features if f not in spec.categorical)
    x = encode(frame, FeatureSpec(numbers))
    for f in spec.categorical:
        x[f] = frame[f].astype(object).where(frame[f].notna(), np.nan)
    return x


def predict_logistic(model: Any, frame: pd.DataFrame, spec: FeatureSpec) -> NDArray[np.float64]:
    with _empty_features_quiet():
        p = model.predict_proba(_logistic_input(frame, spec))[:, 1]
    return np.asarray(p, dtype=np.float64)


@dataclass(frozen=True)
class BankRule:
    """The bank's rule, over churn_v1 feature names (see ``features/signals.py``).

    Fires when the total balance fell by at least half over three months
    (``bal_total_chg_3m <= -0.5``), or when a salary that used to be credited stopped within the
    last ``salary_months`` months and has not come back.
    """

    balance_change: str = "bal_total_chg_3m"
    months_since_stopped: str = "months_since_salary_stopped"
    months_since_salary: str = "months_since_salary"
    balance_drop: float = -0.5
    salary_months: int = 3

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.balance_change, self.months_since_stopped, self.months_since_salary)

    def flags(self, frame: pd.DataFrame) -> NDArray[np.bool_]:
        """True where the rule flags the customer as about to leave.

        Raises:
            DataError: the frame lacks the features the rule reads.
        """
        missing = [c for c in self.columns if c not in frame]
        if missing:
            raise DataError(f"the bank rule needs feature(s) {', '.join(missing)}")

        def num(c: str) -> pd.Series:
            return pd.to_numeric(frame[c], errors="coerce")

        fell = (num(self.balance_change) <= self.balance_drop).fillna(False)
        stopped = (num(self.months_since_stopped) < self.salary_months).fillna(False)
        still_none = num(self.months_since_salary) >= 1
        return (fell | (stopped & still_none)).to_numpy(dtype=bool)


@dataclass(frozen=True)
class RuleModel:
    """The rule with the churn rates of its two groups, learned on the train window."""

    rule: BankRule
    rate_flagged: float
    rate_unflagged: float

    def predict_proba(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        return np.where(self.rule.flags(frame), self.rate_flagged, self.rate_unflagged)


def fit_rule(train: pd.DataFrame, rule: BankRule, label: str = "label") -> RuleModel:
    flags = rule.flags(train)
    y = train[label].to_numpy(dtype=np.float64)
    overall = float(y.mean()) if len(y) else 0.0
    flagged = float(y[flags].mean()) if flags.any() else overall
    unflagged = float(y[~flags].mean()) if (~flags).any() else overall
    return RuleModel(rule, flagged, unflagged)
