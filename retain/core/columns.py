"""The column names every frame in retain shares, defined once.

A frame of customer-months (a training frame, an entity frame, a label table) is keyed by ``KEY``
and stamped with ``AS_OF``, Feast's event timestamp: the time at which each row's features are
taken, point in time. ``LABEL`` is the target of a labelled frame.
"""

KEY = "customer_id"
"""The entity key: the bank's customer id, pseudonymous inside the stores."""

AS_OF = "event_timestamp"
"""The as-of time of a row (Feast's event timestamp), timezone-aware UTC."""

LABEL = "label"
"""The target column of a labelled frame (churn, an opening, a contact's outcome)."""
