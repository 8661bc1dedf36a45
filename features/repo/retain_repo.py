"""The feature repo as the ``feast`` command line sees it (not imported by retain itself).

Feast imports every ``.py`` file of this folder and collects the Feast objects it finds at module
level, so this module builds them from ``Settings.load()`` (``RETAIN_HOME`` and friends) when
imported. ``retain features apply`` writes the matching ``feature_store.yaml``; from the
repository root::

    export RETAIN_HOME=.retain
    feast -c features/repo -f .retain/feast/feature_store.yaml feature-views list
    feast -c features/repo -f .retain/feast/feature_store.yaml apply

Use the same ``RETAIN_HOME`` (and profile) as the ``retain`` commands, or the source paths differ.
"""

from features.definitions import build_definitions
from retain.core.settings import Settings

_definitions = build_definitions(Settings.load().sources_dir)

customer = _definitions.customer
customer_profile = _definitions.views["customer_profile"]
balances_flows = _definitions.views["balances_flows"]
engagement_channels = _definitions.views["engagement_channels"]
service_complaints = _definitions.views["service_complaints"]
product_holdings = _definitions.views["product_holdings"]
contact_history = _definitions.views["contact_history"]
customer_segments = _definitions.views["customer_segments"]
scoring_request = _definitions.request_source
request_time = _definitions.request_time
churn_v1 = _definitions.services["churn_v1"]
segments_v1 = _definitions.services["segments_v1"]
# With extras in the bank's ingest mapping only (None otherwise, which Feast ignores).
bank_extras = _definitions.views.get("bank_extras")
churn_bank_v1 = _definitions.services.get("churn_bank_v1")
