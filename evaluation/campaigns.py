"""What each offer changed, measured from the campaign log's randomised holdouts.

Inside every audience of the campaign log (the bank's randomised experiment or one of its
targeting rules, and one offer), some customers were held out of the contact at random
(``holdout`` rows, ``retain.core.tables.CAMPAIGNS``). Within an audience the contacted and the
held-out customers differ only by that coin, so the difference of their churn rates within the
horizon estimates the offer's average effect on the audience, with no model: what a bank's
campaign report shows. On a simulated bank the same cells can be compared with the ground truth.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from retain.core.columns import AS_OF, KEY, LABEL
from retain.core.tables import RETENTION_ACTIONS
from retain.core.truth import GroundTruth

PARTS = {True: "experiment", False: "rules"}
"""The part of the logging policy a row's audience came from, by its ``randomized`` flag."""
CELL = ["part", "action_id"]


def audience_rows(campaigns: pd.DataFrame) -> pd.DataFrame:
    """The log's rows as audience members: ``customer_id``, ``event_timestamp`` (sent, or due for
    a holdout), ``action_id``, ``part`` and ``holdout``.

    Args:
        campaigns: ``customer_id``, ``sent_at``, ``action_id``, ``randomized``, ``holdout``.
    """
    return pd.DataFrame(
        {
            KEY: campaigns[KEY].astype("int64").to_numpy(),
            AS_OF: pd.to_datetime(campaigns["sent_at"], utc=True).to_numpy(),
            "action_id": campaigns["action_id"].astype(str).to_numpy(),
            "part": np.where(campaigns["randomized"].eq(True), PARTS[True], PARTS[False]),
            "holdout": campaigns["holdout"].eq(True).to_numpy(),
        }
    ).assign(**{AS_OF: lambda d: pd.to_datetime(d[AS_OF], utc=True)})


def arm_effects(labelled: pd.DataFrame) -> pd.DataFrame:
    """Each audience's measured effect of its offer on churn within the horizon.

    Args:
        labelled: ``audience_rows`` labelled by ``training.uplift.data.label_rows``.

    Returns:
        One row per (part, action_id) with both contacted and held-out customers: ``contacted``,
        ``held_out`` (counts), ``churn_contacted``, ``churn_held_out`` (rates), ``effect`` (the
        difference: negative keeps customers) and ``se`` (its standard error).
    """
    y = labelled[LABEL].astype("float64")
    g = labelled.assign(_y=y).groupby([*CELL, "holdout"])["_y"].agg(["size", "mean"])
    g = g.unstack("holdout").dropna()
    if g.empty:
        return pd.DataFrame(
            columns=["contacted", "held_out", "churn_contacted", "churn_held_out", "effect", "se"]
        )
    n1, n0 = g[("size", False)], g[("size", True)]
    p1, p0 = g[("mean", False)], g[("mean", True)]
    # Agresti-Caffo: one churner and one stayer more in each group keeps the error of a rare
    # outcome in a small holdout from reading 0.
    q1, q0 = (p1 * n1 + 1) / (n1 + 2), (p0 * n0 + 1) / (n0 + 2)
    out = pd.DataFrame(
        {
            "contacted": n1.astype("int64"),
            "held_out": n0.astype("int64"),
            "churn_contacted": p1,
            "churn_held_out": p0,
            "effect": p1 - p0,
            "se": np.sqrt(q1 * (1 - q1) / (n1 + 2) + q0 * (1 - q0) / (n0 + 2)),
        }
    )
    return out[(out["contacted"] > 1) & (out["held_out"] > 1)]


def true_arm_effects(labelled: pd.DataFrame, truth: GroundTruth) -> pd.Series:
    """The true average effect on churn of each audience's offer over the whole audience
    (contacted and held out): a retention action's effect, or a cross-sell's contact effect.

    Returns:
        The mean true effect, indexed by (part, action_id).
    """
    action = labelled["action_id"].to_numpy()
    true = truth.offer_effects(labelled, [*RETENTION_ACTIONS, "contact"])
    column = np.array(
        [
            RETENTION_ACTIONS.index(a) if a in RETENTION_ACTIONS else len(RETENTION_ACTIONS)
            for a in action
        ]
    )
    effect = true[np.arange(len(labelled)), column]
    return labelled.assign(true_effect=effect).groupby(CELL)["true_effect"].mean()


def measured_against_truth(labelled: pd.DataFrame, truth: GroundTruth) -> pd.DataFrame:
    """``arm_effects`` beside the truth: ``true_effect`` and ``z`` (the gap in standard errors)."""
    measured = arm_effects(labelled)
    measured["true_effect"] = true_arm_effects(labelled, truth).reindex(measured.index)
    measured["z"] = (measured["effect"] - measured["true_effect"]) / measured["se"]
    return measured
