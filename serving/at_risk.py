"""At-risk lists from the latest batch scores: ``retain at-risk`` and ``GET /at_risk``.

The list is the latest table ``retain score`` wrote (``serving.batch``), filtered and sorted by
pure functions (``select``); only the customers listed are explained (TreeSHAP through the
scorer's online read, about a hundred predictions' work each). A suggested retention action and
its expected saved value appear only when the scores were made with a retention uplift champion;
until then the list says so and suggests nothing, as ``/recommend`` does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from features.segments import BEHAVIOUR_SEGMENTS, LIFECYCLE_STAGES, UNKNOWN, ValueConfig
from retain.core.errors import DataError, NotReadyError
from retain.core.settings import Settings
from serving.batch import RUN_FILE, scores_root
from serving.scoring import Scorer

NO_UPLIFT = (
    "no retain-uplift champion when these scores were made: no retention action is suggested "
    "(train and promote one: `retain train uplift`, `retain promote uplift`, then `retain score`)"
)
MAX_LIMIT = 1000


@dataclass(frozen=True)
class Filters:
    """Which customers to list; empty means any. ``segments`` name lifecycle stages or
    behavioural segments: any of the named stages and any of the named behaviours."""

    segments: tuple[str, ...] = ()
    branches: tuple[str, ...] = ()
    value_tiers: tuple[str, ...] = ()
    min_value: float | None = None


@dataclass(frozen=True)
class Scores:
    """The latest scores table and the run that wrote it (``_run.json``)."""

    folder: Path
    run: dict[str, Any]
    frame: pd.DataFrame

    @property
    def has_uplift(self) -> bool:
        return bool(self.run.get("uplift_version"))


def latest_scores(settings: Settings) -> Scores:
    """The newest ``scores/as_of=*`` table.

    Raises:
        NotReadyError: no scores yet.
        DataError: the table is unreadable.
    """
    root = scores_root(settings)
    folders = sorted(p for p in root.glob("as_of=*") if (p / RUN_FILE).is_file())
    if not folders:
        raise NotReadyError(f"no scores yet under {root}: run `retain score`")
    folder = folders[-1]
    try:
        run = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
        frame = pd.read_parquet(folder)
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read the scores at {folder}: {e}; run `retain score` again") from e
    return Scores(folder, run, frame)


def table_tiers(frame: pd.DataFrame, tiers: Sequence[str]) -> tuple[str, ...]:
    """The value tiers a filter may name: ``value.toml``'s, then any other the scores table
    holds (its segments come from the features' build, which may predate a change of tiers)."""
    held = frame["value_tier"].dropna().astype(str) if "value_tier" in frame else []
    return (*tiers, *sorted(set(held) - set(tiers) - {UNKNOWN}))


def check_filters(frame: pd.DataFrame, filters: Filters, tiers: Sequence[str]) -> None:
    """Raises DataError for a filter that names nothing that exists, or a negative value."""
    known = (*LIFECYCLE_STAGES, *BEHAVIOUR_SEGMENTS)
    bad = [s for s in filters.segments if s not in known]
    if bad:
        raise DataError(f"unknown segment {bad[0]!r}: use one of {', '.join(known)}")
    tiers = table_tiers(frame, tiers)
    bad = [t for t in filters.value_tiers if t not in (*tiers, UNKNOWN)]
    if bad:
        raise DataError(f"unknown value tier {bad[0]!r}: use one of {', '.join(tiers)}")
    if filters.branches:
        branches = set(frame["branch_id"].dropna().astype(str))
        bad = [b for b in filters.branches if b not in branches]
        if bad:
            sample = ", ".join(sorted(branches, key=lambda b: (len(b), b))[:10])
            raise DataError(
                f"unknown branch {bad[0]!r}: the scored customers' branches are {sample}, ..."
            )
    if filters.min_value is not None and not filters.min_value >= 0:
        raise DataError(f"the minimum value must be a number >= 0, not {filters.min_value}")


def select(frame: pd.DataFrame, filters: Filters, tiers: Sequence[str]) -> pd.DataFrame:
    """The customers that pass the filters, sorted: by expected saved value where an action is
    suggested (those first), then by value at stake, then by customer key.

    Raises:
        DataError: a filter is invalid (``check_filters``).
    """
    check_filters(frame, filters, tiers)
    keep = np.ones(len(frame), dtype=bool)
    stages = [s for s in filters.segments if s in LIFECYCLE_STAGES]
    behaviours = [s for s in filters.segments if s in BEHAVIOUR_SEGMENTS]
    if stages:
        keep &= frame["lifecycle_stage"].isin(stages).to_numpy(dtype=bool)
    if behaviours:
        keep &= frame["behaviour_segment"].isin(behaviours).to_numpy(dtype=bool)
    if filters.value_tiers:
        keep &= frame["value_tier"].isin(filters.value_tiers).to_numpy(dtype=bool)
    if filters.branches:
        keep &= frame["branch_id"].astype("string").isin(filters.branches).to_numpy(dtype=bool)
    if filters.min_value is not None:
        keep &= (frame["value"] >= filters.min_value).to_numpy(dtype=bool)
    out = frame[keep].copy()
    saved = out["expected_saved_value"].fillna(-np.inf)
    out = out.assign(_saved=saved).sort_values(
        ["_saved", "value_at_stake", "customer_key"],
        ascending=[False, False, True],
        kind="stable",
    )
    return out.drop(columns="_saved").reset_index(drop=True)


def explain(scorer: Scorer, keys: Sequence[int]) -> dict[int, list[str]]:
    """The top reasons in words of each listed customer (store keys), from the scorer's online
    read: one read, one TreeSHAP call for them all. A customer no longer current gets none."""
    if not keys:
        return {}
    rows = scorer.online.read(list(keys), scorer.config.request_time)
    scored = scorer.score_rows(rows, list(keys))
    return {int(k): [r.text for r in s.reasons] for k, s in zip(keys, scored, strict=True)}


class AtRiskItem(BaseModel):
    customer_id: int | str = Field(description="The bank's customer id.", examples=[1101709635517])
    branch_id: int | None = Field(description="Home branch.", examples=[12])
    value_tier: str = Field(
        description="mass, affluent, private (value.toml).", examples=["affluent"]
    )
    lifecycle_stage: str = Field(
        description="new, growing, mature, declining or dormant.", examples=["declining"]
    )
    behaviour_segment: str = Field(
        description="low_activity, digital, branch or mixed.", examples=["digital"]
    )
    segments_version: str | None = Field(
        default=None,
        description="The segments' definitions version (customer_segments' segments_version); "
        "null in scores made before it existed.",
        examples=["5d41402abc4b"],
    )
    churn_probability: float = Field(description="P(churn within 90 days).", examples=[0.31])
    risk_band: str = Field(description="low, medium, high (serving.toml).", examples=["high"])
    value: float = Field(
        description="Expected margin over the horizon, weighted by survival.", examples=[1840.5]
    )
    value_at_stake: float = Field(description="P(churn) x value.", examples=[570.6])
    reasons: list[str] = Field(
        description="The top reasons in words (TreeSHAP).",
        examples=[["Total balance down 74% over 3 months"]],
    )
    action: str | None = Field(
        description="The suggested retention action (null without an uplift champion, or when "
        "no action pays).",
        examples=["rm_call"],
    )
    expected_saved_value: float | None = Field(
        description="uplift x value - cost of the action.", examples=[85.2]
    )


class AtRiskResponse(BaseModel):
    as_of: str = Field(description="The scores' as-of date.", examples=["2024-12-31"])
    model: str = Field(description="The churn model that scored.", examples=["retain-churn v1"])
    total: int = Field(description="Customers that pass the filters.", examples=[230])
    offset: int = Field(description="Items skipped.", examples=[0])
    items: list[AtRiskItem]
    note: str | None = Field(
        description="Why no action is suggested, when none can be.", examples=[NO_UPLIFT]
    )


@dataclass
class AtRiskList:
    """A page of the list, explained."""

    scores: Scores
    total: int
    offset: int
    rows: pd.DataFrame
    reasons: dict[int, list[str]] = field(default_factory=dict)

    @property
    def note(self) -> str | None:
        return None if self.scores.has_uplift else NO_UPLIFT

    def items(self) -> list[AtRiskItem]:
        out = []
        for r in self.rows.to_dict("records"):
            saved = r["expected_saved_value"]
            out.append(
                AtRiskItem(
                    customer_id=r["customer_id"],
                    branch_id=None if pd.isna(r["branch_id"]) else int(r["branch_id"]),
                    value_tier=str(r["value_tier"]),
                    lifecycle_stage=str(r["lifecycle_stage"]),
                    behaviour_segment=str(r["behaviour_segment"]),
                    segments_version=_text(r.get("segments_version")),
                    churn_probability=round(float(r["churn_probability"]), 6),
                    risk_band=str(r["risk_band"]),
                    value=round(float(r["value"]), 2),
                    value_at_stake=round(float(r["value_at_stake"]), 2),
                    reasons=self.reasons.get(int(r["customer_key"]), []),
                    action=None if pd.isna(r["action"]) else str(r["action"]),
                    expected_saved_value=None if pd.isna(saved) else round(float(saved), 2),
                )
            )
        return out

    def response(self) -> AtRiskResponse:
        run = self.scores.run
        return AtRiskResponse(
            as_of=str(run.get("as_of")),
            model=f"{run.get('model_name')} v{run.get('model_version')}",
            total=self.total,
            offset=self.offset,
            items=self.items(),
            note=self.note,
        )

    def table(self) -> pd.DataFrame:
        """The page as a flat table (reasons joined by ``; ``), for CSV or Parquet."""
        rows = [i.model_dump() for i in self.items()]
        frame = pd.DataFrame(rows, columns=list(AtRiskItem.model_fields))
        frame["reasons"] = frame["reasons"].map(lambda rs: "; ".join(rs))
        return frame


def _text(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else str(value)


def at_risk_list(
    settings: Settings,
    scorer: Scorer,
    filters: Filters,
    limit: int,
    offset: int = 0,
    scores: Scores | None = None,
) -> AtRiskList:
    """The list's page ``[offset, offset + limit)``, with reasons for those customers only.

    Raises:
        NotReadyError: no scores yet. DataError: a filter is invalid, or there is nobody to list.
    """
    if limit < 1 or offset < 0:
        raise DataError(f"the list needs a size >= 1 and an offset >= 0, not {limit} and {offset}")
    scores = scores or latest_scores(settings)
    if scores.frame.empty:
        raise DataError(f"the scores at {scores.folder} are empty: run `retain score`")
    tiers = ValueConfig.load(settings).tiers
    selected = select(scores.frame, filters, tiers)
    page = selected.iloc[offset : offset + limit]
    reasons = explain(scorer, [int(k) for k in page["customer_key"]])
    return AtRiskList(scores, len(selected), offset, page, reasons)


at_risk_app = FastAPI(
    title="retain at-risk list",
    description="The latest at-risk list for retention teams, filtered and paged.",
)


@at_risk_app.exception_handler(RequestValidationError)
async def _invalid_query(_: Request, e: RequestValidationError) -> JSONResponse:
    """A malformed query parameter: 400 in the service's error shape, not FastAPI's 422."""
    error = e.errors()[0] if e.errors() else {}
    field_ = ".".join(str(p) for p in error.get("loc", ()) if p != "query") or None
    message = f"{field_}: {error.get('msg', 'invalid')}" if field_ else "invalid request"
    return JSONResponse({"error": message, "field": field_}, status_code=400)


def answer(
    settings: Settings, scorer: Scorer, filters: Filters, limit: int, offset: int
) -> AtRiskResponse:
    """``GET /at_risk``: the page, or the service's errors (no scores yet: 503; a bad filter:
    400)."""
    from serving.errors import InvalidRequestError, UnavailableError

    try:
        return at_risk_list(settings, scorer, filters, limit, offset).response()
    except NotReadyError as e:
        raise UnavailableError(str(e)) from e
    except DataError as e:
        raise InvalidRequestError(str(e)) from e
