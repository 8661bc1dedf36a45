"""The Feast feature repo of retain: sources derived from the raw tables, feature definitions,
store configuration, materialization, point-in-time training frames and online reads.

Modules, in the order data flows through them:

- ``signals``: pure functions deriving monthly signals from raw rows (no I/O).
- ``segments``: value tier, lifecycle stage, behavioural segment and margin, pure functions over
  features with thresholds as data (``value.toml``).
- ``build``: ``build_sources`` writes the feature sources from the raw tables, part by part, and the
  ``customer_segments`` source from them.
- ``schema``: the columns of every source and view (no Feast import).
- ``request_time``: the request-time (on-demand) features, one pure function over columns.
- ``definitions``: ``build_definitions`` returns the Feast objects (entity, views, services).
- ``store``: store configuration by profile, ``apply``.
- ``materialize``: the latest values into the online store, incremental, in Feast's format.
- ``plan``: ``read_plan``, which columns of which views a FeatureService reads, offline and online.
- ``frames``: churn labels and point-in-time training frames through a FeatureService.
- ``online``: one online read of a FeatureService for a batch of customers (the service's).
"""
