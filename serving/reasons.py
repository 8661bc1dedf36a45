"""Reason codes: TreeSHAP contributions -> plain-language sentences from a catalogue of templates.

The contributions are LightGBM's own TreeSHAP (``Booster.predict(..., pred_contrib=True)``): one
number per feature in the booster's raw (log-odds) units plus the base value in the last column;
their sum is the raw score. A reason is a feature with a large contribution, written with the
catalogue's template for its value (``reasons.toml``, validated at load time).

A missing value is a reason only where the catalogue says what it means (a ``when = "missing"``
template: the contract gives the null a meaning, e.g. "null when the customer never logged in").
Any other missing value (a field the bank did not provide, a trend without enough history) says
nothing about the customer, so its contribution is passed over for the next largest one rather
than written as "App logins: missing" or read as a 0.

Everything here is pure: no model, no store, no server.
"""

from __future__ import annotations

import math
import operator
import string
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from retain.core.errors import ConfigError

DEFAULT_CATALOGUE = Path(__file__).with_name("reasons.toml")

Direction = Literal["up", "down"]

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}


def _number(v: Any) -> float | None:
    if v is None or isinstance(v, str):
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def _fmt_count(x: float) -> str:
    return f"{round(x):,}"


FORMATS: dict[str, Callable[[Any], str]] = {
    "count": lambda v: _fmt_count(float(v)),
    "money": lambda v: f"{float(v):,.0f}",
    "percent": lambda v: f"{float(v) * 100:,.0f}%",
    "number": lambda v: f"{float(v):,.1f}",
    "months": lambda v: _fmt_count(float(v)),
    "days": lambda v: _fmt_count(float(v)),
    "flag": lambda v: "yes" if v else "no",
    "text": lambda v: str(v).replace("_", " "),
}
"""How ``{value}`` is written for each ``format`` of the catalogue."""


@dataclass(frozen=True)
class Condition:
    """``missing``, ``present``, or a comparison of the (numeric) value with a number."""

    kind: Literal["any", "missing", "present", "compare"] = "any"
    op: str = ""
    bound: float = 0.0

    @classmethod
    def parse(cls, text: str | None, where: str) -> Condition:
        """Raises: ConfigError: the condition is not one of the forms above."""
        if text is None:
            return cls()
        t = text.strip()
        if t in ("missing", "present"):
            return cls(t)  # type: ignore[arg-type]
        for op in _OPS:  # two-character operators first
            if t.startswith(op):
                try:
                    return cls("compare", op, float(t[len(op) :]))
                except ValueError:
                    break
        raise ConfigError(
            f"{where}: condition {text!r} must be 'missing', 'present' or like '< 0', '== 1'"
        )

    def holds(self, value: Any) -> bool:
        missing = _missing(value)
        if self.kind == "any":
            return True
        if self.kind == "missing":
            return missing
        if self.kind == "present":
            return not missing
        x = _number(value)
        return x is not None and _OPS[self.op](x, self.bound)


@dataclass(frozen=True)
class Template:
    when: Condition
    direction: Direction | None
    text: str


@dataclass(frozen=True)
class FeatureTemplates:
    format: str
    texts: tuple[Template, ...]


@dataclass(frozen=True)
class Reason:
    """One reason: the sentence, the feature and its value, which way it pushes and how hard.

    ``weight`` is the feature's TreeSHAP contribution to the raw (log-odds) score.
    """

    text: str
    feature: str
    value: Any
    direction: Direction
    weight: float


_FIELDS = {"value", "abs"}


def _check_text(text: Any, where: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{where}: text must be a non-empty string")
    try:
        names = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
    except ValueError as e:
        raise ConfigError(f"{where}: text {text!r} is not a valid template: {e}") from e
    if names - _FIELDS:
        raise ConfigError(
            f"{where}: text {text!r} uses {sorted(names - _FIELDS)}; only {{value}} and {{abs}}"
        )
    return text


class ReasonCatalogue:
    """Templates by feature, plus descriptions for the generic sentence of other features."""

    def __init__(
        self, features: Mapping[str, FeatureTemplates], descriptions: Mapping[str, str]
    ) -> None:
        self.features = dict(features)
        self.descriptions = dict(descriptions)

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        descriptions: Mapping[str, str] | None = None,
        source: str = "reason catalogue",
    ) -> ReasonCatalogue:
        """Validate a catalogue's content (the TOML file as a dict).

        Raises:
            ConfigError: an unknown key or format, a bad condition or template.
        """
        unknown = set(data) - {"features"}
        if unknown:
            raise ConfigError(f"{source}: unknown top-level key(s) {sorted(unknown)}")
        entries = data.get("features", {})
        if not isinstance(entries, Mapping):
            raise ConfigError(f"{source}: [features] must be a table")
        features: dict[str, FeatureTemplates] = {}
        for name, entry in entries.items():
            where = f"{source} [features.{name}]"
            if not isinstance(entry, Mapping):
                raise ConfigError(f"{where}: must be a table")
            extra = set(entry) - {"format", "texts"}
            if extra:
                raise ConfigError(f"{where}: unknown key(s) {sorted(extra)}")
            fmt = entry.get("format", "number")
            if fmt not in FORMATS:
                raise ConfigError(f"{where}: format {fmt!r} is not one of {sorted(FORMATS)}")
            texts = entry.get("texts")
            if not isinstance(texts, list) or not texts:
                raise ConfigError(f"{where}: texts must be a non-empty list")
            templates = []
            for i, t in enumerate(texts):
                w = f"{where} texts[{i}]"
                if not isinstance(t, Mapping):
                    raise ConfigError(f"{w}: must be an inline table")
                extra = set(t) - {"when", "direction", "text"}
                if extra:
                    raise ConfigError(f"{w}: unknown key(s) {sorted(extra)}")
                direction = t.get("direction")
                if direction not in (None, "up", "down"):
                    raise ConfigError(f"{w}: direction must be 'up' or 'down'")
                templates.append(
                    Template(
                        Condition.parse(t.get("when"), w), direction, _check_text(t.get("text"), w)
                    )
                )
            features[str(name)] = FeatureTemplates(fmt, tuple(templates))
        return cls(features, descriptions or {})

    @classmethod
    def load(
        cls, path: Path = DEFAULT_CATALOGUE, descriptions: Mapping[str, str] | None = None
    ) -> ReasonCatalogue:
        """Read and validate a catalogue file.

        Raises:
            ConfigError: the file cannot be read or is invalid.
        """
        try:
            with path.open("rb") as f:
                data = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ConfigError(f"cannot read the reason catalogue {path}: {e}") from e
        return cls.from_dict(data, descriptions, str(path))

    def check_features(self, features: Sequence[str]) -> None:
        """Every catalogued feature is one of the model's.

        Raises:
            ConfigError: the catalogue names a feature the model does not have.
        """
        unknown = sorted(set(self.features) - set(features))
        if unknown:
            raise ConfigError(
                f"the reason catalogue names feature(s) the model does not use: {unknown}"
            )

    def sentence(
        self, feature: str, value: Any, direction: Direction, subject: str = "the risk"
    ) -> str:
        """The sentence for one feature's value and direction; ``subject`` is what the feature
        raises or lowers in the generic sentence of a feature without a template."""
        entry = self.features.get(feature)
        if entry is not None:
            for t in entry.texts:
                if (t.direction is None or t.direction == direction) and t.when.holds(value):
                    return _render(t.text, entry.format, value)
        return self._generic(feature, value, direction, subject)

    def explains_missing(self, feature: str, direction: Direction) -> bool:
        """Whether the sentence for a missing value of ``feature`` pushing ``direction`` is one
        of the catalogue's ``when = "missing"`` templates (which says what the null means)."""
        entry = self.features.get(feature)
        if entry is None:
            return False
        for t in entry.texts:
            if (t.direction is None or t.direction == direction) and t.when.holds(None):
                return t.when.kind == "missing"
        return False

    def _generic(self, feature: str, value: Any, direction: Direction, subject: str) -> str:
        label = self.descriptions.get(feature, feature.replace("_", " "))
        shown = "missing" if _missing(value) else _auto(value)
        way = "raises" if direction == "up" else "lowers"
        return f"{label}: {shown} ({way} {subject})"


def _missing(value: Any) -> bool:
    """None or NaN (a Python or numpy float)."""
    return value is None or (isinstance(value, float | np.floating) and math.isnan(value))


def _auto(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return str(value).replace("_", " ")


def _render(text: str, fmt: str, value: Any) -> str:
    if _missing(value):
        return text.format(value="missing", abs="missing")
    write = FORMATS[fmt]
    x = _number(value)
    try:
        shown = write(value)
        absolute = write(abs(x)) if x is not None and fmt not in ("flag", "text") else shown
    except (TypeError, ValueError):
        shown = absolute = _auto(value)
    return text.format(value=shown, abs=absolute)


def top_reasons(
    contributions: NDArray[np.float64],
    values: Mapping[str, Any],
    features: Sequence[str],
    catalogue: ReasonCatalogue,
    k: int,
    subject: str = "the risk",
) -> list[Reason]:
    """The ``k`` features with the largest contributions (by size), as reasons.

    Args:
        contributions: one customer's contributions, one per feature (the base value may follow
            as an extra last element; it is ignored).
        values: the customer's feature values by name.
        features: the model's features, in the contributions' order.
        catalogue: the templates.
        k: how many reasons.
        subject: what the model scores, for generic sentences ("the risk", "the chance").

    Returns:
        Reasons, largest contribution first; features contributing exactly 0 are left out, and so
        are features whose value is missing unless the catalogue says what a missing value means
        (``ReasonCatalogue.explains_missing``): the next largest contribution takes their place.
    """
    c = np.asarray(contributions, dtype=np.float64)[: len(features)]
    if k <= 0 or not len(c):
        return []
    order = np.argsort(-np.abs(c), kind="stable")
    reasons: list[Reason] = []
    for j in order:
        weight = float(c[j])
        if weight == 0.0 or len(reasons) == k:
            break
        name = features[j]
        value = values.get(name)
        direction: Direction = "up" if weight > 0 else "down"
        if _missing(value) and not catalogue.explains_missing(name, direction):
            continue
        reasons.append(
            Reason(
                text=catalogue.sentence(name, value, direction, subject),
                feature=name,
                value=None if _missing(value) else value,
                direction=direction,
                weight=round(weight, 6),
            )
        )
    return reasons
