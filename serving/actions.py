"""The action catalogue: what retain may offer, to whom, on which channel, at what value and cost.

The catalogue is a versioned data file (``actions.yaml``), validated when it is loaded; a bad one is
refused with a ``ConfigError`` whose one-line message names the entry and the field. It holds:

- ``version``: recorded with every decision, so a decision can be replayed against its rules;
- ``contact_policy``: per channel, at most ``per_week`` contacts in any 7 days and ``per_month``
  in any 30 days; ``repeat_days`` (no action twice within this many days, whatever the answer) and
  ``accepted_days`` (no action again this long after the customer took it: the monthly feature
  snapshot may not show the new product yet);
- ``actions``: one entry per action (see ``Action``), ``no_action`` among them.

Everything here is pure: no model, no store, no server.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from features.schema import VIEW_FEATURES
from retain.core.errors import ConfigError
from retain.core.tables import CHANNELS, PRODUCTS

DEFAULT_CATALOGUE = Path(__file__).with_name("actions.yaml")

NO_ACTION = "no_action"
"""The id of "do nothing": the baseline every action must beat (its expected value is 0)."""

Kind = Literal["cross_sell", "retention", "service", "none"]
KINDS: tuple[str, ...] = ("cross_sell", "retention", "service", "none")
Op = Literal["==", "!=", "<", "<=", ">", ">=", "in"]
Scalar = bool | int | float | str

ON_DEMAND_FEATURES: frozenset[str] = frozenset({"tenure_days", "days_since_login_now"})
"""Request-time features of the on-demand view (``features.definitions``, which imports Feast)."""

KNOWN_FEATURES: frozenset[str] = frozenset(
    {name for fields in VIEW_FEATURES.values() for name, _, _ in fields} | ON_DEMAND_FEATURES
)
"""Feature names an eligibility condition may use."""

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class Condition(BaseModel):
    """``feature op value``; every condition of an action must hold for it to be eligible.

    A missing feature value (absent, None or NaN) never satisfies a condition: an action whose
    rule cannot be checked is not offered.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    feature: str
    op: Op
    value: Scalar | list[Scalar]

    @field_validator("feature")
    @classmethod
    def _known_feature(cls, v: str) -> str:
        if v not in KNOWN_FEATURES:
            raise ValueError(f"unknown feature {v!r}; not in the feature repo")
        return v

    @model_validator(mode="after")
    def _value_fits_op(self) -> Condition:
        if self.op == "in":
            if not isinstance(self.value, list) or not self.value:
                raise ValueError(f"{self.feature} in: value must be a non-empty list")
        elif isinstance(self.value, list):
            raise ValueError(f"{self.feature} {self.op}: value must be a single value, not a list")
        elif self.op not in ("==", "!=") and not _is_number(self.value):
            raise ValueError(f"{self.feature} {self.op}: value must be a number")
        return self

    def holds(self, customer: Mapping[str, Any]) -> bool:
        """Whether the customer's value of the feature satisfies the condition."""
        x = customer.get(self.feature)
        if _missing(x):
            return False
        if self.op == "in":
            assert isinstance(self.value, list)
            return x in self.value
        if self.op not in ("==", "!=") and not _is_number(x):
            return False  # a string compared with a number: the rule cannot be checked
        try:
            return bool(_COMPARE[self.op](x, self.value))
        except TypeError:
            return False

    def __str__(self) -> str:
        return f"{self.feature} {self.op} {self.value!r}"


class Action(BaseModel):
    """One entry of the catalogue.

    ``value`` is, for a cross-sell, the product's margin or lifetime-value contribution; for a
    service action, the value of doing it (a cautious estimate of the margin kept by fixing the
    customer's problem); for retention and ``no_action``, 0: the value a retention action saves
    is the customer's own value, supplied with the model scores. ``cost`` is the cost of one
    contact with the offer (incentive and handling). ``risk_level`` (1..5) is compared with the
    customer's ``risk_tolerance`` (R1..R5 as 1..5). ``cooldown_days`` runs after a decline;
    ``max_per_month`` caps how often the action reaches one customer in any 30 days.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    kind: Kind
    product: str | None
    description: str = ""
    channels: tuple[str, ...]
    value: float = Field(ge=0, allow_inf_nan=False)
    cost: float = Field(ge=0, allow_inf_nan=False)
    eligibility: tuple[Condition, ...] = ()
    risk_level: int = Field(ge=1, le=5)
    needs_consent: bool
    cooldown_days: int = Field(ge=0)
    max_per_month: int = Field(ge=1)

    @field_validator("product")
    @classmethod
    def _known_product(cls, v: str | None) -> str | None:
        if v is not None and v not in PRODUCTS:
            raise ValueError(f"unknown product {v!r}; expected one of {list(PRODUCTS)}")
        return v

    @field_validator("channels")
    @classmethod
    def _known_channels(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [c for c in v if c not in CHANNELS]
        if unknown:
            raise ValueError(f"unknown channel(s) {unknown}; expected some of {list(CHANNELS)}")
        if len(set(v)) != len(v):
            raise ValueError("a channel is listed twice")
        return v

    @model_validator(mode="after")
    def _kind_rules(self) -> Action:
        if (self.kind == "none") != (self.id == NO_ACTION):
            raise ValueError(f"kind: 'none' is for {NO_ACTION!r} and only for it")
        if self.kind == "cross_sell":
            if self.product is None:
                raise ValueError("product: a cross-sell action needs a product")
            if self.id != f"xsell_{self.product}":
                raise ValueError(
                    f"id: a cross-sell of {self.product} must be 'xsell_{self.product}'"
                )
        if self.kind in ("retention", "none") and self.value != 0:
            raise ValueError(f"value: must be 0 for kind {self.kind!r}")
        if self.kind == "none" and self.cost != 0:
            raise ValueError(f"cost: must be 0 for {NO_ACTION}")
        if self.kind == "none" and self.eligibility:
            raise ValueError(f"eligibility: {NO_ACTION} has no conditions")
        if self.kind != "none" and not self.channels:
            raise ValueError("channels: at least one channel")
        return self


class ContactPolicy(BaseModel):
    """Contact limits across all actions; see the module docstring."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    per_week: dict[str, int]
    per_month: dict[str, int]
    repeat_days: int = Field(ge=0)
    accepted_days: int = Field(ge=0)

    @field_validator("per_week", "per_month")
    @classmethod
    def _every_channel(cls, v: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(v) - set(CHANNELS))
        if unknown:
            raise ValueError(f"unknown channel(s) {unknown}; expected {list(CHANNELS)}")
        absent = [c for c in CHANNELS if c not in v]
        if absent:
            raise ValueError(f"no limit for channel(s) {absent}")
        negative = [c for c, n in v.items() if n < 0]
        if negative:
            raise ValueError(f"negative limit for channel(s) {negative}")
        return v

    @model_validator(mode="after")
    def _week_within_month(self) -> ContactPolicy:
        over = [c for c in CHANNELS if self.per_week[c] > self.per_month[c]]
        if over:
            raise ValueError(f"per_week: exceeds per_month for channel(s) {over}")
        return self


@dataclass(frozen=True)
class ActionCatalogue:
    """A validated catalogue; ``actions`` keeps the file's order (the trace follows it)."""

    version: str
    policy: ContactPolicy
    actions: tuple[Action, ...]

    _by_id: dict[str, Action] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {a.id: a for a in self.actions})

    def __getitem__(self, action_id: str) -> Action:
        return self._by_id[action_id]

    def __contains__(self, action_id: object) -> bool:
        return action_id in self._by_id

    @classmethod
    def from_dict(cls, data: Any, source: str = "action catalogue") -> ActionCatalogue:
        """Validate a catalogue's content (the YAML file as a dict).

        Raises:
            ConfigError: one line naming the entry and the field that is wrong.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: must be a mapping with version, contact_policy, actions")
        unknown = sorted(set(data) - {"version", "contact_policy", "actions"})
        if unknown:
            raise ConfigError(f"{source}: unknown top-level key(s) {unknown}")
        version = data.get("version")
        if not isinstance(version, str | int) or isinstance(version, bool) or not str(version):
            raise ConfigError(f"{source} field 'version': a non-empty version string is required")
        if "contact_policy" not in data:
            raise ConfigError(f"{source} field 'contact_policy': missing")
        try:
            policy = ContactPolicy.model_validate(data["contact_policy"])
        except ValidationError as e:
            raise ConfigError(f"{source} contact_policy {_first_error(e)}") from None
        entries = data.get("actions")
        if not isinstance(entries, list) or not entries:
            raise ConfigError(f"{source} field 'actions': must be a non-empty list")
        actions: list[Action] = []
        seen: dict[str, int] = {}
        for i, entry in enumerate(entries):
            name = entry.get("id") if isinstance(entry, Mapping) else None
            where = f"{source} action {name!r} (entry {i})" if name else f"{source} entry {i}"
            try:
                action = Action.model_validate(entry)
            except ValidationError as e:
                raise ConfigError(f"{where} {_first_error(e)}") from None
            if action.id in seen:
                raise ConfigError(f"{where} field 'id': duplicate id, also entry {seen[action.id]}")
            seen[action.id] = i
            actions.append(action)
        if NO_ACTION not in seen:
            raise ConfigError(f"{source} action {NO_ACTION!r} field 'id': missing; it is required")
        return cls(str(version), policy, tuple(actions))

    @classmethod
    def load(cls, path: Path = DEFAULT_CATALOGUE) -> ActionCatalogue:
        """Read and validate a catalogue file.

        Raises:
            ConfigError: the file cannot be read, is not YAML, or is invalid.
        """
        try:
            with path.open("rb") as f:
                data = yaml.safe_load(f)
        except (OSError, yaml.YAMLError) as e:
            detail = " ".join(str(e).split())
            raise ConfigError(f"cannot read the action catalogue {path}: {detail}") from e
        return cls.from_dict(data, str(path))

    def ids(self) -> Sequence[str]:
        """Action ids in catalogue order."""
        return [a.id for a in self.actions]


def _first_error(e: ValidationError) -> str:
    """``field 'x': message`` for the first error, on one line."""
    err = e.errors()[0]
    loc = [str(p) for p in err["loc"]]
    msg = str(err["msg"]).removeprefix("Value error, ")
    name = loc[0] if loc else ""
    if name in ("eligibility", "channels") and len(loc) > 1:
        name = f"{name}[{loc[1]}]" + (f".{loc[2]}" if len(loc) > 2 else "")
    elif not name:
        # A whole-entry rule: its message starts with the field it is about.
        head, sep, rest = msg.partition(": ")
        if sep and (head in Action.model_fields or head in ContactPolicy.model_fields):
            name, msg = head, rest
        else:
            name = "*"
    msg = " ".join(msg.split())
    return f"field {name!r}: {msg}"
