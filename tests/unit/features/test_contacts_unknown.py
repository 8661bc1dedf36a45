"""A bank that brought no campaign table has an unknown contact history, not "no contacts": the
contact features are null (and stay null through the source's Parquet schema), while a known
history without a contact for this customer is 0 contacts."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from features import signals
from features.schema import VIEW_FEATURES, source_schema
from tests.unit.features.test_signals import customer_rows, monthly_rows

CAMPAIGN_COLUMNS = ["customer_id", "sent_at", "kind", "outcome"]


def test_no_contact_in_a_known_history_is_zero_contacts():
    out = signals.contact_history(monthly_rows(3), pd.DataFrame(columns=CAMPAIGN_COLUMNS))
    assert list(out["contacts_6m"]) == [0, 0, 0]
    assert out["months_since_contact"].isna().all()  # never contacted


def test_an_unknown_contact_history_is_null_in_every_contact_feature():
    out = signals.contact_history(
        monthly_rows(3), pd.DataFrame(columns=CAMPAIGN_COLUMNS), known=False
    )
    features = [name for name, _, _ in VIEW_FEATURES["contact_history"]]
    assert out[features].isna().all().all()
    table = pa.Table.from_pandas(out, schema=source_schema("contact_history"), preserve_index=False)
    assert table.column("contacts_3m").null_count == 3


def test_derive_part_passes_on_whether_contacts_are_known():
    from features.build import derive_part

    rows = monthly_rows(2)
    customers = customer_rows()
    empty = pd.DataFrame(columns=CAMPAIGN_COLUMNS)
    known = derive_part(rows, customers, empty)["contact_history"]
    unknown = derive_part(rows, customers, empty, contacts_known=False)["contact_history"]
    assert list(known["offers_declined_6m"]) == [0, 0]
    assert unknown["offers_declined_6m"].isna().all()
