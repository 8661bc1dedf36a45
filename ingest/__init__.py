"""Bring a bank's own tables into retain: a declarative mapping, typed reading with clear errors,
and an atomic write of the raw tables the feature repo reads (``retain.core.tables``).

For the data engineer::

    from ingest import load_mapping, read_bank, write_bank

    mapping = load_mapping(Path("bank.yaml"))
    bank = read_bank(mapping)          # validated, typed tables (one DataError lists every problem)
    write_bank(bank, settings)         # replaces data/raw atomically
"""

from __future__ import annotations

from ingest.mapping import Mapping, load_mapping
from ingest.read import Bank, read_bank
from ingest.write import write_bank

__all__ = ["Bank", "Mapping", "load_mapping", "read_bank", "write_bank"]
