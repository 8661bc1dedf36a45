"""retain: churn risk and next-best-action for retail banks."""
