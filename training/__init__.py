"""Model training, evaluation, tracking and promotion for retain.

Modules, one per stage: ``dataset`` (the churn_v1 frame, slice attributes, simulator truth),
``split`` (point-in-time split), ``encode`` (category levels), ``model`` (LightGBM booster with
calibration), ``calibrate``, ``metrics``, ``baselines``, ``evaluate`` (slices, fairness), ``plots``,
``card`` (model card), ``tracking`` (MLflow), ``train`` (the ``retain train churn`` job), ``tune``
(optuna), ``gate`` (the promotion decision, pure), ``promote`` (promotion and rollback in the
registry), ``load`` (what serving calls), ``synthetic`` (a tiny dataset for tests).
Product propensity: ``propensity_data`` (labels from holdings transitions), ``propensity_model``
(one booster per product), ``propensity_eval`` and ``ranking`` (AUC, hit rate and MAP@3),
``propensity`` (the ``retain train propensity`` job and ``load_propensity``).

Nothing here runs at import time; heavy libraries are imported where they are used.
"""
