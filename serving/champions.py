"""Which model versions a running service answers with, against what the registry's champion
aliases say: what decides a live swap, and what ``/models`` and ``/metrics`` report."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from retain.core.settings import Settings
from serving.config import ServingConfig
from training.config import MODEL_NAMES
from training.registry import CHAMPION, version_by_alias


@dataclass(frozen=True)
class ModelState:
    name: str
    served: str | None
    registered: str | None

    @property
    def current(self) -> bool:
        return self.served == self.registered


def registered_versions(settings: Settings, config: ServingConfig) -> dict[str, str | None]:
    """The version each served model's alias points at now (None: no such alias)."""
    aliases = {
        config.model_name: config.model_alias,
        MODEL_NAMES["propensity"]: CHAMPION,
        MODEL_NAMES["uplift"]: CHAMPION,
    }
    found = {name: version_by_alias(settings, name, alias) for name, alias in aliases.items()}
    return {name: str(mv.version) if mv is not None else None for name, mv in found.items()}


def model_states(
    served: Mapping[str, str], registered: Mapping[str, str | None]
) -> list[ModelState]:
    names = sorted(set(served) | set(registered))
    return [ModelState(n, served.get(n), registered.get(n)) for n in names]


def needs_swap(states: list[ModelState]) -> bool:
    """A model's alias points at a version other than the served one. An alias that was removed
    is reported (not current) but swaps nothing: there is nothing to load in its place."""
    return any(s.registered is not None and not s.current for s in states)
