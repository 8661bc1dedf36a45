"""The bank's customer ids and the stores' keys: the keyed hash, its checks, both directions."""

from __future__ import annotations

import hashlib
import hmac
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retain.core.errors import ConfigError, DataError
from retain.core.ids import (
    ID_MAP,
    MAP_FILE,
    MAX_KEY,
    CustomerIds,
    collisions,
    id_text,
    ids_manifest,
    integer_id,
    load_customer_ids,
    pseudonym,
    pseudonyms,
    read_id_key,
)
from retain.core.settings import Settings

KEY = b"a-test-key-of-32-characters-long"
OTHER = b"another-test-key-of-32-characters"


def test_a_pseudonym_is_stable_keyed_and_a_positive_int63():
    """The same id and key give the same pseudonym (in another process too: a fixed value); a
    different key or id gives another; every pseudonym is in 0 .. 2**63-1."""
    assert pseudonym("7590-VHVEG", KEY) == pseudonym("7590-VHVEG", KEY)
    # HMAC-SHA256's first 16 hex digits, the top bit cleared: the documented definition.
    digest = hmac.new(KEY, b"7590-VHVEG", hashlib.sha256).hexdigest()
    assert pseudonym("7590-VHVEG", KEY) == int(digest[:16], 16) & MAX_KEY == 5120335023264876961
    assert pseudonym("7590-VHVEG", OTHER) != pseudonym("7590-VHVEG", KEY)
    assert pseudonym("7590-VHVEg", KEY) != pseudonym("7590-VHVEG", KEY)
    keys = pseudonyms([f"C{i:06d}" for i in range(10_000)], KEY)
    assert keys.dtype == "int64" and keys.min() >= 0 and keys.max() <= MAX_KEY
    assert len(set(keys.tolist())) == 10_000


def test_collisions_name_every_key_two_ids_share():
    """Distinct ids with one key are a collision; the same id twice is not (a duplicate is the
    key check's business)."""
    found = collisions(["a", "b", "c", "c", "d"], [1, 2, 1, 3, 2])
    assert sorted(found) == [(1, ["a", "c"]), (2, ["b", "d"])]
    assert collisions(["a", "a", "b"], [1, 1, 2]) == []


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (" A-1 ", "A-1"),
        (12345, "12345"),
        (12345.0, "12345"),
        ("007", "007"),
        ("", None),
        (float("nan"), None),
        (None, None),
        (True, None),
    ],
)
def test_id_text(value, text):
    assert id_text(value) == text


@pytest.mark.parametrize(
    ("value", "number"),
    [
        (42, 42),
        ("42", 42),
        (" 42 ", 42),
        ("x", None),
        (-1, None),
        (2**63, None),
        (True, None),
        ("４２", None),
        ("4.2", None),
    ],
)
def test_integer_id(value, number):
    assert integer_id(value) == number


@pytest.mark.parametrize(
    ("environ", "message"),
    [({}, "RETAIN_ID_KEY is not set"), ({"RETAIN_ID_KEY": "short"}, "5 characters, too short")],
)
def test_a_missing_or_short_key_is_one_line_saying_what_to_set(environ, message):
    with pytest.raises(ConfigError, match=message) as e:
        read_id_key(environ)
    assert "\n" not in str(e.value) and "export RETAIN_ID_KEY=" in str(e.value)


def test_integer_ids_are_the_keys():
    ids = CustomerIds()
    assert ids.key_of(1101709635517) == 1101709635517 and ids.key_of("42") == 42
    assert ids.key_of("7590-VHVEG") is None
    assert ids.shown("42") == 42 and ids.shown("x") == "x"
    assert ids.bank_ids([3, 1]) == [3, 1]


def _ingested(settings: Settings, bank_ids: list[str], key: bytes = KEY) -> None:
    settings.data_dir.mkdir(parents=True)
    manifest = {"source": "ingest", "customer_ids": ids_manifest("string", key)}
    (settings.data_dir / "manifest.json").write_text(json.dumps(manifest))
    table = pa.table([pseudonyms(bank_ids, key), bank_ids], schema=ID_MAP)
    pq.write_table(table, settings.data_dir / MAP_FILE)


def test_string_ids_hash_in_and_translate_back(settings: Settings):
    """Loaded with the key the ids were ingested with: an id (or the number a bank writes it
    as) hashes to its key, and keys translate back to the bank's ids through the map."""
    _ingested(settings, ["7590-VHVEG", "12345"])
    ids = load_customer_ids(settings, {"RETAIN_ID_KEY": KEY.decode()})
    assert ids.mode == "string"
    k = ids.key_of("7590-VHVEG")
    assert k == pseudonym("7590-VHVEG", KEY)
    assert ids.key_of(12345) == ids.key_of(" 12345") == pseudonym("12345", KEY)
    assert ids.shown(12345) == "12345"
    assert ids.bank_ids([ids.key_of("12345"), k]) == ["12345", "7590-VHVEG"]
    with pytest.raises(DataError, match="not in the map of customer ids"):
        ids.bank_ids([1])


def test_another_key_or_none_is_refused_where_ids_are_strings(settings: Settings):
    """Serving with a key other than the ingestion's would find nobody: refused at load; a
    command that only translates back needs no key."""
    _ingested(settings, ["A"])
    with pytest.raises(ConfigError, match="not the key the customer ids were ingested with"):
        load_customer_ids(settings, {"RETAIN_ID_KEY": OTHER.decode()})
    with pytest.raises(ConfigError, match="RETAIN_ID_KEY is not set"):
        load_customer_ids(settings, {})
    unkeyed = load_customer_ids(settings, {}, keyed=False)
    assert unkeyed.bank_ids([pseudonym("A", KEY)]) == ["A"]
    with pytest.raises(ConfigError, match="need RETAIN_ID_KEY"):
        unkeyed.key_of("A")


def test_without_a_manifest_or_ids_in_it_the_ids_are_integers(settings: Settings):
    """A simulated bank (its manifest says nothing about ids) keeps integer ids."""
    assert load_customer_ids(settings, {}).mode == "integer"
    settings.data_dir.mkdir(parents=True)
    (settings.data_dir / "manifest.json").write_text(json.dumps({"seed": 7}))
    assert load_customer_ids(settings, {}).mode == "integer"
