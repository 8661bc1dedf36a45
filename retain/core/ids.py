"""The bank's customer ids outside, 64-bit keys inside the stores.

Every store retain keeps (raw tables, feature sources, the Feast offline and online stores, the
decision log) is keyed by an integer ``customer_id``. A bank's ids reach it in one of two modes,
chosen by the ingest mapping (``customer_ids:``) and recorded in the data's manifest
(``data/manifest.json``), so that serving and the command line know which one is in use:

- ``integer`` (the default, and the simulated bank's): the ids are whole numbers from 0 to
  2**63-1 and are the keys as they are, as before string ids existed.
- ``string``: any text. The key is a pseudonym, HMAC-SHA256 of the id (UTF-8) under the secret in
  ``RETAIN_ID_KEY``, truncated to 63 bits, so the stores hold no bank identifier. Ingestion keeps
  the map pseudonym -> bank id in ``data/customer_ids.parquet`` (never in the feature store) to
  translate lists back; a request is answered with the id it asked about, hashed on the way in.

A bank id given as a number where the ids are strings is its decimal text (``12345`` is
``"12345"``); a string of digits where they are integers is that integer.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from retain.core.columns import KEY
from retain.core.errors import ConfigError, DataError
from retain.core.settings import Settings

IdMode = Literal["integer", "string"]
BankId = int | str
"""A customer id as the bank writes it."""

ID_KEY_ENV = "RETAIN_ID_KEY"
MIN_KEY_CHARS = 16
MAX_KEY = 2**63 - 1
MAX_ID_CHARS = 128
"""The longest string id accepted (a bank's customer numbers are far shorter)."""

MAP_FILE = "customer_ids.parquet"
"""The map pseudonym -> bank id, under ``Settings.data_dir``."""
BANK_ID = "bank_customer_id"
ID_MAP = pa.schema([(KEY, pa.int64()), (BANK_ID, pa.string())])
"""The map's columns: the pseudonym (the stores' key) and the bank's id."""

_KEY_CHECK = b"retain: the RETAIN_ID_KEY check"


def read_id_key(environ: Mapping[str, str] | None = None) -> bytes:
    """The secret of the keyed hash, from ``RETAIN_ID_KEY``.

    Raises:
        ConfigError: the variable is not set, or is shorter than ``MIN_KEY_CHARS``.
    """
    env = os.environ if environ is None else environ
    text = env.get(ID_KEY_ENV, "")
    hint = (
        "set it to a secret of at least 16 characters and keep it, for example "
        f"export {ID_KEY_ENV}=$(python -c 'import secrets; print(secrets.token_hex(32))')"
    )
    if not text:
        raise ConfigError(
            f"string customer ids are stored as keyed hashes: {ID_KEY_ENV} is not set; {hint}"
        )
    if len(text) < MIN_KEY_CHARS:
        raise ConfigError(
            f"{ID_KEY_ENV} has {len(text)} characters, too short to keep the "
            f"bank's ids secret; {hint}"
        )
    return text.encode("utf-8")


def pseudonym(bank_id: str, key: bytes) -> int:
    """The store key of a string id: HMAC-SHA256 under ``key``, its first 63 bits."""
    digest = hmac.digest(key, bank_id.encode("utf-8"), hashlib.sha256)
    return int.from_bytes(digest[:8], "big") & MAX_KEY


def pseudonyms(bank_ids: Iterable[str], key: bytes) -> NDArray[np.int64]:
    """``pseudonym`` of each id, as an int64 array."""
    return np.fromiter((pseudonym(b, key) for b in bank_ids), dtype=np.int64)


def key_check(key: bytes) -> str:
    """A fingerprint of the key, recorded at ingestion: serving with another key is refused."""
    return hmac.new(key, _KEY_CHECK, hashlib.sha256).hexdigest()[:16]


def collisions(bank_ids: Sequence[str], keys: Sequence[int]) -> list[tuple[int, list[str]]]:
    """The keys that two or more distinct bank ids share, each with those ids (sorted)."""
    by_key: dict[int, set[str]] = {}
    for bank_id, k in zip(bank_ids, keys, strict=True):
        by_key.setdefault(int(k), set()).add(bank_id)
    return [(k, sorted(ids)) for k, ids in by_key.items() if len(ids) > 1]


def id_text(value: Any) -> str | None:
    """A string id as compared and hashed: trimmed text; a whole number read from a numeric
    column is its decimal text (``12345.0`` is ``"12345"``). None for a missing or blank one."""
    if value is None or isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, float | np.floating):
        if value != value:
            return None
        if float(value).is_integer():
            return str(int(value))
    if isinstance(value, np.integer):
        value = int(value)
    text = str(value).strip()
    return text or None


def integer_id(value: Any) -> int | None:
    """An integer id (0 .. 2**63-1), given as a number or as its digits; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | np.integer):
        number = int(value)
    elif isinstance(value, str) and value.strip().isdecimal() and value.strip().isascii():
        number = int(value.strip())
    else:
        return None
    return number if 0 <= number <= MAX_KEY else None


def bank_id_problem(value: Any) -> str | None:
    """What is wrong with a customer id given to the service or the command line (a JSON value),
    or None: it must be a whole number from 0 to 2**63-1, or text of 1 to ``MAX_ID_CHARS``
    characters."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return "a customer id is a whole number or a string"
    if isinstance(value, int) and not 0 <= value <= MAX_KEY:
        return f"a customer id number is from 0 to 2**63-1, not {value}"
    if isinstance(value, str) and not 1 <= len(value) <= MAX_ID_CHARS:
        return f"a customer id string has 1 to {MAX_ID_CHARS} characters, not {len(value)}"
    return None


@dataclass(frozen=True)
class CustomerIds:
    """How this installation's customer ids map to the stores' keys, both ways.

    Attributes:
        mode: ``integer`` (ids are the keys) or ``string`` (keys are pseudonyms).
        key: the secret of the keyed hash (string mode, where ids come in).
        map_path: the map pseudonym -> bank id (string mode), read when a list is translated.
    """

    mode: IdMode = "integer"
    key: bytes | None = None
    map_path: Path | None = None

    def key_of(self, bank_id: BankId) -> int | None:
        """The store key of a bank id; None when no customer can have it (not a whole number
        where the ids are, or blank).

        Raises:
            ConfigError: string mode without the key (loaded with ``keyed=False``).
        """
        if self.mode == "integer":
            return integer_id(bank_id)
        if self.key is None:
            raise ConfigError(f"string customer ids need {ID_KEY_ENV} to be looked up: set it")
        text = id_text(bank_id)
        return None if text is None or len(text) > MAX_ID_CHARS else pseudonym(text, self.key)

    def shown(self, bank_id: BankId) -> BankId:
        """A requested id as answered: the bank's own spelling of it (``"12345"`` where ids are
        strings, ``12345`` where they are integers); a malformed one as it came."""
        if self.mode == "integer":
            number = integer_id(bank_id)
            return bank_id if number is None else number
        text = id_text(bank_id)
        return bank_id if text is None else text

    @cached_property
    def _bank_ids(self) -> dict[int, str]:
        import pyarrow.parquet as pq

        if self.map_path is None or not self.map_path.is_file():
            raise DataError(
                f"the map of customer ids {self.map_path} is missing: run `retain ingest` again"
            )
        try:
            table = pq.read_table(self.map_path, columns=[KEY, BANK_ID])
        except (OSError, pa.ArrowException) as e:
            raise DataError(f"cannot read the map of customer ids {self.map_path}: {e}") from e
        return dict(zip(table[KEY].to_pylist(), table[BANK_ID].to_pylist(), strict=True))

    def bank_ids(self, keys: Iterable[int]) -> list[BankId]:
        """The bank's ids of store keys, in order.

        Raises:
            DataError: string mode and the map is missing, unreadable, or lacks a key (the
                stores and the map come from different ingestions).
        """
        if self.mode == "integer":
            return [int(k) for k in keys]
        known = self._bank_ids
        out: list[BankId] = []
        for k in keys:
            bank_id = known.get(int(k))
            if bank_id is None:
                raise DataError(
                    f"customer key {int(k)} is not in the map of customer ids {self.map_path}: "
                    "the stores and the map come from different ingestions; run `retain ingest` "
                    "and `retain features build` again"
                )
            out.append(bank_id)
        return out


def ids_manifest(mode: IdMode, key: bytes | None) -> dict[str, str]:
    """What the data's manifest records about the ids (``customer_ids``)."""
    if mode == "integer":
        return {"mode": "integer"}
    assert key is not None
    return {"mode": "string", "key_check": key_check(key), "map": MAP_FILE}


def load_customer_ids(
    settings: Settings, environ: Mapping[str, str] | None = None, keyed: bool = True
) -> CustomerIds:
    """The ids of the data under the home folder, as its manifest records them (no manifest, or
    one without ``customer_ids``, as from the simulator: integer ids).

    Args:
        settings: the home folder.
        environ: where ``RETAIN_ID_KEY`` is read (default: the process environment).
        keyed: read and check the key; False for a command that only translates keys back.

    Raises:
        ConfigError: the manifest cannot be read; string ids and the key is missing, too short,
            or not the one the ids were ingested with.
    """
    path = settings.data_dir / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"cannot read {path}: {e}") from e
    ids = manifest.get("customer_ids") or {"mode": "integer"}
    if ids.get("mode") == "integer":
        return CustomerIds()
    if ids.get("mode") != "string":
        raise ConfigError(f"{path}: unknown customer_ids mode {ids.get('mode')!r}: ingest again")
    map_path = settings.data_dir / str(ids.get("map", MAP_FILE))
    if not keyed:
        return CustomerIds("string", None, map_path)
    key = read_id_key(environ)
    if key_check(key) != ids.get("key_check"):
        raise ConfigError(
            f"{ID_KEY_ENV} is not the key the customer ids were ingested with: set that key, or "
            "ingest again with this one (then build, apply and materialize the features)"
        )
    return CustomerIds("string", key, map_path)
