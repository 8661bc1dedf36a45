"""Can the uplift gate's test tell anything from random? Power and size of candidate protocols.

For each seed: simulate a bank (``retain simulate``; no features needed), build the uplift rows
from its campaign log (``training.uplift.data.load_rows``) and, for every candidate protocol,
judge two rankings of the test window with the gate's rule (``training.gate.decide_uplift``:
mean Qini and mean AUUC above the 95th percentile of random rankings of the same window):

- the simulator's **true** effects: the share of seeds in which the gate accepts it is the
  protocol's power (an upper bound for any learner, which sees the features only);
- **fresh random** rankings: the share accepted is the protocol's size (false acceptance).

Candidates: the control arm (the experiment's randomised holdout, ``held_out``; its randomised
cross-sell contacts, ``cross_sell``; or ``held_out:{action}``, each offer's contacts against the
holdouts assigned the same offer in every randomised audience of the log, the experiment's and the
rules', ``training.uplift.data.matched_arms``), the test window's width (``--test-months``), and per
action (the mean over the four actions) or pooled (every retention offer one treatment, "any
retention offer", scored by the mix of the actions' effects). No learner is fitted: the protocol is
chosen on these figures before any learner is judged by it.

    python -m benchmarks.uplift_gate_power --customers 10000 --seeds 7 8 9 10 11
    python -m benchmarks.uplift_gate_power --customers 50000 --seeds 7 8 9 --json out.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

RETAIN = str(Path(sys.executable).with_name("retain"))
CONTROLS = ("held_out", "cross_sell", "held_out:{action}")
POOLING = (False, True)


def simulate(home: Path, customers: int, seed: int) -> None:
    if (home / "data" / "truth" / "monthly").is_dir():
        return
    args = [RETAIN, "simulate", "--customers", str(customers), "--seed", str(seed)]
    done = subprocess.run(
        args, env={**os.environ, "RETAIN_HOME": str(home)}, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"retain simulate failed: {done.stderr.strip()[-2000:]}")


def judge(
    churned: np.ndarray,
    arm: np.ndarray,
    true: np.ndarray,
    actions: tuple[str, ...],
    control: str,
    pooled: bool,
    seed: int,
    fresh: int,
) -> dict[str, float]:
    """The gate's verdict on the truth ranking and on ``fresh`` random rankings."""
    from training.gate import decide_uplift
    from training.uplift.metrics import pool_actions, random_metrics, ranker_metrics

    scores = {"model": -true}
    if pooled:
        arm, scores, actions = pool_actions(arm, scores, actions)
    floor = random_metrics(churned, arm, actions, {"": control}, seed=seed)
    run = ranker_metrics(churned, arm, scores, actions, {"": control})
    truth_ok = decide_uplift({**run, **floor}, None, 0.0).promote
    rng = np.random.default_rng(seed + 1000)
    passed = []
    for _ in range(fresh):
        r = {"model": rng.random((len(arm), len(actions)))}
        m = ranker_metrics(churned, arm, r, actions, {"": control})
        passed.append(decide_uplift({**m, **floor}, None, 0.0).promote)
    treated = np.isin(arm, actions)
    return {
        "truth_pass": float(truth_ok),
        "random_pass": float(np.mean(passed)) if passed else float("nan"),
        "truth_qini": run["test_qini_mean"],
        "p95_qini": floor["random_test_qini_p95_mean"],
        "sd_qini": floor["random_test_qini_sd_mean"],
        "z_qini": (run["test_qini_mean"] - floor["random_test_qini_mean"])
        / max(floor["random_test_qini_sd_mean"], 1e-12),
        "treated": float(treated.sum()),
        "control_rows": float(sum((arm == control.format(action=a)).sum() for a in actions)),
    }


def bank_figures(
    home: Path, seed: int, test_months: list[int], fresh: int
) -> list[dict[str, object]]:
    from retain.core.columns import LABEL
    from retain.core.settings import Settings
    from retain.core.tables import RETENTION_ACTIONS
    from simulator.truth import ground_truth
    from training.uplift.data import evaluation_arms, load_rows, matched_arms, time_split

    settings = Settings(home=home)
    truth = ground_truth(settings)
    assert truth is not None
    rows = load_rows(settings)
    actions = tuple(RETENTION_ACTIONS)
    out: list[dict[str, object]] = []
    for months in test_months:
        split = time_split(rows, 90, months)
        test = rows[split.masks(rows)["test"]].reset_index(drop=True)
        true_all = np.nan_to_num(truth.offer_effects(test, actions), nan=0.0)
        for control, pooled in itertools.product(CONTROLS, POOLING):
            arm = matched_arms(test) if "{action}" in control else evaluation_arms(test)
            keep = np.isin(arm, [*actions, *(control.format(action=a) for a in actions)])
            churned = test[LABEL].to_numpy(dtype=np.float64)[keep]
            figures = judge(churned, arm[keep], true_all[keep], actions, control, pooled, seed,
                            fresh)  # fmt: skip
            out.append(
                {"seed": seed, "test_months": months, "control": control, "pooled": pooled,
                 **figures}
            )  # fmt: skip
    return out


def summary(records: list[dict[str, object]]) -> list[dict[str, object]]:
    import pandas as pd

    frame = pd.DataFrame(records)
    keys = ["test_months", "control", "pooled"]
    table = frame.groupby(keys).agg(
        power=("truth_pass", "mean"),
        size=("random_pass", "mean"),
        z_qini=("z_qini", "mean"),
        treated=("treated", "mean"),
        control_rows=("control_rows", "mean"),
        seeds=("seed", "nunique"),
    )
    return list(table.reset_index().to_dict("records"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 8, 9, 10, 11])
    parser.add_argument("--test-months", type=int, nargs="+", default=[6, 9, 12])
    parser.add_argument("--fresh", type=int, default=40, help="random rankings judged per bank")
    parser.add_argument("--home", type=Path, default=None, help="folder for the banks")
    parser.add_argument("--json", type=Path, default=None)
    a = parser.parse_args(argv)
    base = a.home or Path(tempfile.mkdtemp(prefix="gate_power_"))
    records: list[dict[str, object]] = []
    for seed in a.seeds:
        home = base / f"c{a.customers}_s{seed}"
        simulate(home, a.customers, seed)
        figures = bank_figures(home, seed, a.test_months, a.fresh)
        records += figures
        if a.json:  # each bank's figures as they come: a long run can be read halfway
            with a.json.with_suffix(".jsonl").open("a") as f:
                f.writelines(json.dumps(r, default=str) + "\n" for r in figures)
        print(f"seed {seed} done", file=sys.stderr, flush=True)
    rows = summary(records)
    for r in rows:
        print(
            f"{r['test_months']:>2} months  {r['control']:<10}  pooled={r['pooled']!s:<5}  "
            f"power {r['power']:.2f}  size {r['size']:.3f}  z(truth) {r['z_qini']:+.2f}  "
            f"treated {r['treated']:.0f}  control {r['control_rows']:.0f}  seeds {r['seeds']}"
        )
    if a.json:
        a.json.write_text(json.dumps({"records": records, "summary": rows}, indent=1, default=str))


if __name__ == "__main__":
    main()
