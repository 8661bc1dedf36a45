"""Monitoring jobs: drift, decay, freshness, skew and fairness, read from features, training and
the decision log as data. Nothing here imports serving."""
