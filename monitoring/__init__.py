"""Monitoring jobs: drift (overall, per segment, of the decision log's actions), decay,
freshness, skew, data quality and fairness, read from the raw tables, features, training and the
decision log (through serving's table definitions) as data."""
