"""The Feast feature repo, top to bottom: entity -> sources -> feature views -> on-demand view ->
feature services.

When the feature build wrote a ``bank_extras`` source (the bank's own columns, see
``features.extras``), it gets a feature view of that name, whose schema is the source's, and the
service ``churn_bank_v1``: everything of ``churn_v1`` plus the extras. ``churn_v1`` is the same
with or without extras.

``customer_segments`` (``features.schema.SEGMENT_FEATURES``, built by ``features.build`` from the
other views with ``features.segments``) is a monthly view of its own, in no churn service: the
service ``segments_v1`` reads it, offline (the batch scorer) and online (the service).

``build_definitions(sources_dir)`` returns the objects; nothing is built at import time. The
columns come from ``features.schema``, which also gives the source folders their Parquet schema.

``gender`` is in no feature view: fairness checks read it from the raw ``customers`` table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FunctionType
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from feast import Entity, FeatureService, FeatureView, Field, FileSource, RequestSource, ValueType
from feast.data_format import ParquetFormat
from feast.on_demand_feature_view import OnDemandFeatureView, on_demand_feature_view
from feast.types import Bool, Float32, Float64, Int64, PrimitiveFeastType, String

from features import extras
from features.request_time import FEATURES as REQUEST_TIME_FEATURES
from features.request_time import INPUTS as REQUEST_TIME_INPUTS
from features.schema import (
    BUILT_SOURCES,
    CHURN_V1_EXCLUDED,
    MONTHLY_TTL,
    PROFILE_TTL,
    REQUEST_TIME,
    SEGMENTS,
    SEGMENTS_SERVICE,
    VIEW_DESCRIPTIONS,
    VIEW_FEATURES,
    source_features,
)
from retain.core.columns import AS_OF, KEY

FEAST_TYPES: dict[str, PrimitiveFeastType] = {
    "int64": Int64,
    "float32": Float32,
    "float64": Float64,
    "bool": Bool,
    "string": String,
}


def request_time_udf(inputs: pd.DataFrame) -> pd.DataFrame:
    """The on-demand view's transformation: ``features.request_time.request_time_features``.

    Feast stores this function's source in the registry and runs it rebuilt from that text, with
    only ``pd`` and ``np`` at hand, so it imports what it calls itself, by module.
    """
    import pandas as pd

    from features.request_time import request_time_features

    return pd.DataFrame(request_time_features(inputs), index=inputs.index)


def _fresh_copy(function: Callable[..., Any]) -> FunctionType:
    """A copy of a module-level function: Feast's decorator rebinds the function it is given to
    ``__main__``, after which a second ``build_definitions`` in the process could not find its
    source."""
    assert isinstance(function, FunctionType)
    copy = FunctionType(
        function.__code__, function.__globals__, function.__name__, function.__defaults__
    )
    copy.__module__ = function.__module__
    copy.__doc__ = function.__doc__
    copy.__qualname__ = function.__qualname__
    return copy


@dataclass(frozen=True)
class Definitions:
    """The repo's Feast objects, in reading order."""

    customer: Entity
    sources: dict[str, FileSource]
    views: dict[str, FeatureView]
    request_source: RequestSource
    request_time: OnDemandFeatureView
    services: dict[str, FeatureService]

    def objects(self) -> list[Any]:
        """Everything to pass to ``FeatureStore.apply``."""
        return [
            self.customer,
            *self.sources.values(),
            *self.views.values(),
            self.request_source,
            self.request_time,
            *self.services.values(),
        ]


def extras_schema(sources_dir: Path) -> pa.Schema | None:
    """The ``bank_extras`` source's Parquet schema, or None when the build wrote no such source."""
    parts = sorted((Path(sources_dir) / extras.SOURCE).glob("*.parquet"))
    return pq.read_schema(parts[0]) if parts else None


def build_definitions(sources_dir: Path) -> Definitions:
    """Build the Feast objects over the source folders under ``sources_dir`` (with the
    ``bank_extras`` view and ``churn_bank_v1`` service when that source exists)."""
    customer = Entity(
        name="customer",
        join_keys=[KEY],
        value_type=ValueType.INT64,
        description="A bank customer, by pseudonymous 64-bit id.",
    )

    sources = {
        name: FileSource(
            name=f"{name}_source",
            path=str(Path(sources_dir).absolute() / name),
            file_format=ParquetFormat(),
            timestamp_field=AS_OF,
            description=f"Folder of Parquet parts built by `retain features build` ({name}).",
        )
        for name in BUILT_SOURCES
    }

    views = {
        name: FeatureView(
            name=name,
            entities=[customer],
            ttl=PROFILE_TTL if name == "customer_profile" else MONTHLY_TTL,
            schema=[
                Field(name=KEY, dtype=Int64),
                *[
                    Field(name=n, dtype=FEAST_TYPES[t], description=d)
                    for n, t, d in source_features(name)
                ],
            ],
            source=sources[name],
            online=True,
            description=VIEW_DESCRIPTIONS[name],
        )
        for name in BUILT_SOURCES
    }

    request_source = RequestSource(
        name="scoring_request",
        schema=[Field(name=REQUEST_TIME, dtype=Int64)],
        description="The time a score is asked for, seconds since the epoch (UTC).",
    )
    request_time = on_demand_feature_view(
        name="request_time",
        sources=[
            *[views[name][list(columns)] for name, columns in REQUEST_TIME_INPUTS.items()],
            request_source,
        ],
        # No per-field descriptions: Feast 0.67 compares them with the inferred (blank) ones.
        schema=[Field(name=name, dtype=Float64) for name in REQUEST_TIME_FEATURES],
        mode="pandas",
        description="Days with the bank (tenure_days) and since the last login "
        "(days_since_login_now) at the request time.",
    )(_fresh_copy(request_time_udf))

    def churn_v1_features() -> list[Any]:
        return [
            views[name][[n for n, _, _ in features if n not in CHURN_V1_EXCLUDED]]
            for name, features in VIEW_FEATURES.items()
        ] + [request_time]

    services = {
        "churn_v1": FeatureService(
            name="churn_v1",
            features=churn_v1_features(),
            description="Features of the churn model, version 1 (no gender).",
        ),
        SEGMENTS_SERVICE: FeatureService(
            name=SEGMENTS_SERVICE,
            features=[views[SEGMENTS]],
            description="Value tier, lifecycle stage, behavioural segment, monthly margin and "
            "the definitions' version (customer_segments), for lists and responses.",
        ),
    }

    schema = extras_schema(sources_dir)
    if schema is not None:
        sources[extras.SOURCE] = FileSource(
            name=f"{extras.SOURCE}_source",
            path=str(Path(sources_dir).absolute() / extras.SOURCE),
            file_format=ParquetFormat(),
            timestamp_field=AS_OF,
            description="The bank's own columns (ingest extras), built by `retain features build`.",
        )
        monthly = extras.stamp(schema) == "month_end"
        views[extras.SOURCE] = FeatureView(
            name=extras.SOURCE,
            entities=[customer],
            ttl=MONTHLY_TTL if monthly else PROFILE_TTL,
            schema=[
                Field(name=KEY, dtype=Int64),
                *[
                    Field(name=n, dtype=FEAST_TYPES[t], description=d)
                    for n, t, d in extras.features(schema)
                ],
            ],
            source=sources[extras.SOURCE],
            online=True,
            description="The bank's own columns from its ingest mapping (extras), stamped "
            + ("at month end." if monthly else "at joining."),
        )
        services[extras.SERVICE] = FeatureService(
            name=extras.SERVICE,
            features=[
                *churn_v1_features(),
                views[extras.SOURCE][extras.model_inputs(schema)],
            ],
            description="churn_v1 and the bank's own columns (bank_extras).",
        )

    return Definitions(
        customer=customer,
        sources=sources,
        views=views,
        request_source=request_source,
        request_time=request_time,
        services=services,
    )
