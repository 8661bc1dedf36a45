"""The promotion gate as a pure function: figures in, a decision with its reasons out."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from training.config import GateConfig

GATED_SLICES: tuple[str, ...] = ("value_tier", "age_band")


@dataclass(frozen=True)
class Check:
    """One condition of the gate and the figures it rested on."""

    name: str
    passed: bool
    value: float
    limit: float
    detail: str


@dataclass(frozen=True)
class Evaluation:
    """A model's figures on the promotion window.

    Attributes:
        roc_auc, ece: on the whole window.
        slices: slice name (``value_tier``, ``age_band``) -> group -> AUC (NaN if too small).
    """

    roc_auc: float
    ece: float
    slices: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    promote: bool
    checks: tuple[Check, ...]

    @property
    def reason(self) -> str:
        """One line: the failed checks' details, or that all passed."""
        failed = [c.detail for c in self.checks if not c.passed]
        return "; ".join(failed) if failed else "passed every check of the gate"

    def tags(self, prefix: str = "gate") -> dict[str, str]:
        """The outcome and figures as MLflow tag key/values."""
        out = {
            f"{prefix}.outcome": "promoted" if self.promote else "refused",
            f"{prefix}.reason": self.reason,
        }
        for c in self.checks:
            out[f"{prefix}.{c.name}"] = (
                f"{'pass' if c.passed else 'fail'} {c.value:.4f} (limit {c.limit:.4f})"
            )
        return out


def decide(
    challenger: Evaluation,
    champion: Evaluation | None,
    baselines: dict[str, float],
    gate: GateConfig,
) -> Decision:
    """Whether ``challenger`` may replace ``champion`` (or become the first champion).

    The challenger must beat every baseline's AUC. Against a champion it must also keep its AUC
    within ``gate.max_auc_drop``, have ECE at most ``gate.max_ece`` and lose no more than
    ``gate.max_slice_auc_drop`` AUC in any value-tier or age-band slice.

    Args:
        challenger, champion: figures of both models on the same window (no champion: None).
        baselines: baseline name -> AUC on that window.
        gate: thresholds.
    """
    checks: list[Check] = []
    auc = challenger.roc_auc
    for name, base_auc in sorted(baselines.items()):
        ok = _gt(auc, base_auc)
        checks.append(
            Check(
                f"beats_{name}",
                ok,
                auc,
                base_auc,
                f"AUC {auc:.4f} does not beat the {name} baseline's {base_auc:.4f}",
            )
        )
    if champion is not None:
        floor = champion.roc_auc - gate.max_auc_drop
        checks.append(
            Check(
                "auc_vs_champion",
                _ge(auc, floor),
                auc,
                floor,
                f"AUC {auc:.4f} is below the champion's {champion.roc_auc:.4f} "
                f"minus {gate.max_auc_drop}",
            )
        )
        checks.append(
            Check(
                "ece",
                _le(challenger.ece, gate.max_ece),
                challenger.ece,
                gate.max_ece,
                f"ECE {challenger.ece:.4f} is above {gate.max_ece}",
            )
        )
        worst, where = _worst_slice_drop(challenger, champion)
        checks.append(
            Check(
                "slice_auc_drop",
                worst <= gate.max_slice_auc_drop,
                worst,
                gate.max_slice_auc_drop,
                f"slice {where} loses {worst:.4f} AUC (more than {gate.max_slice_auc_drop})",
            )
        )
    return Decision(all(c.passed for c in checks), tuple(checks))


def _gt(a: float, b: float) -> bool:
    return not math.isnan(a) and (math.isnan(b) or a > b)


def _ge(a: float, b: float) -> bool:
    return not math.isnan(a) and (math.isnan(b) or a >= b)


def _le(a: float, b: float) -> bool:
    return not math.isnan(a) and a <= b


def _worst_slice_drop(challenger: Evaluation, champion: Evaluation) -> tuple[float, str]:
    """The largest AUC loss (champion - challenger) over the gated slices' groups."""
    worst, where = 0.0, "none"
    for name in GATED_SLICES:
        for group, champ_auc in champion.slices.get(name, {}).items():
            chall_auc = challenger.slices.get(name, {}).get(group, math.nan)
            if math.isnan(champ_auc) or math.isnan(chall_auc):
                continue
            if champ_auc - chall_auc > worst:
                worst, where = champ_auc - chall_auc, f"{name}={group}"
    return worst, where


def evaluation_from(metrics: dict[str, Any]) -> Evaluation:
    """Build an Evaluation from ``{"roc_auc", "ece", "slices"}``."""
    return Evaluation(float(metrics["roc_auc"]), float(metrics["ece"]), metrics.get("slices", {}))


def decide_headline(
    metric: str,
    challenger: float,
    champion: float | None,
    floor: float,
    tolerance: float,
) -> Decision:
    """The gate of a model judged by one headline metric (propensity's macro AUC, uplift's Qini).

    The challenger's value must be above ``floor`` (chance level) and, against a champion, at
    least the champion's value minus ``tolerance``. Both values come from each model's own
    training run, so they are compared on the test windows of their own data.
    """
    checks = [
        Check(
            f"{metric}_above_floor",
            _gt(challenger, floor) and not math.isnan(floor),
            challenger,
            floor,
            f"{metric} {challenger:.4f} is not above {floor}",
        )
    ]
    if champion is not None:
        limit = champion - tolerance
        checks.append(
            Check(
                f"{metric}_vs_champion",
                _ge(challenger, limit),
                challenger,
                limit,
                f"{metric} {challenger:.4f} is below the champion's {champion:.4f} "
                f"minus {tolerance}",
            )
        )
    return Decision(all(c.passed for c in checks), tuple(checks))


UPLIFT_METRICS: tuple[str, ...] = ("qini", "auuc")
"""The uplift figures gated against random rankings of the same test window."""


def decide_uplift(
    figures: dict[str, float],
    champion: float | None,
    tolerance: float,
    quantile_tag: str = "p95",
) -> Decision:
    """The uplift model's gate: its headline Qini coefficient and AUUC must each beat the
    ``quantile_tag`` percentile of random rankings of the same test window
    (``random_test_<metric>_p95_mean``, from ``training.uplift.metrics.random_metrics``), not
    merely zero: on a few hundred contacts per action, random rankings spread widely around
    zero. Against a champion the Qini must also stay within ``tolerance`` of the champion's.

    The headline's comparison is ``training.uplift.protocol.GATE`` (offers against the holdouts
    assigned the same offer, in the experiment's and the rules' audiences), chosen because it is
    the one whose test tells the simulator's true effects from random rankings (power) while
    random rankings pass about 5% of the time (size); see that module for the rule.

    Args:
        figures: the challenger's run metrics (``test_qini_mean``, ``random_test_qini_p95_mean``,
            ...); a missing figure fails its check.
        champion: the champion's ``test_qini_mean`` (None: no champion).
        tolerance: most Qini lost to the champion.
    """
    checks = []
    for metric in UPLIFT_METRICS:
        value = float(figures.get(f"test_{metric}_mean", math.nan))
        floor = float(figures.get(f"random_test_{metric}_{quantile_tag}_mean", math.nan))
        checks.append(
            Check(
                f"{metric}_above_random",
                _gt(value, floor) and not math.isnan(floor),
                value,
                floor,
                f"test {metric} {value:.4f} is not above the {quantile_tag} of random rankings "
                f"of the same window ({floor:.4f})",
            )
        )
    if champion is not None:
        value = float(figures.get("test_qini_mean", math.nan))
        limit = champion - tolerance
        checks.append(
            Check(
                "qini_vs_champion",
                _ge(value, limit),
                value,
                limit,
                f"test qini {value:.4f} is below the champion's {champion:.4f} minus {tolerance}",
            )
        )
    return Decision(all(c.passed for c in checks), tuple(checks))
