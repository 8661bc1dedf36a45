"""``retain cycle``: one month of the bank's life, for a scheduler: new data in, features built
and materialized, the base scored, the monitor run, and where drift or decay alerts, a churn
challenger trained and put through the gate (``monitoring.cycle`` decides; this module supplies
the steps).

New data: a bank's own files through ``--mapping`` (``retain ingest``: the mapping points at the
bank's tables with the new month in them); a simulated bank, the next month of its world
(``simulator.replay``). The first cycle of a simulated bank simulates its whole life over its
months and ``--ahead`` more with its seed (and any ``--drift``): the simulator draws a
customer's whole life at once, so the bank's past months are drawn again, then revealed a month
at a time.

Exit status: 0 nothing to do, or a challenger promoted; 2 bad input or a missing prerequisite
(one line, nothing changed); 3 drift or decay alerted and the gate refused the challenger; 4 a
data or pipeline alert (quality, freshness, skew): nothing retrained. Fairness findings never
set it (``monitoring.cycle``). With ``--months N`` the most severe of the months.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from retain.cli.common import console, load_settings, progress_bar, quiet_mlflow
from retain.core.errors import ConfigError, NotReadyError
from retain.core.settings import Settings

if TYPE_CHECKING:
    from monitoring.cycle import CycleResult, GateOutcome, MonitorOutcome

out = Console()
"""Results go to stdout; progress and messages to stderr."""

AHEAD = 12
"""Months a simulated bank's world reaches beyond the bank's end, by default."""


def register(app: typer.Typer) -> None:
    """Add this module's command to ``app``."""
    app.command("cycle")(cycle)


@dataclass(frozen=True)
class Plan:
    """What a cycle will do, checked before anything changes."""

    mapping: Path | None
    drift: tuple[str, ...]
    ahead: int
    seed: int
    mlflow: bool


def check_plan(settings: Settings, plan: Plan) -> None:
    """Refuse bad input before any step runs.

    Raises:
        ConfigError: a bad option, or no source of new data.
        NotReadyError: no churn champion to monitor, or no feature store.
    """
    from simulator import Drift
    from simulator.replay import read_replay
    from simulator.run import read_manifest

    if plan.ahead < 1:
        raise ConfigError(f"--ahead must be at least 1 month, got {plan.ahead}")
    for d in plan.drift:
        Drift.parse(d)
    if plan.mapping is not None:
        if plan.drift:
            raise ConfigError("--drift applies to a simulated bank, not with --mapping")
        if not plan.mapping.is_file():
            raise ConfigError(f"--mapping {plan.mapping}: no such file")
    else:
        replay = read_replay(settings)
        if replay is None and read_manifest(settings) is None:
            raise ConfigError(
                f"no new data: {settings.home} holds no simulated bank; for a bank's own data "
                "pass --mapping FILE (its tables with the new month)"
            )
        if replay is not None and replay.next_month is None:
            raise ConfigError(
                f"the simulated world of this bank ends at {replay.last} and every month is "
                f"revealed: remove {settings.home / 'world'} and run again for a new one"
            )
        if replay is not None and plan.drift:
            raise ConfigError(
                f"--drift: the simulated world of this bank is drawn already ({replay.first}.."
                f"{replay.last}); a drift is chosen on a bank's first cycle"
            )
    _require_champion(settings)
    if not (settings.feast_dir / "feature_store.yaml").exists():
        raise NotReadyError("no feature store: run `retain features build` and `features apply`")


def _require_champion(settings: Settings) -> None:
    from monitoring.monitor import require_tracking_store

    require_tracking_store(settings)
    quiet_mlflow(feast=True)
    from training.config import MODEL_NAMES
    from training.registry import CHAMPION, version_by_alias

    if version_by_alias(settings, MODEL_NAMES["churn"], CHAMPION) is None:
        raise NotReadyError(
            "no retain-churn@champion to monitor: run `retain train churn` and "
            "`retain promote churn`"
        )


class _Month:
    """The steps of one month on the bank under ``settings``."""

    def __init__(self, settings: Settings, plan: Plan) -> None:
        self.settings = settings
        self.plan = plan
        self.full = False  # materialize everything: the past was (re)written

    def new_data(self) -> str:
        if self.plan.mapping is not None:
            from retain.cli.ingest import ingest

            ingest(self.plan.mapping)
            self.full = True  # a bank's export may correct past months
            return f"ingested the bank's tables through {self.plan.mapping}"
        from simulator.replay import advance, read_replay

        note = ""
        if read_replay(self.settings) is None:
            note = self._create_world() + "; "
            self.full = True
        replay, month = advance(self.settings)
        return f"{note}revealed {month} of the simulated world {replay.first}..{replay.last}"

    def _create_world(self) -> str:
        from simulator import Drift, WorldConfig
        from simulator.replay import create_world
        from simulator.run import read_manifest

        bank = read_manifest(self.settings)
        assert bank is not None  # check_plan
        drift = [*bank.drift, *self.plan.drift]
        config = WorldConfig(
            customers=bank.customers,
            months=bank.months + self.plan.ahead,
            start=bank.start,
            seed=bank.seed,
            chunk_size=bank.chunk_size,
            drift=tuple(Drift.parse(d) for d in drift),
        )
        with console.status(f"simulating the bank's life to {config.last_month}"):
            create_world(self.settings, config, bank.end)
        shown = ", ".join(drift) or "no drift"
        return (
            f"simulated the bank's life {config.first_month}..{config.last_month} ({shown}) "
            f"with seed {bank.seed}; its {bank.months} past months are drawn anew"
        )

    def features(self) -> str:
        from features.build import build_sources, check_raw_tables
        from features.materialize import materialize

        check_raw_tables(self.settings)
        with progress_bar("building feature sources (parts)") as progress:
            built = build_sources(self.settings, progress)
        with progress_bar("materializing feature views") as progress:
            done = materialize(self.settings, progress, full=self.full)
        self.full = False
        return (
            f"{built.customers:,} customers, {built.monthly_rows:,} monthly rows up to "
            f"{built.latest_month_end:%Y-%m-%d}; online store up to {done.end:%Y-%m-%d}"
        )

    def score(self) -> str:
        from serving.batch import score_base

        with progress_bar("scoring customers") as progress:
            run = score_base(self.settings, None, progress)
        return (
            f"{run.customers:,} customers at {run.as_of} with {run.model_name} "
            f"v{run.model_version} -> {run.path}"
        )

    def monitor(self) -> MonitorOutcome:
        from monitoring.config import MonitoringConfig
        from monitoring.cycle import MonitorOutcome
        from monitoring.monitor import STEPS, run_monitor
        from monitoring.report import log_to_mlflow, write_report
        from monitoring.windows import available_months, month_period

        config = MonitoringConfig.load(self.settings)
        if self.plan.mapping is None:
            from simulator.replay import BURN_IN_MONTHS

            # A simulated bank settles first: its reference starts after the burn-in too.
            warm = config.warmup_months + BURN_IN_MONTHS
            config = replace(config, warmup_months=warm)
        month = month_period(available_months(self.settings)[-1])
        with progress_bar("monitoring retain-churn", STEPS) as progress:
            result = run_monitor(self.settings, config, None, f"{month}..{month}", progress)
        path = write_report(self.settings, result)
        if self.plan.mlflow:
            log_to_mlflow(self.settings, result, path.parent)
        s = result.summary
        for a in result.alerts:
            if a["status"] == "alert":
                out.print(
                    f"  alert  {a['kind']}: {a['subject']}: {a['detail']}",
                    markup=False,
                    highlight=False,
                    soft_wrap=True,
                )
        return MonitorOutcome(
            result.alerts,
            f"{result.model['name']} v{result.model['version']}, {result.reference} against "
            f"{result.current}: status {s['status']}, {s['alerts']} alert and {s['warnings']} "
            f"warning line(s); report {path}",
        )

    def train(self) -> str:
        from retain.cli.models import train
        from training.config import MODEL_NAMES
        from training.registry import version_by_alias

        train("churn", seed=self.plan.seed)
        v = version_by_alias(self.settings, MODEL_NAMES["churn"], "challenger")
        return f"challenger v{v.version if v is not None else '?'} trained"

    def gate(self) -> GateOutcome:
        from monitoring.cycle import GateOutcome
        from retain.cli.models import promote
        from training.promote import PromotionRefused

        try:
            promote("churn")
        except PromotionRefused as e:
            return GateOutcome(False, str(e))
        return GateOutcome(True, "the challenger passed the gate and is the champion")


def run_month(settings: Settings, plan: Plan) -> CycleResult:
    """One month on the bank under ``settings``, each step's outcome printed as it ends."""
    from monitoring.cycle import CycleSteps, run_cycle

    month = _Month(settings, plan)
    steps = CycleSteps(
        new_data=month.new_data,
        features=month.features,
        score=month.score,
        monitor=month.monitor,
        train=month.train,
        gate=month.gate,
        rescore=month.score,
    )

    def show(step: str, outcome: str) -> None:
        out.print(f"[bold]{step}[/bold]: {outcome}", soft_wrap=True, highlight=False)

    return run_cycle(steps, show)


def cycle(
    mapping: Annotated[
        Path | None,
        typer.Option(
            help="A bank's own data: the ingest mapping whose tables hold the new month "
            "(default: the next month of the simulated bank)."
        ),
    ] = None,
    months: Annotated[int, typer.Option(help="Months to run, one cycle each.")] = 1,
    drift: Annotated[
        list[str] | None,
        typer.Option(
            help="Simulated bank, first cycle only: a drift scenario of its world, "
            "SCENARIO@YYYY-MM (repeatable): rate_war, mobile_shift, fee_change."
        ),
    ] = None,
    ahead: Annotated[
        int,
        typer.Option(
            help="Simulated bank, first cycle only: months its world reaches beyond its end."
        ),
    ] = AHEAD,
    seed: Annotated[int, typer.Option(help="Seed of the challenger's training.")] = 7,
    mlflow: Annotated[
        bool, typer.Option(help="Log the monitor's figures to MLflow (retain-monitoring).")
    ] = True,
) -> None:
    """Run one month of the bank's life: new data, features, scores, the monitor, and a
    challenger trained and gated when drift or decay alerts. Exit status: 0 nothing to do or
    promoted; 2 bad input; 3 the gate refused the challenger; 4 a data or pipeline alert."""
    from monitoring.cycle import CycleExit

    if months < 1:
        raise ConfigError(f"--months must be at least 1, got {months}")
    if mapping is not None and months > 1:
        raise ConfigError("--months applies to a simulated bank; a bank's own data is one month")
    settings = load_settings()
    plan = Plan(mapping, tuple(drift or ()), ahead, seed, mlflow)
    check_plan(settings, plan)
    worst = CycleExit.OK
    for i in range(months):
        if months > 1:
            console.rule(f"[bold]month {i + 1} of {months}")
        result = run_month(settings, plan)
        out.print(
            f"[bold]outcome[/bold]: {result.verdict} (exit {int(result.exit)})",
            soft_wrap=True,
            highlight=False,
        )
        worst = max(worst, result.exit)
        plan = Plan(mapping, (), ahead, seed, mlflow)  # the world is drawn
    if worst != CycleExit.OK:
        raise typer.Exit(int(worst))
