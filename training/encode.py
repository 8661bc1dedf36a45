"""Turn feature frames into the numeric matrix the booster takes, the same way in training and
scoring.

String features (region, occupation, preferred channel, ...) become integer codes into category
levels recorded at training time and stored with the model; a level not seen in training, or a
missing value, becomes NaN, which LightGBM treats as missing. Booleans become 0/1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from retain.core.errors import DataError


@dataclass(frozen=True)
class FeatureSpec:
    """The model's inputs: feature order, which are categorical, and their levels."""

    features: tuple[str, ...]
    categorical: tuple[str, ...] = ()
    levels: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {
            "features": list(d["features"]),
            "categorical": list(d["categorical"]),
            "levels": {k: list(v) for k, v in d["levels"].items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureSpec:
        return cls(
            features=tuple(d["features"]),
            categorical=tuple(d.get("categorical", ())),
            levels={k: tuple(v) for k, v in d.get("levels", {}).items()},
        )


def is_categorical(s: pd.Series) -> bool:
    return bool(
        isinstance(s.dtype, pd.CategoricalDtype)
        or ptypes.is_object_dtype(s)
        or ptypes.is_string_dtype(s)
    )


def fit_spec(frame: pd.DataFrame, features: list[str] | tuple[str, ...]) -> FeatureSpec:
    """Record which ``features`` are categorical and their levels (sorted) in ``frame``.

    Raises:
        DataError: a feature is missing from the frame.
    """
    missing = [f for f in features if f not in frame]
    if missing:
        raise DataError(f"the training frame lacks feature(s) {', '.join(missing)}")
    categorical = tuple(f for f in features if is_categorical(frame[f]))
    levels = {f: tuple(sorted(str(v) for v in frame[f].dropna().unique())) for f in categorical}
    return FeatureSpec(tuple(features), categorical, levels)


def encode(frame: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """The numeric matrix (float64, columns in ``spec.features`` order) for the booster.

    The columns are written straight into one column-major array, the frame's only block (and
    what LightGBM reads without a copy): a frame built from separate columns is copied once more.

    Raises:
        DataError: a feature is missing from the frame.
    """
    missing = [f for f in spec.features if f not in frame]
    if missing:
        raise DataError(f"cannot score: the input lacks feature(s) {', '.join(missing)}")
    out = np.empty((len(frame), len(spec.features)), dtype=np.float64, order="F")
    for j, f in enumerate(spec.features):
        col = frame[f]
        if f in spec.categorical:
            out[:, j] = _level_codes(col, spec.levels[f])
        else:
            out[:, j] = pd.to_numeric(col, errors="coerce").astype("float64").to_numpy()
    return pd.DataFrame(out, index=frame.index, columns=list(spec.features), copy=False)


def _level_codes(col: pd.Series, levels: tuple[str, ...]) -> np.ndarray:
    """Each value's position among ``levels`` as text, NaN where missing or not a level.

    Only the column's distinct values are looked up. Values that are not all strings are made
    text first: 1 and 1.0 are one value to ``pd.factorize``, but "1" and "1.0" as text.
    """
    codes, uniques = pd.factorize(col)
    if not all(isinstance(u, str) for u in uniques):
        codes, uniques = pd.factorize(col.astype(object).where(col.isna(), col.astype(str)))
    found = pd.Index(levels, dtype=object).get_indexer(np.asarray(uniques, dtype=object))
    lookup = np.append(np.where(found < 0, np.nan, found), np.nan)  # code -1 (missing): NaN
    return lookup[codes]
