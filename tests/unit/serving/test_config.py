"""Serving settings and the model input built without pandas."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from retain.core.errors import ConfigError
from serving.config import ServingConfig, feature_service_for
from serving.errors import InvalidRequestError
from serving.scoring import encode_rows
from training.encode import FeatureSpec, encode


@pytest.mark.parametrize(
    ("p", "band"),
    [(0.0, "low"), (0.049, "low"), (0.05, "medium"), (0.149, "medium"), (0.9, "high")],
)
def test_a_probability_falls_in_its_risk_band(p, band):
    """Bands are lower bounds: a probability at a bound is in the band above."""
    assert ServingConfig().band(p) == band


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"bands": {"medium": 0.3, "high": 0.1}}, "increase"),
        ({"bands": {"medium": "a lot"}}, "number"),
        ({"request_time": "yesterday"}, "request_time"),
        ({"top_reasons": -1}, "top_reasons"),
        ({"store_timeout_s": 0}, "store_timeout_s"),
        ({"colour": "red"}, "unknown setting"),
        ({"decision_past_days": -1}, "decision_past_days"),
        ({"decision_future_days": "1d"}, "decision_future_days"),
        ({"max_body_bytes": 10}, "max_body_bytes"),
    ],
)
def test_a_bad_serving_config_is_refused(data, message):
    """It refuses thresholds out of order, unknown keys and values of the wrong kind."""
    with pytest.raises(ConfigError, match=message):
        ServingConfig.from_dict(data)


def test_the_home_folder_serving_toml_overrides_the_defaults(settings):
    """Values in $RETAIN_HOME/serving.toml replace the defaults."""
    settings.home.mkdir(parents=True)
    (settings.home / "serving.toml").write_text("top_reasons = 5\n[bands]\nhigh = 0.5\n")
    config = ServingConfig.load(settings)
    assert config.top_reasons == 5
    assert config.band(0.4) == "low" and config.band(0.5) == "high"


def test_an_older_files_segments_table_is_ignored_with_a_warning(settings, caplog):
    """``[segments]`` (the value tiers, now value.toml's, served from the customer_segments
    view) still loads: ignored, with one warning that says to remove it; the rest applies."""
    settings.home.mkdir(parents=True)
    path = settings.home / "serving.toml"
    path.write_text("top_reasons = 4\n[segments]\nsilver = 10\n")
    with caplog.at_level(logging.WARNING, logger="serving.config"):
        config = ServingConfig.load(settings)
    assert config.top_reasons == 4 and config == ServingConfig(top_reasons=4)
    assert not hasattr(config, "segments") and not hasattr(config, "segment")
    [record] = [r for r in caplog.records if r.name == "serving.config"]
    assert "[segments] is no longer used" in record.getMessage()
    assert str(path) in record.getMessage() and "\n" not in record.getMessage()


def test_without_a_segments_table_nothing_is_logged(settings, caplog):
    settings.home.mkdir(parents=True)
    (settings.home / "value.toml").write_text("[value_tiers]\ngold = 1000\n")
    (settings.home / "serving.toml").write_text("top_reasons = 2\n")
    with caplog.at_level(logging.WARNING, logger="serving.config"):
        assert ServingConfig.load(settings) == ServingConfig(top_reasons=2)
    assert not [r for r in caplog.records if r.name == "serving.config"]


@pytest.mark.parametrize("trained_on", ["churn_v1", "churn_bank_v1"])
def test_a_model_is_served_through_the_feature_service_it_was_trained_on(trained_on):
    """Unless serving.toml names one, the service serves the model's own feature service."""
    assert ServingConfig().feature_service is None
    assert feature_service_for(ServingConfig(), trained_on, "m v1") == trained_on
    configured = ServingConfig.from_dict({"feature_service": trained_on})
    assert feature_service_for(configured, trained_on, "m v1") == trained_on


def test_a_configured_feature_service_refuses_a_model_trained_on_another():
    with pytest.raises(ConfigError, match="m v3 was trained on feature service 'churn_bank_v1'"):
        feature_service_for(ServingConfig(feature_service="churn_v1"), "churn_bank_v1", "m v3")


def test_the_fast_encoding_equals_training_encoding():
    """The served model input equals ``training.encode.encode`` of the same values: codes of
    recorded levels, NaN for unknown or missing levels, booleans as 0/1, missing numbers NaN."""
    spec = FeatureSpec(
        features=("region", "n", "flag", "days"),
        categorical=("region",),
        levels={"region": ("east", "north", "west")},
    )
    columns = {
        "region": ["north", "south", None, "west"],
        "n": [3, None, 7, 0],
        "flag": [True, False, None, True],
        "days": np.array([1.5, np.nan, 2.0, 3.0]),
    }
    frame = pd.DataFrame(
        {
            "region": pd.Series(columns["region"], dtype=object),
            "n": pd.Series(columns["n"], dtype="Int64"),
            "flag": pd.Series(columns["flag"], dtype="boolean"),
            "days": columns["days"],
        }
    )
    expected = encode(frame, spec).to_numpy()
    got = encode_rows(columns, spec, [0, 1, 2, 3])
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(encode_rows(columns, spec, [3, 1]), expected[[3, 1]])


NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    "at",
    [
        "0001-01-01T00:00:00+00:00",  # once an OverflowError in the decision log
        "9999-12-31T23:59:59-14:00",  # past the calendar's end in UTC
        "2025-04-01T00:00:00+00:00",  # 426 days back
        "2026-06-02T12:00:01+00:00",  # just over a day ahead
        "2026-06-01T12:00:00",  # no time zone
    ],
)
def test_a_decision_time_outside_the_window_is_refused_with_its_field(at):
    with pytest.raises(InvalidRequestError, match="context.at") as refused:
        ServingConfig().decision_time(datetime.fromisoformat(at), NOW, "context.at")
    assert refused.value.field == "context.at"


def test_a_decision_time_in_the_window_comes_back_in_utc():
    """Any offset is converted to UTC; no time means now; the window is configurable."""
    local = NOW.astimezone(timezone(timedelta(hours=-14)))
    at = ServingConfig().decision_time(local, NOW, "at")
    assert at == NOW and at.utcoffset() == timedelta(0)
    assert ServingConfig().decision_time(None, NOW, "at") == NOW
    replay = ServingConfig.from_dict({"decision_past_days": 3650})
    assert replay.decision_time(NOW - timedelta(days=1000), NOW, "at") == NOW - timedelta(days=1000)
