"""The churn model: its frame (``data``), booster (``model``), baselines, evaluation and model card,
the ``retain train churn`` job and the loader serving calls."""
