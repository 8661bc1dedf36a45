"""The two baselines a churn model must beat, fitted and scored on the same split as the model.

- ``logistic``: scikit-learn logistic regression on the same features (median imputation and
  scaling for numbers, one-hot encoding for categories).
- ``rule``: what a bank would use today: flag a customer whose balance fell by half in three
  months or whose salary stopped. Its flag becomes a probability through the churn rate of
  flagged and unflagged customers in the train window, so calibration metrics mean something.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from retain.core.errors import DataError
from training.encode import FeatureSpec


def fit_logistic(train: pd.DataFrame, spec: FeatureSpec, seed: int, label: str = "label") -> Any:
    """A fitted scikit-learn pipeline: impute + scale numbers, one-hot categories, logistic."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [f for f in spec.features if f not in spec.categorical]
    categorical = list(spec.categorical)
    pre = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
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
    with _empty_features_quiet():
        model.fit(_logistic_input(train, spec), train[label].to_numpy(dtype=int))
    return model


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
    x = frame[list(spec.features)].copy()
    for f in spec.features:
        if f in spec.categorical:
            x[f] = x[f].astype(object).where(x[f].notna(), np.nan)
        else:
            x[f] = pd.to_numeric(x[f], errors="coerce").astype("float64")
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
