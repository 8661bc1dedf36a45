"""Product propensity: labels and frame (``data``), per-product boosters (``model``), evaluation,
the ``retain train propensity`` job and the loader serving calls."""
