"""The promotion gate as a pure decision over figures, and its configuration."""

from __future__ import annotations

import math

import pytest

from retain.core.errors import ConfigError
from training.config import GateConfig
from training.gate import Evaluation, decide

BASELINES = {"logistic": 0.70, "rule": 0.60}


def ev(auc: float = 0.80, ece: float = 0.02, young: float = 0.80, high: float = 0.80) -> Evaluation:
    return Evaluation(
        auc, ece, {"age_band": {"<30": young, "60+": 0.8}, "value_tier": {"high": high}}
    )


def test_first_model_becomes_champion_when_it_beats_the_baselines():
    """Without a champion only the baselines count."""
    d = decide(ev(), None, BASELINES, GateConfig())
    assert d.promote
    assert [c.name for c in d.checks] == ["beats_logistic", "beats_rule"]


def test_first_model_that_loses_to_a_baseline_is_refused():
    """A model no better than logistic regression is refused, and the reason names it."""
    d = decide(ev(auc=0.69), None, BASELINES, GateConfig())
    assert not d.promote
    assert "logistic" in d.reason and "\n" not in d.reason


@pytest.mark.parametrize(
    "challenger,promote,failed",
    [
        (ev(auc=0.796), True, None),  # within 0.005 of 0.80
        (ev(auc=0.794), False, "auc_vs_champion"),
        (ev(ece=0.051), False, "ece"),
        (ev(young=0.779), False, "slice_auc_drop"),  # 0.021 lost in one age band
        (ev(high=0.781), True, None),  # 0.019 lost: allowed
        (ev(young=math.nan), True, None),  # a slice without AUC is not compared
    ],
)
def test_challenger_against_champion(challenger, promote, failed):
    """AUC within 0.005, ECE at most 0.05, no gated slice losing more than 0.02."""
    d = decide(challenger, ev(), BASELINES, GateConfig())
    assert d.promote is promote
    assert [c.name for c in d.checks if not c.passed] == ([failed] if failed else [])


def test_tags_record_the_outcome_and_each_figure():
    """Tags hold outcome, reason and every check with its value and limit."""
    tags = decide(ev(ece=0.09), ev(), BASELINES, GateConfig()).tags()
    assert tags["gate.outcome"] == "refused"
    assert tags["gate.ece"].startswith("fail 0.0900")
    assert "ECE" in tags["gate.reason"]


def test_thresholds_come_from_defaults_file_and_options(tmp_path):
    """A TOML file overrides defaults, and options override the file."""
    path = tmp_path / "gate.toml"
    path.write_text("[gate]\nmax_ece = 0.1\nmax_auc_drop = 0.01\n")
    g = GateConfig.load(path, max_auc_drop=0.02, max_slice_auc_drop=None)
    assert (g.max_ece, g.max_auc_drop, g.max_slice_auc_drop) == (0.1, 0.02, 0.02)


def test_unknown_gate_setting_is_a_config_error(tmp_path):
    """A misspelt threshold is refused with the known names."""
    path = tmp_path / "gate.toml"
    path.write_text("max_eec = 0.1\n")
    with pytest.raises(ConfigError, match="max_eec"):
        GateConfig.load(path)
