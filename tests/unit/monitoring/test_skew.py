"""Online against offline values, feature by feature, on tiny frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitoring.skew import SKEW_COLUMNS, differs, value_skew


@pytest.mark.parametrize(
    ("online", "offline", "expected"),
    [
        # numbers: within 1e-6 relative agree, beyond differ; null equals null only
        (
            [1.0, 1.0000001, 1.001, None, None, 0.0],
            [1.0, 1.0, 1.0, None, 2.0, 0.0],
            [False, False, True, False, True, False],
        ),
        # integers online (Python ints) against a nullable Int64 column
        ([3, None, 5], pd.array([3, None, 6], dtype="Int64"), [False, False, True]),
        # booleans as 0/1 against pandas' nullable boolean
        ([True, False, None], pd.array([True, True, None], dtype="boolean"), [False, True, False]),
        # text, with nulls
        (
            ["a", None, "b", None],
            pd.array(["a", None, "c", "d"], dtype="string"),
            [False, False, True, True],
        ),
        # text where a number is expected differs
        (["x"], [1.0], [True]),
    ],
)
def test_differs(online, offline, expected):
    got = differs(pd.Series(online, dtype=object), pd.Series(offline))
    assert got.tolist() == expected


def test_value_skew_shares_examples_and_status():
    """A share per feature, most differing first, with one differing pair; any difference
    alerts by default, more than the share when one is set."""
    online = pd.DataFrame(
        {"a": pd.Series([1.0, 2.0, 3.0, 4.0], dtype=object), "b": ["x", "y", "z", None]}
    )
    offline = pd.DataFrame(
        {"a": [1.0, 2.0, 3.5, 4.0], "b": pd.array(["x", "y", "z", None], dtype="string")}
    )
    table = value_skew(online, offline, ["b", "a"])
    assert list(table.columns) == SKEW_COLUMNS
    first = table.iloc[0]
    assert (first["feature"], first["compared"], first["differ"], first["differ_share"]) == (
        "a",
        4,
        1,
        0.25,
    )
    assert (first["online_example"], first["offline_example"]) == ("3", "3.5")
    assert first["status"] == "alert"
    second = table.iloc[1]
    assert (second["feature"], second["differ"], second["status"]) == ("b", 0, "ok")
    assert second["online_example"] == ""
    assert value_skew(online, offline, ["a"], alert_share=0.3)["status"].tolist() == ["ok"]


def test_value_skew_wants_the_same_rows():
    with pytest.raises(ValueError, match="3 online rows against 2"):
        value_skew(pd.DataFrame({"a": [1, 2, 3]}), pd.DataFrame({"a": [1, 2]}), ["a"])


def test_a_missing_online_row_differs_from_every_offline_value():
    """A customer the online store does not hold: nulls online, values offline."""
    online = pd.DataFrame({"a": pd.Series([None, None], dtype=object)})
    offline = pd.DataFrame({"a": [np.nan, 7.0]})
    assert value_skew(online, offline, ["a"])["differ"].tolist() == [1]
