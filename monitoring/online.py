"""The online store as the service reads it: freshness of each feature view against its TTL
(which Feast does not enforce on online reads) and online/offline skew of each feature, for a
seeded sample of customers at the latest month end. The comparisons are pure (``freshness``,
``skew``); this module reads the stores."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from monitoring.alerts import alert
from monitoring.config import MonitoringConfig
from monitoring.windows import window_rows
from retain.core.columns import AS_OF, KEY
from retain.core.errors import ConfigError, NotReadyError, OnlineStoreError
from retain.core.settings import Settings


@dataclass
class OnlineChecks:
    """Freshness and skew of the online store (``online_checks``).

    Attributes:
        freshness: one row per feature view (``freshness.FRESHNESS_COLUMNS``).
        skew: one row per feature compared (``skew.SKEW_COLUMNS``).
        info: ``as_of`` (the latest month end in the sources), ``sample`` (customers),
            ``materialized`` (bool), ``note`` (why a check did not run, or "").
        alerts: one line per crossed threshold, and a warn line where the store cannot be read.
    """

    freshness: pd.DataFrame
    skew: pd.DataFrame
    info: dict[str, Any]
    alerts: list[dict[str, str]]


def _materialized_to(view: Any) -> pd.Timestamp | None:
    """The end of the view's latest materialization in the registry, or None."""
    ends = [end for _, end in getattr(view, "materialization_intervals", []) or []]
    if not ends:
        return None
    end = pd.Timestamp(max(ends))
    return end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")


def online_checks(settings: Settings, config: MonitoringConfig, service: str) -> OnlineChecks:
    """Freshness and online/offline skew for a seeded sample of ``config.skew_rows`` customers
    with the bank at the latest month end in the sources.

    Freshness reads the event timestamps the online store holds for the sample (one
    ``online_read`` per feature view, as the service reads) and each view's latest
    materialization in the registry. Skew reads the sample's features as the service does
    (``features.online.OnlineFeatures``) and the point-in-time offline frame at the latest month
    end; on-demand (request-time) features are computed on both sides at that same time, with the
    registered function. An online store that cannot be read or holds nothing is a warn line,
    not an error.

    Raises:
        NotReadyError: the feature store is not applied.
        DataError: the sources are missing or corrupt.
    """
    from features.frames import entity_frame
    from features.online import OnlineFeatures, open_serving_store
    from features.schema import REQUEST_TIME
    from features.store import latest_month_end
    from monitoring.freshness import freshness_table, view_freshness
    from monitoring.skew import SKEW_COLUMNS, value_skew

    as_of = pd.Timestamp(latest_month_end(settings))
    as_of = as_of.tz_localize("UTC") if as_of.tzinfo is None else as_of.tz_convert("UTC")
    info: dict[str, Any] = {"as_of": f"{as_of:%Y-%m-%d}", "sample": 0, "materialized": False}
    empty = OnlineChecks(freshness_table([]), pd.DataFrame(columns=SKEW_COLUMNS), info, [])

    def unread(why: str) -> OnlineChecks:
        info["note"] = why
        empty.alerts.append(
            alert("online store", "freshness and skew", "warn", f"{why}: not measured")
        )
        return empty

    rows = window_rows(settings, [as_of])
    if rows.empty:
        return unread(f"no customer with the bank at {as_of:%Y-%m-%d}")
    rng = np.random.default_rng(config.seed)
    take = rng.choice(len(rows), size=min(config.skew_rows, len(rows)), replace=False)
    sample = rows.iloc[np.sort(take)][[KEY, AS_OF]].sort_values(KEY, ignore_index=True)
    ids = [int(i) for i in sample[KEY]]
    info["sample"] = len(ids)
    try:
        reader = OnlineFeatures(open_serving_store(settings, 10.0), service)
    except (NotReadyError, ConfigError) as e:
        return unread(f"the online store cannot be opened ({e})")
    plan = reader.plan
    materialized = {read.name: _materialized_to(read.view) for read in plan.views}
    try:
        stamps = _online_event_times(reader, ids)
        online = reader.read(ids, request_time="feature_time")
    except OnlineStoreError as e:
        return unread(str(e))
    found = any(s.notna().any() for s in stamps.values())
    if not found and not any(materialized.values()):
        return unread("the online store is not materialized (run `retain features materialize`)")
    info["materialized"] = True
    freshness = freshness_table(
        [
            view_freshness(
                read.name,
                read.ttl,
                stamps[read.name],
                as_of,
                materialized[read.name],
                config.freshness_warn_days,
            )
            for read in plan.views
        ]
    )
    columns = dict(online.columns)
    request = np.full(len(ids), int(as_of.timestamp()), dtype=np.int64)
    for odfv in plan.on_demand:
        # The registered function at the as-of time, as the offline frame computes it.
        transformation = odfv.view.feature_transformation
        if transformation is None:  # OnlineFeatures refuses such a view at construction
            raise ConfigError(f"on-demand view {odfv.name} has no transformation")
        inputs = pd.DataFrame(
            {
                c: request
                if c == REQUEST_TIME
                else pd.to_numeric(pd.Series(columns[c], dtype=object)).astype("float64")
                for c in (*odfv.inputs, *odfv.request_inputs)
            }
        )
        result = transformation.udf(inputs)
        columns.update({o: result[o].to_numpy(dtype=np.float64) for o in odfv.outputs})
    features = list(plan.features)
    online_frame = pd.DataFrame({f: pd.Series(columns[f], dtype=object) for f in features})
    offline = entity_frame(settings, sample, service)
    skew = value_skew(
        online_frame, offline[features], features, config.skew_tolerance, config.skew_alert_share
    )
    alerts = [
        alert("freshness", r["view"], r["status"], r["detail"])
        for r in freshness.to_dict("records")
        if r["status"] != "ok"
    ]
    alerts += [
        alert(
            "skew",
            r["feature"],
            r["status"],
            f"{r['differ_share']:.1%} of {r['compared']} customers differ online/offline at "
            f"{as_of:%Y-%m-%d} (e.g. {r['online_example']} online, {r['offline_example']} "
            "offline)",
        )
        for r in skew.to_dict("records")
        if r["status"] != "ok"
    ]
    info["note"] = ""
    return OnlineChecks(freshness, skew, info, alerts)


def _online_event_times(reader: Any, ids: Sequence[int]) -> dict[str, pd.Series]:
    """Per feature view of the reader's plan, the event timestamp the online store holds for
    each customer (NaT where none).

    Raises:
        OnlineStoreError: the store cannot be read.
    """
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    keys = [EntityKey(join_keys=[KEY], entity_values=[Value(int64_val=i)]) for i in ids]
    provider = reader.store._get_provider()  # Feast's own online path, as features.online reads
    out: dict[str, pd.Series] = {}
    for read in reader.plan.views:
        try:
            rows = provider.online_read(
                config=reader.store.config,
                table=read.view,
                entity_keys=keys,
                requested_features=list(read.columns),
            )
        except Exception as e:  # redis, sqlite and Feast errors alike
            raise OnlineStoreError(
                f"the online feature store cannot be read ({type(e).__name__}: {str(e)[:200]})"
            ) from e
        times = [ts if values is not None else None for ts, values in rows]
        out[read.name] = pd.to_datetime(pd.Series(times, dtype=object), utc=True)
    return out
