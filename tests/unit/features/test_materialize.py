"""The fast materialization's bytes are Feast's own: values, entity keys, timestamps, value_text,
and the Redis commands redis-py would pack."""

from __future__ import annotations

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
    encode_values,
    entity_keys,
    naive_datetimes,
    timestamp_protos,
    value_texts,
)

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
