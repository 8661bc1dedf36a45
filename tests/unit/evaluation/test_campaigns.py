"""Uplift is identifiable from the campaign log alone: the holdouts measure what each offer did."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.campaigns import arm_effects, audience_rows, measured_against_truth
from retain.core.columns import KEY, LABEL
from retain.core.settings import Settings
from retain.core.tables import RETENTION_ACTIONS
from simulator import WorldConfig, simulate
from simulator.truth import SimulatedTruth
from training.uplift.data import control_months, label_rows


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A simulated bank of 8,000 customers: its log's audiences, labelled, and its truth."""
    settings = Settings(home=tmp_path_factory.mktemp("bank") / "home")
    simulate(WorldConfig(customers=8000, months=24, seed=5, chunk_size=8000), settings)
    raw = {t: pd.read_parquet(settings.raw_dir / t) for t in ("campaigns", "churn", "monthly")}
    raw["customers"] = pd.read_parquet(settings.raw_dir / "customers")
    churned_at = raw["churn"].groupby(KEY)["churned_at"].min()
    data_end = raw["monthly"]["month_end"].max()
    rows = label_rows(audience_rows(raw["campaigns"]), churned_at, data_end)
    return {
        "rows": rows,
        "truth": SimulatedTruth(settings.data_dir / "truth"),
        "raw": raw,
        "churned_at": churned_at,
        "data_end": data_end,
        "settings": settings,
    }


def test_each_offer_measured_from_its_holdout_matches_the_true_effect(bank: dict) -> None:
    """Within every audience (the experiment's or a rule's, one offer each), contacted minus held
    out matches the true average effect on the audience: every retention offer within 3 standard
    errors, and no more than one cell in ten off by more than 2."""
    result = measured_against_truth(bank["rows"], bank["truth"])
    retention = result[result.index.get_level_values("action_id").isin(RETENTION_ACTIONS)]
    assert set(retention.index) >= {("experiment", a) for a in RETENTION_ACTIONS}
    assert (retention["held_out"] >= 30).all() and (retention["se"] < 0.05).all()
    assert (retention["z"].abs() < 3).all(), retention
    assert (result["z"].abs() > 2).mean() <= 0.1, result


def test_without_the_holdout_the_rules_contacts_mislead(bank: dict) -> None:
    """Comparing the rules' retention contacts with all uncontacted customer-months (no
    holdout) lands far from the truth: the rules target customers showing risk signs."""
    raw = bank["raw"]
    controls = control_months(raw["monthly"], raw["customers"], raw["campaigns"])
    none = label_rows(controls, bank["churned_at"], bank["data_end"])[LABEL]
    p0, n0 = none.mean(), len(none)
    result = measured_against_truth(bank["rows"], bank["truth"])
    rules = result.loc["rules"]
    rules = rules[rules.index.isin(RETENTION_ACTIONS)]
    p1, n1 = rules["churn_contacted"], rules["contacted"]
    se = np.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    naive = (p1 - p0 - rules["true_effect"]) / se
    assert len(rules) >= 2 and (naive > 3).all(), naive


def test_arm_effects_is_contacted_minus_held_out() -> None:
    """It counts each cell's groups and takes the difference of their churn rates."""
    rows = pd.DataFrame(
        {
            "part": ["rules"] * 6 + ["experiment"] * 2,
            "action_id": ["fee_waiver"] * 6 + ["rm_call"] * 2,
            "holdout": [False, False, False, False, True, True, False, False],
            LABEL: [1, 0, 0, 0, 1, 0, 1, 1],
        }
    )
    out = arm_effects(rows)
    assert list(out.index) == [("rules", "fee_waiver")]  # rm_call has no holdout
    r = out.iloc[0]
    assert (r.contacted, r.held_out) == (4, 2)
    assert r.effect == pytest.approx(0.25 - 0.5) and r.se > 0
    assert np.isfinite(out["se"]).all()


def test_audience_rows_read_the_log(tmp_path: Path) -> None:
    """A row's part comes from ``randomized``; a missing holdout flag is no holdout."""
    log = pd.DataFrame(
        {
            KEY: [1, 2],
            "sent_at": pd.to_datetime(["2024-01-03", "2024-01-04"], utc=True),
            "action_id": ["rm_call", "xsell_savings"],
            "randomized": [True, False],
            "holdout": [True, None],
        }
    )
    out = audience_rows(log)
    assert out["part"].tolist() == ["experiment", "rules"]
    assert out["holdout"].tolist() == [True, False]


def test_the_gate_accepts_the_truth_ranking_and_refuses_random_ones_on_the_same_window(
    bank: dict,
) -> None:
    """On the uplift model's test window of this bank and the gate's protocol, ranking by the
    simulator's true effects clears the random rankings' 95th percentile on Qini and AUUC, and
    fresh random rankings of the same window rarely do."""
    from training.gate import decide_uplift
    from training.uplift.data import load_rows, time_split
    from training.uplift.job import UpliftConfig
    from training.uplift.protocol import GATE

    rows = load_rows(bank["settings"])
    test = rows[time_split(rows, 90, UpliftConfig().test_months).masks(rows)["test"]]
    test = test.reset_index(drop=True)
    actions = tuple(RETENTION_ACTIONS)
    true = np.nan_to_num(bank["truth"].offer_effects(test, actions), nan=0.0)
    truth = GATE.figures(test, {"model": -true}, actions, seed=7)
    assert decide_uplift(truth, None, 0.0).promote, decide_uplift(truth, None, 0.0).reason
    floor = {k: v for k, v in truth.items() if k.startswith("random_")}
    rng = np.random.default_rng(11)
    passed = [
        decide_uplift({**GATE.figures(test, {"model": rng.random(true.shape)}, actions), **floor},
                      None, 0.0).promote
        for _ in range(40)
    ]  # fmt: skip
    assert np.mean(passed) <= 0.1
