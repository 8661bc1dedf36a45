"""``retain features materialize``: the latest feature values into the online store, fast and
incremental, in exactly the rows and keys Feast's own ``materialize`` writes.

Feast's own path (``FeatureStore.materialize``) turns every value into a protobuf object in Python
and writes one SQLite row or one Redis field at a time: about 550 customers/s into SQLite and 930/s
into Redis on the development machine. Here each view's window is read from its Parquet parts with
pyarrow, the latest row per customer is kept (Feast's rule: the latest event timestamp within
``[start, end]``, both ends included), and then:

- values become serialized ``ValueProto`` bytes a column at a time (``encode_values``; a column of
  another type goes through Feast's ``python_values_to_proto_values``), checked against Feast's
  own conversion on a sample of every column before anything is written;
- Redis: the ``HSET`` commands Feast's ``RedisOnlineStore.online_write_batch`` sends (key = the
  serialized entity key + project, fields = mmh3 of ``view:feature`` and ``_ts:view``), built as
  one buffer with Arrow and pipelined raw on one connection, after the same timestamp check Feast
  makes (a customer's row is written only when newer than the one stored: one ``HGET`` of the
  view's ``_ts`` field per customer, sent before the chunk's ``HSET`` commands are built, so that
  Redis answers while they are). The replies are checked as bytes (nil timestamps, integer
  counts); only a stored timestamp or an error is parsed. What is left is Redis's own work, about
  two thirds of the run's CPU: every field of a customer's hash (about a hundred across the
  views) is one argument that Redis allocates, and a small hash (a listpack) is searched end to
  end for each new field;
- SQLite: the rows of Feast's ``SqliteOnlineStore`` (one per customer and feature, the same
  ``value``, ``value_text`` and ``event_ts``), one statement per customer (its features in
  primary-key order), one transaction per view, with a larger page cache (``SQLITE_CACHE_KIB``);
  the next chunk's parameters are built in a thread while SQLite inserts the one before.
  ``value_text`` comes from Arrow's casts (Python's ``str`` of a double, where Arrow writes it
  differently), ``event_ts`` through Feast's sqlite3 adapter once per distinct time. What is left
  is SQLite's own work, about 2 microseconds per row in three B-trees (the table, its primary key
  and Feast's ``entity_key`` index).

Both write ``WRITE_CHUNK_ROWS`` customers at a time (bounded memory), and while one view is written
(in a worker thread) the next one is read and serialized.

Incremental by default, with Feast's ``materialize-incremental`` bookkeeping: a view starts where
its latest materialization interval in the registry ends (the first time, at ``end - ttl``, or the
epoch for a view that never expires) and each finished view appends its interval with
``registry.apply_materialization``, so ``feast feature-views describe`` and ``retain monitor`` see
it. A view already materialized up to the latest month end is left alone; ``full=True`` reloads
every view's whole TTL window.

``customer_segments`` is also stale when its rows were rebuilt with other definitions (a bank's
``value.toml`` changed, then ``retain features build``): same customers, same timestamps, another
``segments_version``. An incremental run compares the version of the sources' latest rows with the
one the online store serves for a few customers (``stale_segments``) and, when they differ,
rewrites that view's whole window (only that view), saying so in one line; in Redis its rows are
then written whatever their stored timestamp (Feast's own ``materialize`` skips rows that are not
newer, so ``--engine feast`` does not replace them in Redis).

``engine="feast"`` runs Feast's own ``materialize`` over the same windows (the reference the tests
and the benchmark compare with).

A run that fails (the online store unreachable, the disk full) keeps what the store held: SQLite
rolls the view's transaction back, and in Redis every customer's row of a view is one ``HSET``, so
each customer reads either the previous row or the new one. Views finished before the failure
keep their new interval; the message names the others and says to run the command again, which
takes up each view where its last finished run ended.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numpy.typing import NDArray

from features.extras import SOURCE as EXTRAS
from features.schema import BUILT_SOURCES, SEGMENTS
from features.store import (
    EPOCH,
    applied_store,
    check_sources,
    latest_month_end,
    reachable,
    write_store_yaml,
)
from retain.core.columns import KEY
from retain.core.errors import ConfigError, DataError, OnlineStoreError, RetainError
from retain.core.progress import Progress, silent
from retain.core.settings import Settings

if TYPE_CHECKING:
    from feast import FeatureStore, FeatureView
    from feast.repo_config import RepoConfig

logger = logging.getLogger(__name__)

Engine = Literal["fast", "feast"]
ENGINES: tuple[str, ...] = ("fast", "feast")

REDIS_COMMANDS_PER_ROUND_TRIP = 5_000
"""Commands sent before their replies are read: large enough that the round trips cost nothing,
small enough to bound the client's and the server's buffers."""

WRITE_CHUNK_ROWS = 25_000
"""Customers whose commands (Redis) or parameters (SQLite) are built at once: bounds memory; the
next chunk's are built while the one before is written."""

SQLITE_CACHE_KIB = 64 * 1024
"""SQLite's page cache while a view is written (an upper bound, allocated as pages are used): the
default 2 MiB spills the transaction's pages to the file before the commit. Measured within the
noise on the development machine (inserts in key order touch few pages); it bounds the spills."""

SAMPLE_CHECK_ROWS = 64
"""Values of every column checked against Feast's own conversion before a view is written."""

VERSION_SAMPLE_ROWS = 16
"""Customers whose online ``segments_version`` is compared with the sources' (``stale_segments``):
a rebuild changes every row's version, so a few tell."""

VERSION = "segments_version"


@dataclass(frozen=True)
class ViewRun:
    """One feature view's part of a run.

    Attributes:
        name: the feature view.
        start: start of the window read (None: the view was already up to date, nothing read).
        rows: customers whose row was written (Redis: newer than the stored one).
        note: why the view's whole window was rewritten in an incremental run ("" otherwise).
    """

    name: str
    start: datetime | None
    rows: int
    note: str = ""


@dataclass(frozen=True)
class MaterializeSummary:
    """What a run did: the end of every view's window, the bank's customers, the time it took."""

    end: datetime
    customers: int
    seconds: float
    views: tuple[ViewRun, ...] = ()
    engine: str = "fast"


# --- ValueProto bytes, a column at a time ---------------------------------------------------------
# Field numbers of feast.types.Value (Value.proto), as protobuf tags: (number << 3) | wire type.
_TAG_STRING = 0x12  # string_val = 2, length-delimited
_TAG_INT64 = 0x20  # int64_val = 4, varint
_TAG_DOUBLE = 0x29  # double_val = 5, 64-bit
_TAG_FLOAT = 0x35  # float_val = 6, 32-bit
_TAG_BOOL = 0x38  # bool_val = 7, varint


def _binary(records: NDArray[np.uint8], lengths: NDArray[np.int64]) -> pa.BinaryArray:
    """Row i of the result is ``records[i, :lengths[i]]``."""
    n, width = records.shape
    if n and int(lengths.min()) == width:
        data = np.ascontiguousarray(records).reshape(-1)
    else:
        data = records[np.arange(width) < lengths[:, None]]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return pa.Array.from_buffers(
        pa.large_binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    ).cast(pa.binary())


def _varints(values: NDArray[np.uint64]) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """Protobuf varints of unsigned 64-bit values: (n, 10) bytes and the length of each (the
    bytes past a value's length are left unset)."""
    n = len(values)
    lengths = np.ones(n, dtype=np.int64)
    for k in range(1, 10):
        lengths += values >= np.uint64(1 << (7 * k))
    out = np.zeros((n, 10), dtype=np.uint8)
    for k in range(int(lengths.max()) if n else 0):
        byte = (values >> np.uint64(7 * k)) & np.uint64(0x7F)
        more = (k < lengths - 1).astype(np.uint64) << np.uint64(7)
        out[:, k] = (byte | more).astype(np.uint8)
    return out, lengths


def _valid(array: pa.Array) -> NDArray[np.bool_]:
    return np.asarray(array.is_valid().to_numpy(zero_copy_only=False), dtype=bool)


def _fixed(array: pa.Array, tag: int, dtype: str, nan_is_null: bool) -> pa.BinaryArray:
    """A tag byte and the value's little-endian bytes (float, double, bool)."""
    valid = _valid(array)
    zero = False if pa.types.is_boolean(array.type) else 0
    values = np.asarray(array.fill_null(zero).to_numpy(zero_copy_only=False)).astype(dtype)
    if nan_is_null:
        valid &= ~np.isnan(values)
    width = values.dtype.itemsize
    records = np.empty((len(values), 1 + width), dtype=np.uint8)
    records[:, 0] = tag
    records[:, 1:] = values.view(np.uint8).reshape(len(values), width)
    return _binary(records, np.where(valid, 1 + width, 0))


def _int64(array: pa.Array) -> pa.BinaryArray:
    valid = _valid(array)
    values = np.asarray(array.fill_null(0).to_numpy(zero_copy_only=False)).astype(np.int64)
    varint, lengths = _varints(values.view(np.uint64))
    records = np.empty((len(values), 11), dtype=np.uint8)
    records[:, 0] = _TAG_INT64
    records[:, 1:] = varint
    return _binary(records, np.where(valid, lengths + 1, 0))


def _string(array: pa.Array) -> pa.BinaryArray:
    valid = _valid(array)
    data = array.cast(pa.binary()).fill_null(b"")
    sizes = np.asarray(pc.binary_length(data).to_numpy(zero_copy_only=False), dtype=np.uint64)
    varint, lengths = _varints(sizes)
    records = np.empty((len(sizes), 11), dtype=np.uint8)
    records[:, 0] = _TAG_STRING
    records[:, 1:] = varint
    header = _binary(records, np.where(valid, lengths + 1, 0))
    empty = pa.array(np.full(len(sizes), b"", dtype=object), type=pa.binary())
    return pc.if_else(pa.array(valid), pc.binary_join_element_wise(header, data, b""), empty)


def _with_feast(array: pa.Array, value_type: Any) -> pa.BinaryArray:
    """Feast's own conversion, for types without a column encoder."""
    from feast.type_map import python_values_to_proto_values

    protos = python_values_to_proto_values(array.to_numpy(zero_copy_only=False), value_type)
    return pa.array([p.SerializeToString() for p in protos], type=pa.binary())


def _encoders() -> dict[Any, Callable[[pa.Array], pa.BinaryArray]]:
    from feast.value_type import ValueType

    return {
        ValueType.FLOAT: lambda a: _fixed(a, _TAG_FLOAT, "<f4", nan_is_null=True),
        ValueType.DOUBLE: lambda a: _fixed(a, _TAG_DOUBLE, "<f8", nan_is_null=True),
        ValueType.BOOL: lambda a: _fixed(a, _TAG_BOOL, "u1", nan_is_null=False),
        ValueType.INT64: _int64,
        ValueType.STRING: _string,
    }


def encode_values(array: pa.Array, value_type: Any) -> pa.BinaryArray:
    """Serialized ``ValueProto`` of every value of a column (``b""``, the empty Value, for a null
    or a NaN), as Feast's ``python_values_to_proto_values`` makes them."""
    encoder = _encoders().get(value_type)
    return _with_feast(array, value_type) if encoder is None else encoder(array)


def check_encoding(array: pa.Array, encoded: pa.BinaryArray, value_type: Any, what: str) -> None:
    """Compare a sample of ``encoded`` (the first and last values, and the nulls among them) with
    Feast's own conversion of the same values.

    Raises:
        DataError: a value is serialized differently from Feast's own (retain's encoder and the
            installed Feast disagree; ``--engine feast`` still works).
    """
    from feast.type_map import python_values_to_proto_values

    n = len(array)
    half = SAMPLE_CHECK_ROWS // 2
    rows = np.unique(np.r_[np.arange(min(n, half)), np.arange(max(0, n - half), n)])
    if len(rows) == 0:
        return
    sample = array.take(pa.array(rows)).to_pylist()
    # Python scalars: Feast's type check refuses some numpy scalars (a float32 zero first).
    expected = [p.SerializeToString() for p in python_values_to_proto_values(sample, value_type)]
    got = encoded.take(pa.array(rows)).to_pylist()
    for row, want, have in zip(rows, expected, got, strict=True):
        if want != have:
            raise DataError(
                f"{what}: value {sample[int(np.searchsorted(rows, row))]!r} serializes as "
                f"{have!r}, Feast's own as {want!r}: run `retain features materialize "
                "--engine feast` and report this"
            )


# --- the latest row per customer of a view's window ----------------------------------------------


@dataclass(frozen=True)
class Latest:
    """The latest row of every customer in a view's window, sorted by customer id."""

    ids: NDArray[np.int64]
    event_us: NDArray[np.int64]  # event timestamps, microseconds since the epoch (UTC)
    columns: dict[str, pa.Array]

    def __len__(self) -> int:
        return len(self.ids)


def _us(t: datetime) -> int:
    return int((t - EPOCH) / timedelta(microseconds=1))


def latest_rows(
    folder: Path, timestamp: str, features: Sequence[str], start: datetime, end: datetime
) -> Latest:
    """Feast's rows of a materialization window: rows stamped within ``[start, end]``, then the
    latest per customer (among equal timestamps, the last read).

    Raises:
        DataError: a part cannot be read or lacks a column.
    """
    parts = sorted(folder.glob("*.parquet"))
    columns = [KEY, timestamp, *features]
    window = (pc.field(timestamp) >= pa.scalar(start, pa.timestamp("us", "UTC"))) & (
        pc.field(timestamp) <= pa.scalar(end, pa.timestamp("us", "UTC"))
    )
    tables = []
    for part in parts:
        try:
            tables.append(pq.read_table(part, columns=columns, filters=window))
        except (pa.ArrowException, OSError) as e:
            raise DataError(
                f"corrupt or unreadable Parquet file {part} ({str(e)[:200]}): "
                "run `retain features build` again"
            ) from e
    if not tables:
        raise DataError(f"feature source {folder} has no parts: run `retain features build`")
    table = pa.concat_tables(tables, promote_options="permissive")
    ids = np.asarray(table[KEY].to_numpy(), dtype=np.int64)
    event = table[timestamp].cast(pa.timestamp("us", "UTC")).cast(pa.int64())
    event_us = np.asarray(event.to_numpy(), dtype=np.int64)
    order = np.lexsort((np.arange(len(ids)), event_us, ids))
    last = np.ones(len(order), dtype=bool)
    last[:-1] = ids[order][1:] != ids[order][:-1]
    keep = pa.array(order[last])
    return Latest(
        ids=ids[order[last]],
        event_us=event_us[order[last]],
        columns={f: table[f].take(keep).combine_chunks() for f in features},
    )


# --- the online stores ---------------------------------------------------------------------


@dataclass(frozen=True)
class EncodedView:
    """A view's latest rows, ready for either store."""

    view: FeatureView
    latest: Latest
    entity_keys: pa.BinaryArray  # Feast's serialized entity keys
    values: dict[str, pa.BinaryArray]  # feature -> serialized ValueProto
    value_types: dict[str, Any]


def entity_keys(ids: NDArray[np.int64], version: int) -> pa.BinaryArray:
    """Feast's ``serialize_entity_key`` of ``customer_id`` = each id: a fixed head, then the
    id's 8 little-endian bytes; checked against Feast's own on the first and last ids."""
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    def feast_key(i: int) -> bytes:
        key = EntityKey(join_keys=[KEY], entity_values=[Value(int64_val=i)])
        return bytes(serialize_entity_key(key, entity_key_serialization_version=version))

    probe = feast_key(0)
    head = probe[:-8]
    if feast_key(1) != head + (1).to_bytes(8, "little"):
        raise ConfigError("Feast's entity key layout changed: run with `--engine feast`")
    n = len(ids)
    records = np.empty((n, len(head) + 8), dtype=np.uint8)
    records[:, : len(head)] = np.frombuffer(head, dtype=np.uint8)
    records[:, len(head) :] = ids.astype("<i8").view(np.uint8).reshape(n, 8)
    keys = _binary(records, np.full(n, len(head) + 8, dtype=np.int64))
    for i in {0, n - 1} if n else set():
        if keys[i].as_py() != feast_key(int(ids[i])):
            raise ConfigError("Feast's entity key layout changed: run with `--engine feast`")
    return keys


def _unique(event_us: NDArray[np.int64]) -> tuple[NDArray[np.int64], list[int]]:
    unique, inverse = np.unique(event_us, return_inverse=True)
    return inverse, unique.tolist()


def timestamp_protos(event_us: NDArray[np.int64]) -> pa.BinaryArray:
    """Feast's ``_ts`` values in Redis: the serialized ``Timestamp`` of each event time."""
    from google.protobuf.timestamp_pb2 import Timestamp

    inverse, unique = _unique(event_us)
    protos = [
        Timestamp(seconds=us // 1_000_000, nanos=us % 1_000_000 * 1000).SerializeToString()
        for us in unique
    ]
    return pa.array(protos, type=pa.binary()).take(pa.array(inverse))


def naive_datetimes(event_us: NDArray[np.int64]) -> list[datetime]:
    """Feast's ``event_ts`` in SQLite: naive UTC datetimes (sqlite3 stores their ISO text)."""
    inverse, unique = _unique(event_us)
    naive = EPOCH.replace(tzinfo=None)
    moments = [naive + timedelta(microseconds=us) for us in unique]
    return [moments[i] for i in inverse.tolist()]


def sqlite_event_ts(event_us: NDArray[np.int64]) -> list[Any]:
    """The ``event_ts`` parameter of each row as sqlite3 binds Feast's: the naive UTC datetime
    through the adapter Feast registers for datetimes (its Unix seconds), applied once per
    distinct time rather than once per row."""
    import feast.infra.online_stores.sqlite  # noqa: F401  (registers Feast's adapters)

    inverse, unique = _unique(event_us)
    naive = EPOCH.replace(tzinfo=None)
    adapt = sqlite3.adapters.get((datetime, sqlite3.PrepareProtocol), lambda moment: moment)
    stamps = [adapt(naive + timedelta(microseconds=us)) for us in unique]
    return [stamps[i] for i in inverse.tolist()]


class RedisWriter:
    """Feast's Redis rows, pipelined from one buffer per batch."""

    def __init__(self, config: RepoConfig) -> None:
        from feast.infra.online_stores.redis import RedisOnlineStore

        self.config = config
        self.client = RedisOnlineStore()._get_client(config.online_store)
        self.project = config.project.encode()

    @staticmethod
    def supports(config: RepoConfig) -> bool:
        """Plain Redis without key expiry; a cluster, Sentinel or key TTL uses Feast's path."""
        online = config.online_store
        return (
            getattr(online, "type", "") == "redis"
            and str(getattr(online, "redis_type", "redis")) in ("redis", "RedisType.redis")
            and not getattr(online, "key_ttl_seconds", None)
        )

    def write(self, encoded: EncodedView, overwrite: bool = False) -> int:
        """Each chunk of customers: the HGETs of Feast's timestamp check are sent, the chunk's
        HSETs built while Redis answers them, and those of the customers whose row is newer
        sent in batches, each before the replies to the one before are read.

        ``overwrite``: no timestamp check, every customer's row is written (rows rebuilt with
        the same timestamps: ``stale_segments``)."""
        from feast.infra.online_stores.helpers import _mmh3, compute_versioned_name

        view = encoded.view
        name = compute_versioned_name(
            view, self.config.registry.enable_online_feature_view_versioning
        )
        n = len(encoded.latest)
        if n == 0:
            return 0
        keys = pc.binary_join_element_wise(encoded.entity_keys, self.project, b"")
        ts_field = f"_ts:{name}".encode()
        stamps = timestamp_protos(encoded.latest.event_us)
        fields = [_mmh3(f"{name}:{feature}") for feature in encoded.values]
        written = 0
        connection = self.client.connection_pool.get_connection()
        try:
            replies = _Replies(connection)
            for first in range(0, n, WRITE_CHUNK_ROWS):
                chunk = slice(first, min(first + WRITE_CHUNK_ROWS, n))
                if not overwrite:
                    _send(connection, _commands([b"HGET", keys[chunk], ts_field]))
                args: list[bytes | pa.Array] = [b"HSET", keys[chunk], ts_field, stamps[chunk]]
                for field, values in zip(fields, encoded.values.values(), strict=True):
                    args += [field, values[chunk]]
                commands = _commands(args)
                if not overwrite:
                    stored = replies.values(chunk.stop - chunk.start, "HGET")
                    newer = _newer(stored, encoded.latest.event_us[chunk])
                    if not newer.all():
                        commands = commands.filter(pa.array(newer))
                _send(connection, commands, replies.integers("HSET"))
                written += len(commands)
        except BaseException:
            connection.disconnect()  # unread replies must not reach the next user
            raise
        finally:
            self.client.connection_pool.release(connection)
        return written


def _newer(stored: list[Any] | None, event_us: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Feast's check: write a customer's row only if newer than the stored one (``stored``: the
    serialized timestamps stored, None for a chunk where none is)."""
    from google.protobuf.timestamp_pb2 import Timestamp

    newer = np.ones(len(event_us), dtype=bool)
    if stored is None:
        return newer
    parsed: dict[bytes, int] = {}
    for i, previous in enumerate(stored):
        if previous is None:
            continue
        us = parsed.get(previous)
        if us is None:
            ts = Timestamp()
            ts.ParseFromString(previous)
            # Feast compares nanoseconds; event times here are whole microseconds.
            us = parsed[previous] = ts.seconds * 1_000_000 + -(-ts.nanos // 1000)
        newer[i] = event_us[i] > us
    return newer


def _send(
    connection: Any, commands: pa.BinaryArray, replies: _IntegerReplies | None = None
) -> None:
    """Send packed commands in batches of ``REDIS_COMMANDS_PER_ROUND_TRIP``; with ``replies``,
    each batch is sent before the replies to the batches before are read, and all are read."""
    offsets = np.frombuffer(commands.buffers()[1], dtype=np.int32)[
        commands.offset : commands.offset + len(commands) + 1
    ]
    data = memoryview(commands.buffers()[2])  # type: ignore[arg-type]
    for first in range(0, len(commands), REDIS_COMMANDS_PER_ROUND_TRIP):
        last = min(first + REDIS_COMMANDS_PER_ROUND_TRIP, len(commands))
        connection.send_packed_command([data[offsets[first] : offsets[last]]], check_health=False)
        if replies is not None:
            replies.wait(first)
    if replies is not None:
        replies.wait(len(commands))
        replies.check()


_NIL = b"$-1\r\n"
_INTEGER_REPLY_BYTES = b":0123456789\r\n"


class _Replies:
    """Replies read straight from a connection's socket, with no Python per reply where Redis
    answers as expected: HSET's integer replies are checked as bytes (one line each, digits only)
    and HGET's compared with the bytes of nil replies; hiredis parses the rest (a stored
    timestamp, an error). redis-py's ``read_response`` where the socket is not at hand.
    """

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        sock = getattr(connection, "_sock", None)
        self.sock = sock if sock is not None and hasattr(sock, "recv_into") else None
        self.buffer = bytearray(1 << 20)

    def recv(self) -> bytes:
        """The next bytes from Redis.

        Raises:
            redis.exceptions.ConnectionError, TimeoutError: as redis-py would.
        """
        import redis

        assert self.sock is not None
        try:
            size = self.sock.recv_into(self.buffer)
        except TimeoutError as e:
            raise redis.exceptions.TimeoutError(f"reading from Redis: {e}") from e
        except OSError as e:
            raise redis.exceptions.ConnectionError(f"reading from Redis: {e}") from e
        if size == 0:
            raise redis.exceptions.ConnectionError("Redis closed the connection")
        return bytes(memoryview(self.buffer)[:size])

    def values(self, n: int, what: str) -> list[Any] | None:
        """The next ``n`` replies, bulk strings (None for nil); None when all are nil.

        Raises:
            DataError: Redis refused a command.
        """
        if self.sock is None:
            return _refused(what, self._slow(n))
        received, total = 0, len(_NIL) * n
        while received < total:
            data = self.recv()
            start = received % len(_NIL)
            expected = (_NIL * (len(data) // len(_NIL) + 2))[start : start + len(data)]
            if data != expected or received + len(data) > total:
                before = (_NIL * (received // len(_NIL) + 1))[:received]
                return _refused(what, self._parse(n, before + data))
            received += len(data)
        return None

    def integers(self, what: str) -> _IntegerReplies:
        return _IntegerReplies(self, what)

    def _parse(self, n: int, data: bytes) -> list[Any]:
        import hiredis

        reader = hiredis.Reader()
        reader.feed(data)
        out: list[Any] = []
        while len(out) < n:
            reply = reader.gets()
            if reply is False:
                reader.feed(self.recv())
                continue
            out.append(reply)
        return out

    def _slow(self, n: int) -> list[Any]:
        import redis

        out: list[Any] = []
        for _ in range(n):
            try:
                out.append(self.connection.read_response())
            except redis.exceptions.ResponseError as e:  # an error reply: read the rest
                out.append(e)
        return out


class _IntegerReplies:
    """Integer replies counted as they come (one line each), checked as bytes."""

    def __init__(self, replies: _Replies, what: str) -> None:
        self.replies = replies
        self.what = what
        self.count = 0
        self.odd = bytearray()  # what came from the first byte that is not an integer reply's on
        self.errors: list[Any] = []

    def wait(self, n: int) -> None:
        """Read until ``n`` replies have come in all."""
        if self.replies.sock is None:
            while self.count < n:
                self.errors += [r for r in self.replies._slow(1) if isinstance(r, Exception)]
                self.count += 1
            return
        while self.count < n:
            data = self.replies.recv()
            self.count += data.count(b"\n")
            if self.odd or data.translate(None, _INTEGER_REPLY_BYTES):
                self.odd += data

    def check(self) -> None:
        """Raises:
        DataError: Redis refused a command (the message names it).
        """
        if self.errors:
            _refused(self.what, self.errors)
        if self.odd:
            error = self.odd.find(b"-")
            line = self.odd[error + 1 :].split(b"\r\n", 1)[0] if error >= 0 else self.odd[:80]
            raise DataError(f"Redis refused {self.what}: {line.decode(errors='replace')[:200]}")


def _refused(what: str, replies: list[Any]) -> list[Any]:
    """The replies, unless one is an error.

    Raises:
        DataError: Redis refused a command (the message names it).
    """
    errors = [r for r in replies if isinstance(r, Exception)]
    if errors:
        raise DataError(f"Redis refused {what}: {errors[0]}")
    return replies


def _commands(args: Sequence[bytes | pa.Array]) -> pa.BinaryArray:
    """One RESP command per row: a byte string is the same argument in every row, an array gives
    each row its own."""
    pieces: list[Any] = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            pieces.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
        else:
            digits = pc.cast(pc.binary_length(arg), pa.string()).cast(pa.binary())
            pieces += [b"$", digits, b"\r\n", arg, b"\r\n"]
    merged: list[Any] = []
    for piece in pieces:
        if isinstance(piece, bytes) and merged and isinstance(merged[-1], bytes):
            merged[-1] += piece
        else:
            merged.append(piece)
    scalars = [pa.scalar(p, pa.binary()) if isinstance(p, bytes) else p for p in merged]
    return pc.binary_join_element_wise(*scalars, b"")


class SqliteWriter:
    """Feast's SQLite rows: one statement per customer, one transaction per view."""

    def __init__(self, config: RepoConfig) -> None:
        self.config = config
        path = Path(config.online_store.path)
        if not path.is_absolute():
            path = Path(config.repo_path or ".") / path
        self.path = path

    @staticmethod
    def supports(config: RepoConfig) -> bool:
        online = config.online_store
        return (
            getattr(online, "type", "") == "sqlite"
            and not getattr(online, "vector_enabled", False)
            and not getattr(online, "enable_openai_compatible_store", False)
        )

    def write(self, encoded: EncodedView, overwrite: bool = False) -> int:
        """``overwrite`` changes nothing: every row is an upsert, as in Feast's SQLite store."""
        from feast.infra.online_stores.helpers import compute_table_id

        n = len(encoded.latest)
        if n == 0:
            return 0
        table = compute_table_id(
            self.config.project,
            encoded.view,
            self.config.registry.enable_online_feature_view_versioning,
        )
        # One statement per customer: the feature names are constants, the parameters are the
        # entity key (?1), the event time (?2), then each feature's value and value_text; the
        # features in name order, the primary key's (a little less work in its B-tree).
        features = sorted(encoded.values)
        values = ", ".join(
            f"({_sql_text(f)}, ?{3 + 2 * j}, ?{4 + 2 * j})" for j, f in enumerate(features)
        )
        sql = (
            f"INSERT INTO {_sql_name(table)} (entity_key, feature_name, value, value_text, "
            f"event_ts, created_ts) SELECT ?1, v.column1, v.column2, v.column3, ?2, NULL "
            f"FROM (VALUES {values}) AS v WHERE true "
            "ON CONFLICT(entity_key, feature_name) DO UPDATE SET value = excluded.value, "
            "value_text = excluded.value_text, event_ts = excluded.event_ts, "
            "created_ts = excluded.created_ts"
        )
        # In entity-key order (the key ends with the id's little-endian bytes), the B-trees grow
        # at one end.
        order = np.argsort(encoded.latest.ids.astype("<i8").byteswap().view(np.uint64))
        chunks = [order[i : i + WRITE_CHUNK_ROWS] for i in range(0, n, WRITE_CHUNK_ROWS)]
        event_ts = sqlite_event_ts(encoded.latest.event_us)
        connection = sqlite3.connect(self.path)
        connection.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        try:
            # A chunk's parameters are built in a thread while SQLite inserts the chunk before
            # (sqlite3 lets go of the GIL while a statement runs).
            with (
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-rows") as pool,
                connection,
            ):
                build = partial(self._columns, encoded, features, event_ts)
                future = pool.submit(build, chunks[0])
                for k in range(len(chunks)):
                    columns = future.result()
                    if k + 1 < len(chunks):
                        future = pool.submit(build, chunks[k + 1])
                    connection.executemany(sql, zip(*columns, strict=True))
        finally:
            connection.close()
        return n

    @staticmethod
    def _columns(
        encoded: EncodedView, features: list[str], event_ts: list[Any], rows: NDArray[np.int64]
    ) -> list[list[Any]]:
        """The statement's parameters for some rows, column by column."""
        take = pa.array(rows)
        columns: list[list[Any]] = [
            encoded.entity_keys.take(take).to_pylist(),
            [event_ts[i] for i in rows.tolist()],
        ]
        for feature in features:
            columns += [
                encoded.values[feature].take(take).to_pylist(),
                value_texts(
                    encoded.latest.columns[feature].take(take), encoded.value_types[feature]
                ),
            ]
        return columns


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def value_texts(array: pa.Array, value_type: Any) -> list[str | None]:
    """Feast's ``value_text`` column: ``str`` of the value as Python reads it back from the proto
    (a float32 widened to a double), the string itself, None for a null."""
    from feast.infra.online_stores.helpers import extract_text_and_num
    from feast.value_type import ValueType

    if value_type in (ValueType.FLOAT, ValueType.DOUBLE):
        values = np.asarray(array.fill_null(0).to_numpy(zero_copy_only=False)).astype(np.float64)
        valid = _valid(array) & ~np.isnan(values)
        texts = float_texts(values)
    elif value_type == ValueType.INT64:
        texts, valid = array.cast(pa.string()), _valid(array)
    elif value_type == ValueType.BOOL:
        texts = pc.if_else(array.fill_null(False), "True", "False")
        valid = _valid(array)
    elif value_type == ValueType.STRING:
        texts, valid = array.cast(pa.string()), _valid(array)
    else:
        return [extract_text_and_num(v, False)[0] for v in _protos(array, value_type)]
    null = pa.scalar(None, pa.string())
    return pc.if_else(pa.array(valid), texts, null).to_pylist()  # type: ignore[no-any-return]


def float_texts(values: NDArray[np.float64]) -> pa.StringArray:
    """``str`` of every double as Python writes it (the shortest digits that read back the same
    double): Arrow's shortest digits, with Python's ``.0`` on a whole number, where the two write
    no exponent (``1e-4 <= |x| < 1e9`` and zero); Python's own ``str`` for the rest."""
    arrow = pc.cast(pa.array(values, pa.float64()), pa.string())
    whole = pc.invert(pc.or_(pc.match_substring(arrow, "."), pc.match_substring(arrow, "e")))
    texts = pc.if_else(whole, pc.binary_join_element_wise(arrow, ".0", ""), arrow)
    size = np.abs(values)
    other = np.flatnonzero(~(((size >= 1e-4) & (size < 1e9)) | (values == 0)))
    if len(other) == 0:
        return texts  # type: ignore[no-any-return]
    mixed = np.asarray(texts.to_numpy(zero_copy_only=False), dtype=object)
    mixed[other] = list(map(str, values[other].tolist()))
    return pa.array(mixed, pa.string())


def _protos(array: pa.Array, value_type: Any) -> list[Any]:
    from feast.type_map import python_values_to_proto_values

    return list(python_values_to_proto_values(array.to_numpy(zero_copy_only=False), value_type))


# --- the job -------------------------------------------------------------------------------


def _views(store: FeatureStore) -> list[FeatureView]:
    """The batch feature views to materialize, fresh from the registry (with their intervals)."""
    registered = {v.name for v in store.list_feature_views(allow_cache=False)}
    names = [*BUILT_SOURCES, *([EXTRAS] if EXTRAS in registered else [])]
    return [store.registry.get_feature_view(n, store.project, allow_cache=False) for n in names]


def window_start(view: FeatureView, end: datetime, full: bool) -> datetime | None:
    """Where a view's window starts: its latest materialization's end (incremental), else
    ``end - ttl`` (the epoch for a view that never expires); None when already at ``end``."""
    ttl = view.ttl or timedelta(0)
    first = EPOCH if ttl == timedelta(0) else end - ttl
    if full:
        return first
    done = view.most_recent_end_time
    if done is None:
        return first
    done = done if done.tzinfo else done.replace(tzinfo=UTC)
    return None if done >= end else done


def _source_folder(store: FeatureStore, view: FeatureView) -> tuple[Path, str] | None:
    """The folder of a view's Parquet parts and its timestamp column (None: not a file
    source)."""
    from feast import FileSource

    source = view.batch_source
    if not isinstance(source, FileSource):
        return None
    folder = Path(source.path)
    if not folder.is_absolute():
        folder = Path(store.config.repo_path or ".") / folder
    return folder, source.timestamp_field


def offline_version(folder: Path, timestamp: str, end: datetime) -> str | None:
    """The ``segments_version`` of the latest row up to ``end`` (None: no row). A build stamps
    every row with one version, so the parts' statistics usually tell it without reading."""
    parts = sorted(folder.glob("*.parquet"))
    found: set[str] = set()
    for part in parts:
        meta = pq.read_metadata(part)
        names = [meta.schema.column(i).name for i in range(meta.num_columns)]
        if VERSION not in names:
            return None
        column = names.index(VERSION)
        for g in range(meta.num_row_groups):
            stats = meta.row_group(g).column(column).statistics
            if stats is None or not stats.has_min_max or meta.row_group(g).num_rows == 0:
                found.add("")  # unknown: read below
            else:
                found.update({str(stats.min), str(stats.max)})
    if len(found) == 1 and "" not in found:
        return found.pop()
    window = pc.field(timestamp) <= pa.scalar(end, pa.timestamp("us", "UTC"))
    table = pa.concat_tables(
        [pq.read_table(p, columns=[timestamp, VERSION], filters=window) for p in parts],
        promote_options="permissive",
    )
    if table.num_rows == 0:
        return None
    stamps = table[timestamp].cast(pa.timestamp("us", "UTC")).cast(pa.int64()).to_numpy()
    at = int(np.flatnonzero(stamps == stamps.max())[-1])
    value = table[VERSION][at].as_py()
    return None if value is None else str(value)


def sample_ids(folder: Path, timestamp: str, done: datetime) -> list[int]:
    """A few customers (``VERSION_SAMPLE_ROWS``) with a row at their part's latest time up to
    ``done`` (rows the last materialization wrote), spread over the ids of the first and the last
    part: a run that failed halfway (customers are written in id order) is caught too."""
    parts = sorted(folder.glob("*.parquet"))
    window = pc.field(timestamp) <= pa.scalar(done, pa.timestamp("us", "UTC"))
    chosen: list[int] = []
    for part in dict.fromkeys(parts[:1] + parts[-1:]):
        table = pq.read_table(part, columns=[KEY, timestamp], filters=window)
        if table.num_rows == 0:
            continue
        stamps = table[timestamp].cast(pa.timestamp("us", "UTC")).cast(pa.int64()).to_numpy()
        ids = np.unique(np.asarray(table[KEY].to_numpy(), dtype=np.int64)[stamps == stamps.max()])
        spread = np.linspace(0, len(ids) - 1, min(len(ids), VERSION_SAMPLE_ROWS // 2)).round()
        chosen += [int(i) for i in ids[np.unique(spread.astype(np.int64))]]
    return sorted(set(chosen))


def stale_segments(store: FeatureStore, view: FeatureView, end: datetime) -> str | None:
    """Why an incremental run must rewrite ``customer_segments`` in full, or None: the online
    store serves another ``segments_version`` than the sources' latest rows (a rebuild with
    other definitions). Views other than the segments', a view never materialized, sources or an
    online store without a version to compare: None.

    Raises:
        DataError: a part of the view's source cannot be read.
    """
    done = view.most_recent_end_time
    source = _source_folder(store, view)
    if (
        view.name != SEGMENTS
        or done is None
        or source is None
        or VERSION not in {f.name for f in view.features}
    ):
        return None
    done = done if done.tzinfo else done.replace(tzinfo=UTC)
    folder, timestamp = source
    try:
        expected = offline_version(folder, timestamp, end)
        ids = sample_ids(folder, timestamp, min(done, end))
    except (pa.ArrowException, OSError) as e:
        raise DataError(
            f"corrupt or unreadable Parquet file in {folder} ({str(e)[:200]}): "
            "run `retain features build` again"
        ) from e
    if expected is None or not ids:
        return None
    response = store.get_online_features(
        features=[f"{view.name}:{VERSION}"], entity_rows=[{KEY: i} for i in ids]
    )
    online = sorted({str(v) for v in response.to_dict()[VERSION] if v is not None})
    stale = [v for v in online if v != expected]
    if not stale:
        return None
    return (
        f"{view.name}: the online store serves segments_version {', '.join(stale)}, the sources "
        f"{expected} (rebuilt with other value.toml definitions): rewriting its whole window"
    )


def encode_view(store: FeatureStore, view: FeatureView, latest: Latest) -> EncodedView:
    """Serialize a view's latest rows as Feast would, checking every column on a sample.

    Raises:
        DataError: a value serializes differently from Feast's own conversion.
    """
    values, types = {}, {}
    for feature in view.features:
        value_type = feature.dtype.to_value_type()
        array = latest.columns[feature.name]
        encoded = encode_values(array, value_type)
        check_encoding(array, encoded, value_type, f"{view.name}.{feature.name}")
        values[feature.name], types[feature.name] = encoded, value_type
    keys = entity_keys(latest.ids, store.config.entity_key_serialization_version)
    return EncodedView(view, latest, keys, values, types)


def _fast_view_reason(view: FeatureView) -> str | None:
    """Why a view needs Feast's own path, or None."""
    from feast import FileSource
    from feast.types import Int64

    source = view.batch_source
    if not isinstance(source, FileSource):
        return "its source is not a folder of Parquet files"
    if source.created_timestamp_column or source.field_mapping:
        return "its source has a created timestamp or a field mapping"
    columns = view.entity_columns
    if [c.name for c in columns] != [KEY] or columns[0].dtype != Int64:
        return f"its entity key is not the 64-bit {KEY}"
    return None


@contextlib.contextmanager
def _failure_note(
    settings: Settings, runs: dict[str, ViewRun], names: list[str], end: datetime
) -> Iterator[None]:
    """Add to a failure which views are done, which kept their previous values, what to do."""
    import redis

    def note() -> str:
        done = [n for n in names if n in runs]
        left = [n for n in names if n not in runs]
        ready = f"{', '.join(done)} materialized up to {end:%Y-%m-%d}; " if done else ""
        return (
            f". {ready}{', '.join(left)} kept their previous online values: "
            "run `retain features materialize` again to complete them"
        )

    try:
        yield
    except RetainError as e:
        raise type(e)(f"{e}{note()}") from e
    except sqlite3.Error as e:
        raise OnlineStoreError(
            f"cannot write the SQLite online store at {settings.feast_dir / 'online.db'} "
            f"({str(e)[:200]}): free disk space or check the file{note()}"
        ) from e
    except redis.exceptions.RedisError as e:
        raise OnlineStoreError(
            f"the Redis online store at {settings.redis_url} failed ({str(e)[:200]}){note()}"
        ) from e


def materialize(
    settings: Settings,
    progress: Progress = silent,
    *,
    full: bool = False,
    engine: Engine = "fast",
    end: datetime | None = None,
) -> MaterializeSummary:
    """Load the latest values of every feature view up to the latest month end in the sources.

    While one view is written (in a worker thread), the next one is read and serialized.

    Args:
        settings: which store and sources.
        progress: called as ``progress(views_done, views_total)``.
        full: reload every view's whole TTL window, not only what is new since its last run.
        engine: ``fast`` (this module) or ``feast`` (Feast's own ``materialize``, same windows).
        end: materialize up to this time instead (timezone-aware; replaying a history).

    Raises:
        NotReadyError: ``apply`` has not been run for this project.
        DataError: the sources are missing or corrupt.
        ConfigError: the registry or the online store cannot be reached (the message says which
            views are done and to run again).
        OnlineStoreError: the online store failed while writing (the same).
    """
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")
    store = applied_store(settings)
    check_sources(settings)
    end = latest_month_end(settings) if end is None else end
    write_store_yaml(settings)
    with reachable(settings):
        views = _views(store)
    config = store.config
    writer: RedisWriter | SqliteWriter | None = None
    if engine == "fast":
        if RedisWriter.supports(config):
            writer = RedisWriter(config)
        elif SqliteWriter.supports(config):
            writer = SqliteWriter(config)
    started = time.perf_counter()
    runs: dict[str, ViewRun] = {}
    names = [v.name for v in views]
    progress(0, len(views))

    def finish(job: tuple[FeatureView, datetime, Future[int]]) -> None:
        view, start, future = job
        rows = future.result()
        store.registry.apply_materialization(view, store.project, start, end, commit=True)
        runs[view.name] = ViewRun(view.name, start, rows, rewrite.get(view.name, ""))
        progress(len(runs), len(views))

    # Before any write: SQLite's reads must not wait on the worker's transaction.
    rewrite: dict[str, str] = {}
    if not full:
        with reachable(settings):
            for view in views:
                reason = stale_segments(store, view, end)
                if reason is not None:
                    logger.warning("%s", reason)
                    rewrite[view.name] = reason

    pending: tuple[FeatureView, datetime, Future[int]] | None = None
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="materialize") as pool,
        _failure_note(settings, runs, names, end),
        reachable(settings),
    ):
        try:
            for view in views:
                start = window_start(view, end, full or view.name in rewrite)
                if start is None:
                    runs[view.name] = ViewRun(view.name, None, 0)
                elif writer is None or _fast_view_reason(view) is not None:
                    if pending is not None:
                        finish(pending)  # the registry is written in order, one view at a time
                        pending = None
                    if writer is not None:
                        logger.warning(
                            "%s: Feast's own materialize (%s)", view.name, _fast_view_reason(view)
                        )
                    _feast_view(settings, store, view, start, end)
                    runs[view.name] = ViewRun(view.name, start, -1, rewrite.get(view.name, ""))
                else:
                    encoded = encode_view(store, view, _latest(store, view, start, end))
                    if pending is not None:
                        finish(pending)
                    overwrite = view.name in rewrite
                    pending = (view, start, pool.submit(writer.write, encoded, overwrite))
                progress(len(runs), len(views))
            if pending is not None:
                finish(pending)
                pending = None
        finally:
            if pending is not None:  # failed meanwhile: a write that succeeded still counts
                with contextlib.suppress(Exception):
                    finish(pending)
    customers = (
        pq.ParquetDataset(settings.sources_dir / "customer_profile").read(columns=[KEY]).num_rows
    )
    return MaterializeSummary(
        end=end,
        customers=customers,
        seconds=time.perf_counter() - started,
        views=tuple(runs[n] for n in names),
        engine=engine,
    )


def _latest(store: FeatureStore, view: FeatureView, start: datetime, end: datetime) -> Latest:
    source = _source_folder(store, view)
    assert source is not None  # _fast_view_reason sent the others to Feast
    folder, timestamp = source
    return latest_rows(folder, timestamp, [f.name for f in view.features], start, end)


def _feast_view(
    settings: Settings, store: FeatureStore, view: FeatureView, start: datetime, end: datetime
) -> None:
    """Feast's own ``materialize`` of one view's window (it records the interval itself)."""
    try:
        # Feast prints a banner per view; the caller's progress callback replaces it.
        with contextlib.redirect_stdout(io.StringIO()):
            store.materialize(start_date=start, end_date=end, feature_views=[view.name])
    except (pa.ArrowException, OSError) as e:
        raise DataError(
            f"cannot read source {view.name!r} at {settings.sources_dir / view.name}: "
            f"{str(e)[:200]}; run `retain features build` again"
        ) from e
