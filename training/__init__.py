"""Model training, evaluation, tracking and promotion for retain.

Modules, one per stage: ``split`` (point-in-time split), ``encode`` (category levels),
``model`` (LightGBM and calibration), ``calibrate``, ``metrics``, ``baselines``, ``evaluate``,
``plots``, ``card`` (model card), ``tracking`` (MLflow), ``train`` (the ``retain train churn`` job),
``tune`` (optuna), ``promote`` (the gate, promotion and rollback), ``load`` (what serving calls).

Nothing here runs at import time; heavy libraries are imported where they are used.
"""
