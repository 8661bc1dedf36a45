"""What campaign plans (``retain plan``) are worth on a simulated bank's ground truth.

Each planned contact is valued as ``retain evaluate nba`` values an action
(``evaluation.nba.true_values``): a retention offer ``-effect x customer value - cost``, a
cross-sell ``effect_xsell x product value - effect_contact x customer value - cost``, with the
simulator's true effects for the month after the scores' as-of date and the customer value of
the scores (the value the plan was made with: the truth knows effects, not what a customer is
worth to the bank). A plan's true value is the sum over its contacts, relative to contacting
nobody.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from evaluation.nba import evaluation_catalogue, policy_values, true_values
from retain.core.columns import AS_OF, KEY
from retain.core.tables import PRODUCTS, RETENTION_ACTIONS
from retain.core.truth import GroundTruth
from serving.actions import ActionCatalogue

EFFECTS: tuple[str, ...] = (*RETENTION_ACTIONS, "contact", *(f"xsell_{p}" for p in PRODUCTS))


def plan_values(
    plans: Mapping[str, pd.DataFrame],
    truth: GroundTruth,
    as_of: pd.Timestamp,
    catalogue: ActionCatalogue,
) -> pd.DataFrame:
    """Each plan's contacts, spend, expected value (the models', net of cost; NaN where a
    contact's is unknown) and true value.

    Args:
        plans: name -> the plan's rows: ``customer_key``, ``action``, ``cost``,
            ``expected_value`` and ``value`` (the customer's value).
        as_of: the scores' as-of time (a month end).
    """
    catalogue = evaluation_catalogue(catalogue)
    rows = []
    for name, plan in plans.items():
        true = np.zeros(0)
        if len(plan):
            entities = pd.DataFrame(
                {
                    KEY: plan["customer_key"].to_numpy(dtype=np.int64),
                    AS_OF: pd.Series([as_of] * len(plan)),
                }
            )
            effects = pd.DataFrame(truth.offer_effects(entities, EFFECTS), columns=list(EFFECTS))
            values = true_values(
                catalogue, effects.fillna(0.0), plan["value"].to_numpy(dtype=np.float64)
            )
            true = policy_values(values, plan["action"].astype(str).tolist())
        expected = plan["expected_value"].to_numpy(dtype=np.float64, na_value=np.nan)
        rows.append(
            {
                "plan": name,
                "contacts": len(plan),
                "spent": float(plan["cost"].sum()),
                "expected_value": float(expected.sum()) if np.isfinite(expected).all() else np.nan,
                "true_value": float(true.sum()),
            }
        )
    return pd.DataFrame(rows).set_index("plan")
