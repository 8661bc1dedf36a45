"""Monitoring thresholds: defaults, the TOML file, and one clear error per mistake."""

from __future__ import annotations

import pytest

from monitoring.config import CONFIG_FILE, MonitoringConfig
from retain.core.errors import ConfigError
from retain.core.settings import Settings


def test_defaults_follow_the_rules_of_thumb():
    c = MonitoringConfig()
    assert (c.psi_warn, c.psi_alert, c.ndcg_alert) == (0.1, 0.25, 0.9)
    assert (c.freshness_warn_days, c.skew_rows, c.skew_tolerance, c.skew_alert_share) == (
        35.0,
        300,
        1e-6,
        0.0,
    )


@pytest.mark.parametrize(
    ("measure", "value", "level"),
    [
        ("psi", 0.05, "ok"),
        ("psi", 0.1, "warn"),
        ("psi", 0.3, "alert"),
        ("jensen_shannon", 0.15, "warn"),
        ("ndcg", 0.99, "ok"),
        ("ndcg", 0.92, "warn"),
        ("ndcg", 0.85, "alert"),
        ("auc_drop", 0.06, "alert"),
        ("psi", float("nan"), "ok"),
    ],
)
def test_level(measure, value, level):
    assert MonitoringConfig().level(measure, value) == level


def test_a_missing_file_gives_the_defaults(settings: Settings):
    assert MonitoringConfig.load(settings) == MonitoringConfig()


def test_the_file_overrides_the_defaults(settings: Settings):
    settings.home.mkdir(parents=True)
    (settings.home / CONFIG_FILE).write_text(
        "psi_alert = 0.3\ncurrent_months = 2\nndcg_alert = 0.8\n"
    )
    c = MonitoringConfig.load(settings)
    assert (c.psi_alert, c.current_months, c.ndcg_alert, c.psi_warn) == (0.3, 2, 0.8, 0.1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("psi_alrt = 0.3", "unknown setting.*psi_alrt"),
        ("psi_warn = 0.5", "psi_warn .* at most psi_alert"),
        ("psi_alert = 'high'", "psi_alert must be a number"),
        ("current_months = 1.5", "current_months must be an integer"),
        ("current_months = 0", "current_months must be at least 1"),
        ("ndcg_warn = 0.8", "ndcg_alert .* <= ndcg_warn"),
        ("p_value = 2", "p_value must lie between 0 and 1"),
        ("psi_warn = true", "psi_warn must be a number"),
        ("psi_warn = [", "cannot read"),
        ("skew_rows = 0", "skew_rows must be at least 1"),
        ("skew_alert_share = 1", "skew_alert_share must be at least 0 and below 1"),
        ("freshness_warn_days = -1", "freshness_warn_days must be at least 0"),
        ("segments = 'region'", "segments must be a list of feature names"),
        ("fairness_ratio_alert = 0.95", "fairness_ratio_alert .* <= fairness_ratio_warn"),
        ("missing_warn = 0.5", "missing_warn .* at most missing_alert"),
        ("features = 1", r"features must hold one table per feature"),
        (
            "[features.bal_total]\npsi_alrt = 1",
            r"\[features.bal_total\]: unknown setting.*psi_alrt",
        ),
        ("[features.bal_total]\npsi_warn = 0.5", r"\[features.bal_total\]: psi_warn .* at most"),
        ("[features.bal_total]\npsi_alert = 'x'", r"\[features.bal_total\] psi_alert must be"),
    ],
)
def test_a_bad_file_is_one_clear_error(settings: Settings, text, message):
    settings.home.mkdir(parents=True)
    (settings.home / CONFIG_FILE).write_text(text + "\n")
    with pytest.raises(ConfigError, match=message) as error:
        MonitoringConfig.load(settings)
    assert "\n" not in str(error.value) and CONFIG_FILE in str(error.value)


def test_segments_and_a_features_own_thresholds_read_from_the_file(settings: Settings):
    settings.home.mkdir(parents=True)
    (settings.home / CONFIG_FILE).write_text(
        'segments = ["region", "age_band"]\n[features.market_rate]\npsi_warn = 0.5\n'
        "psi_alert = 1.0\n"
    )
    c = MonitoringConfig.load(settings)
    assert c.segments == ("region", "age_band")
    assert (c.for_feature("market_rate").psi_alert, c.for_feature("bal_total").psi_alert) == (
        1.0,
        0.25,
    )
    c.check_features(["region", "age", "market_rate"])


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            MonitoringConfig(features={"market_rat": {"psi_alert": 1.0}}),
            "unknown feature.* in \\[features\\]: market_rat",
        ),
        (MonitoringConfig(segments=("branch",)), "unknown segment.*branch"),
        (MonitoringConfig(segments=("age_band",)), "unknown segment.*age_band"),  # no age
    ],
)
def test_a_feature_the_champion_does_not_have_is_one_clear_error(config, message):
    with pytest.raises(ConfigError, match=message) as error:
        config.check_features(["region", "market_rate"], "monitoring.toml")
    assert "\n" not in str(error.value) and str(error.value).startswith("monitoring.toml: ")


def test_default_segments_a_service_lacks_are_left_out_not_refused():
    MonitoringConfig().check_features(["bal_total", "region"])
