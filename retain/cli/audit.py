"""Commands of the ``audit`` group: ``retain audit replay``, a logged decision decided again."""

from __future__ import annotations

from typing import Annotated

import typer

from retain.cli.common import console, load_settings
from retain.core.errors import DataError

audit_app = typer.Typer(
    help="The audit log: every answered request (who, when, which customers, models, features).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.add_typer(audit_app, name="audit")


@audit_app.command("replay")
def replay_decision(
    decision_id: Annotated[str, typer.Argument(help="The decision_id /recommend answered.")],
) -> None:
    """Decide again from a decision's logged inputs and compare with what was answered.

    Exits 0 when the replay gives the same actions and trace, 1 when it does not (what differs
    is printed). The scores are taken as logged: the rules are replayed, not the models.
    """
    from serving.actions import ActionCatalogue
    from serving.decision_log import DecisionLog, UnknownDecisionError
    from serving.replay import replay

    log = DecisionLog.open(load_settings())
    try:
        result = replay(log, decision_id, ActionCatalogue.load())
    except UnknownDecisionError as e:
        raise DataError(f"{e.args[0]}; copy the decision_id from a /recommend answer") from e
    finally:
        log.close()
    if result.same:
        console.print(f"decision {decision_id}: replayed to the same actions and trace")
        return
    console.print(f"[red]decision {decision_id}: the replay differs[/red]")
    for line in result.differences:
        console.print(f"  {line}")
    raise typer.Exit(1)
