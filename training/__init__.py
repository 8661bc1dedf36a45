"""Model training, evaluation, tracking and promotion for retain.

Shared by every model: ``config`` (training and gate settings, model names), ``split``
(point-in-time split), ``encode`` (category levels), ``calibrate``, ``metrics``, ``ranking``,
``plots``, ``tracking`` (MLflow runs and lineage), ``registry`` (aliases, registering a
challenger, loading a registered version), ``gate`` (the promotion decision, pure) and
``promote`` (promotion and rollback in the registry).

One package per model, each with the same rooms: ``churn/``, ``propensity/``, ``uplift/``
(``data``, ``model``, ``evaluate`` or ``metrics``, ``job`` for the ``retain train`` command,
``load`` for serving; ``pyfunc`` for MLflow's own tools where the model is several boosters).

Nothing here runs at import time; heavy libraries are imported where they are used.
"""
