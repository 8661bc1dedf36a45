"""The contract every part of retain stands on: settings, the raw tables, the churn label, domain
errors, progress reporting and the ground-truth protocol. It imports nothing of retain's own."""
