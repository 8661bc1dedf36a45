"""The fast materialization's bytes are Feast's own: values, entity keys, timestamps, value_text,
and the Redis commands redis-py would pack."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.helpers import extract_text_and_num
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value
from feast.type_map import python_values_to_proto_values
from feast.value_type import ValueType
from google.protobuf.timestamp_pb2 import Timestamp

from features.materialize import (
    _commands,
    _Replies,
    encode_values,
    entity_keys,
    float_texts,
    naive_datetimes,
    sqlite_event_ts,
    timestamp_protos,
    value_texts,
)
from retain.core.errors import DataError

COLUMNS = [
    (
        ValueType.INT64,
        pa.array([0, 1, 127, 128, 300, -1, None, 2**63 - 1, -(2**63), 16384], pa.int64()),
    ),
    (
        ValueType.FLOAT,
        pa.array(
            [1.5, 0.0, -0.0, None, float("nan"), float("inf"), 1e-30, -3.4e38, 1.1], pa.float32()
        ),
    ),
    (ValueType.DOUBLE, pa.array([0.1, None, float("nan"), -0.0, 1e300, 5.0], pa.float64())),
    (ValueType.BOOL, pa.array([True, False, None, True], pa.bool_())),
    (
        ValueType.STRING,
        pa.array(["a", "", None, "zürich", "x" * 200, "line\r\nbreak"], pa.string()),
    ),
]


def _feast(array: pa.Array, value_type: ValueType) -> list[Value]:
    return list(python_values_to_proto_values(array.to_pylist(), value_type))


@pytest.mark.parametrize(("value_type", "array"), COLUMNS, ids=lambda x: str(x)[:12])
def test_values_serialize_as_feasts_own(value_type, array):
    """Every value, null and NaN included, is the bytes of Feast's own ValueProto."""
    expected = [p.SerializeToString() for p in _feast(array, value_type)]
    assert encode_values(array, value_type).to_pylist() == expected


@pytest.mark.parametrize(("value_type", "array"), COLUMNS, ids=lambda x: str(x)[:12])
def test_value_text_is_feasts_sqlite_column(value_type, array):
    """value_text is what Feast's SQLite store derives from the proto (None for a null)."""
    expected = [extract_text_and_num(p, False)[0] for p in _feast(array, value_type)]
    assert value_texts(array, value_type) == expected


def test_a_type_without_an_encoder_goes_through_feast():
    """A column of another type (int32 here) still gives Feast's bytes."""
    array = pa.array([1, None, -5], pa.int32())
    expected = [p.SerializeToString() for p in _feast(array, ValueType.INT32)]
    assert encode_values(array, ValueType.INT32).to_pylist() == expected


def test_entity_keys_are_feasts_serialized_keys():
    ids = np.array([1, 1000, -7, 2**40 + 3, 0], dtype=np.int64)
    expected = [
        serialize_entity_key(
            EntityKey(join_keys=["customer_id"], entity_values=[Value(int64_val=int(i))]),
            entity_key_serialization_version=3,
        )
        for i in ids
    ]
    assert entity_keys(ids, 3).to_pylist() == expected


def test_timestamps_are_feasts_in_both_stores():
    """Redis keeps Timestamp(FromDatetime) bytes; SQLite the naive UTC datetime."""
    moments = [
        datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        datetime(1965, 6, 1, 12, 0, 0, 250000, tzinfo=UTC),
    ]
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    us = np.array([(m - epoch) // np.timedelta64(1, "us") for m in moments], dtype=np.int64)
    expected = []
    for m in moments:
        ts = Timestamp()
        ts.FromDatetime(m)
        expected.append(ts.SerializeToString())
    assert timestamp_protos(us).to_pylist() == expected
    assert naive_datetimes(us) == [m.replace(tzinfo=None) for m in moments]


def test_commands_are_the_bytes_redis_py_packs():
    """A constant argument and per-row arguments give redis-py's RESP for each row."""
    import redis

    keys = pa.array([b"k1", b"key\r\n2"], pa.binary())
    values = pa.array([b"", b"\x00\xff"], pa.binary())
    packed = _commands([b"HSET", keys, b"field", values]).to_pylist()
    connection = redis.Connection()
    for row, (k, v) in enumerate(zip(keys.to_pylist(), values.to_pylist(), strict=True)):
        assert packed[row] == b"".join(connection.pack_command("HSET", k, b"field", v))


def test_float_texts_are_pythons_str():
    """Arrow's digits where they agree with Python's, Python's own str elsewhere: the same text
    for every double (whole numbers, both ends of the plain range, exponents, nan, inf)."""
    rng = np.random.default_rng(7)
    values = np.concatenate(
        [
            rng.standard_normal(20_000) * 10.0 ** rng.integers(-12, 22, 20_000),
            np.round(rng.uniform(-2e9, 2e9, 5_000)),
            rng.standard_normal(5_000).astype(np.float32).astype(np.float64),
            [0.0, -0.0, 1e-4, np.nextafter(1e-4, 0), 1e9, np.nextafter(1e9, 0), 1e16, 5e-324],
            [float("nan"), float("inf"), -float("inf"), 123456789.0, 100.0, -7.0],
        ]
    )
    assert float_texts(values).to_pylist() == list(map(str, values.tolist()))


def test_event_ts_is_what_sqlite3_binds_for_feasts_naive_datetime():
    us = np.array([1_735_689_599_000_000, 0, 1_735_689_599_000_000, 86_400_123_456], np.int64)
    with sqlite3.connect(":memory:") as db:
        for moment, ours in zip(naive_datetimes(us), sqlite_event_ts(us), strict=True):
            assert db.execute("SELECT ?", (moment,)).fetchone() == (ours,)


class _Socket:
    """Hands out the given bytes, one piece per recv_into."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = list(pieces)

    def recv_into(self, buffer: bytearray) -> int:
        piece = self.pieces.pop(0)
        buffer[: len(piece)] = piece
        return len(piece)


class _Connection:
    def __init__(self, pieces: list[bytes]) -> None:
        self._sock = _Socket(pieces)


def _pieces(data: bytes, sizes: list[int]) -> list[bytes]:
    """``data`` cut into pieces of these sizes (the rest in one)."""
    out, at = [], 0
    for size in sizes:
        out.append(data[at : at + size])
        at += size
    return [*out, data[at:]] if at < len(data) else out


def test_nil_replies_are_read_as_bytes_and_stored_values_parsed():
    """HGET replies cut anywhere: all nil reads as None; a stored value among nils is parsed."""
    nils = b"$-1\r\n" * 4
    assert _Replies(_Connection(_pieces(nils, [3, 9, 1]))).values(4, "HGET") is None
    mixed = b"$-1\r\n$-1\r\n$3\r\nab\n\r\n$-1\r\n"
    replies = _Replies(_Connection(_pieces(mixed, [7, 6, 4])))
    assert replies.values(4, "HGET") == [None, None, b"ab\n", None]


def test_an_error_reply_is_a_data_error_naming_the_command():
    wrong = b"$-1\r\n-WRONGTYPE Operation against a key\r\n"
    with pytest.raises(DataError, match="Redis refused HGET: WRONGTYPE"):
        _Replies(_Connection([wrong])).values(2, "HGET")
    integers = _Replies(_Connection(_pieces(b":13\r\n-ERR bad\r\n:2\r\n", [2, 6]))).integers("HSET")
    integers.wait(3)
    with pytest.raises(DataError, match="Redis refused HSET: ERR bad$"):
        integers.check()


def test_integer_replies_are_counted_across_pieces():
    replies = _Replies(_Connection(_pieces(b":31\r\n:0\r\n:12\r\n", [1, 4, 3, 5])))
    integers = replies.integers("HSET")
    integers.wait(2)
    assert integers.count >= 2
    integers.wait(3)
    assert integers.count == 3
    integers.check()
