"""The comparison the uplift gate judges on: which rows, which control, pooled or per action.

The protocol (``GATE``) was chosen on the simulated bank by how well the gate's test separates the
simulator's true effects from random rankings (``python -m benchmarks.uplift_gate_power``),
before any learner was judged by it; the rule, stated in advance: among the candidates whose
random rankings pass at most 5% of the time (size), the one whose test accepts the true effects
on the most banks of the default 10k customers (power), ties to the higher mean z of the truth's
Qini over the random spread, then to the shorter test window (more months to train on).

Candidates were the control (the experiment's randomised holdout; its randomised cross-sell
contacts; each offer's own holdouts in every randomised audience of the log, ``MATCHED``), the
test window (6, 9, 12 months) and per action or pooled ("any retention offer"). On 20 banks of
10k customers (seeds 7-26): ``MATCHED`` per action over 9 months accepts the truth on 10 of 20
(power 0.50) with random rankings accepted 5.0% of the time; pooled, also 0.50 but 5.6%; the
6-month window 0.40 (sizes 6.4% and 5.7%); the experiment's own holdout at most 0.30, the
cross-sell contacts at most 0.20. Comparisons inside the experiment alone (about a hundred
contacts per action in a 6-month window at 10k customers) barely tell the truth from random
even at 50k customers; the rules' audiences, randomised with the same 15% holdout, hold five
times more contacts. At 10k customers even the truth passes only half the time: the gate
refuses a good learner often there, and a bigger bank or a longer log is what helps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from retain.core.columns import LABEL
from training.uplift.data import (
    CROSS_SELL,
    HELD_OUT,
    MATCHED,
    NONE,
    evaluation_arms,
    matched_arms,
)
from training.uplift.metrics import pool_actions, random_metrics, ranker_metrics

SIDE_CONTROLS = {"_vs_cross_sell": CROSS_SELL, "_vs_none": NONE, "_vs_holdout": HELD_OUT}
"""Metric-name suffix -> the control of the comparisons logged beside the gate's, on the
experiment's rows only (``evaluation_arms``), per action."""


@dataclass(frozen=True)
class GateProtocol:
    """Which comparison the headline ``test_qini_mean``/``test_auuc_mean`` (and the gate) use.

    Attributes:
        control: the control arm of ``ranker_metrics`` (``MATCHED``: each offer's holdouts).
        pooled: every retention offer one treatment (``pool_actions``); the per-action figures
            are logged as ``..._by_action_<action>``.
    """

    control: str = MATCHED
    pooled: bool = False

    def arms(self, rows: pd.DataFrame) -> NDArray[np.str_]:
        return matched_arms(rows) if "{action}" in self.control else evaluation_arms(rows)

    def figures(
        self,
        rows: pd.DataFrame,
        scores: dict[str, NDArray[np.float64]],
        actions: tuple[str, ...],
        seed: int | None = None,
    ) -> dict[str, float]:
        """The rankers' headline Qini and AUUC on ``rows`` (and, with ``seed``, the random
        rankings' spread on them: ``random_test_..._p95_mean``, what the gate compares with).

        Returns:
            ``test_{qini,auuc}_mean`` and per treatment, prefixed by ranker as in
            ``ranker_metrics``; pooled, also ``test_{qini,auuc}_by_action_<action>`` and their
            mean.
        """
        churned = rows[LABEL].to_numpy(dtype=np.float64)
        arm = self.arms(rows)
        control = {"": self.control}
        out: dict[str, float] = {}
        if self.pooled:
            out.update(ranker_metrics(churned, arm, scores, actions, {"_by_action": self.control}))
            arm, scores, actions = pool_actions(arm, scores, actions)
        out.update(ranker_metrics(churned, arm, scores, actions, control))
        if seed is not None:
            out.update(random_metrics(churned, arm, actions, control, seed=seed))
        return out


GATE = GateProtocol()
"""The protocol of ``retain train uplift``'s headline and gate (see the module's docstring)."""


def side_figures(
    rows: pd.DataFrame,
    scores: dict[str, NDArray[np.float64]],
    actions: tuple[str, ...],
    seed: int | None = None,
) -> dict[str, float]:
    """The comparisons inside the experiment beside the gate's (``SIDE_CONTROLS``), per
    action, and with ``seed`` their random spread."""
    churned, arm = rows[LABEL].to_numpy(dtype=np.float64), evaluation_arms(rows)
    out = ranker_metrics(churned, arm, scores, actions, SIDE_CONTROLS)
    if seed is not None:
        out.update(random_metrics(churned, arm, actions, SIDE_CONTROLS, seed=seed))
    return out
