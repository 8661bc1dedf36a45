"""The request-time features: one pure function over columns, which Feast's on-demand view runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from features.request_time import FEATURES, request_time_features

DAY = 86400
NOW = 1_700_000_000


def _columns(kind: str) -> dict[str, object]:
    """Three customers: joined 10 days ago, no join date, logged in half a day ago."""
    values = {
        "request_epoch_s": [NOW, NOW, NOW],
        "join_epoch_s": [NOW - 10 * DAY, None, NOW - 365 * DAY],
        "last_login_epoch_s": [NOW - DAY, NOW - DAY // 2, None],
    }
    if kind == "numpy":
        return {
            k: np.array([np.nan if x is None else x for x in v], float) for k, v in values.items()
        }
    return {k: pd.Series(v, dtype="Int64") for k, v in values.items()}


@pytest.mark.parametrize("kind", ["numpy", "pandas"])
def test_it_counts_days_to_the_request_time_and_keeps_nulls_missing(kind):
    """Days with the bank and since the last login at the request time; a null input gives NaN."""
    out = request_time_features(_columns(kind))
    assert list(out) == list(FEATURES)
    np.testing.assert_array_equal(np.asarray(out["tenure_days"], float), [10.0, np.nan, 365.0])
    np.testing.assert_array_equal(np.asarray(out["days_since_login_now"], float), [1, 0.5, np.nan])


def test_a_frame_of_columns_keeps_its_index():
    """A pandas frame works as the columns, and the results keep its index (as Feast needs)."""
    frame = pd.DataFrame(
        {"request_epoch_s": [NOW], "join_epoch_s": [NOW - DAY], "last_login_epoch_s": [NOW]},
        index=[7],
    )
    out = request_time_features(frame)
    assert out["tenure_days"].index.tolist() == [7]
    assert out["tenure_days"].dtype == "float64"


def test_feasts_on_demand_view_from_the_registry_computes_the_same(tmp_path: Path):
    """The on-demand view, rebuilt from its registry entry as Feast does, gives the function's
    values: the view's transformation calls the function rather than copying it."""
    from feast.on_demand_feature_view import OnDemandFeatureView

    from features.definitions import build_definitions

    view = build_definitions(tmp_path).request_time
    registered = OnDemandFeatureView.from_proto(view.to_proto())
    columns = _columns("numpy")
    frame = pd.DataFrame(columns)
    got = registered.transform_arrow(pa.Table.from_pandas(frame), False).to_pandas()
    want = request_time_features(columns)
    for name in FEATURES:
        np.testing.assert_array_equal(got[name].to_numpy(), want[name])
