"""The Feast feature repo of retain: sources derived from the raw tables, feature definitions,
store configuration, materialization and point-in-time training frames.

Modules, in the order data flows through them:

- ``signals``: pure functions deriving monthly signals from raw rows (no I/O).
- ``build``: ``build_sources`` writes the feature sources from the raw tables, part by part.
- ``schema``: the columns of every source and view (no Feast import).
- ``definitions``: ``build_definitions`` returns the Feast objects (entity, views, services).
- ``store``: store configuration by profile, ``apply`` and ``materialize``.
- ``frames``: churn labels and point-in-time training frames through a FeatureService.
"""
