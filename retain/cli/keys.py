"""Commands of the ``keys`` group: ``retain keys add|revoke|list``, the service's API keys."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from retain.cli.common import console, load_settings

if TYPE_CHECKING:
    from serving.keys import KeyStore

keys_app = typer.Typer(
    help="API keys of the service: who may ask what. Changes reach running services in seconds.",
    no_args_is_help=True,
)
out = Console()
"""Results go to stdout; messages to stderr."""


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.add_typer(keys_app, name="keys")


def _store() -> KeyStore:
    from serving.decision_log import DecisionLog
    from serving.keys import KeyStore

    settings = load_settings()
    return KeyStore(DecisionLog.open(settings).engine, settings.project)


@keys_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Who holds the key, e.g. crm or retention-app.")],
    scopes: Annotated[
        str,
        typer.Option(help="Comma-separated: score, recommend, feedback, customers."),
    ] = "score,recommend,feedback",
) -> None:
    """Create a key and print its secret once (it is stored only as a digest).

    The first key switches keys on: from then on every data endpoint needs one.
    """
    from serving.keys import parse_scopes

    chosen = parse_scopes(scopes)
    store = _store()
    first = not store.keys()
    secret = store.add(name, chosen)
    print(secret)
    console.print(
        f"key {name!r} added with scope(s) {', '.join(sorted(chosen))}: give the line above to its "
        "holder (Authorization: Bearer <key>); it cannot be shown again"
    )
    if first:
        console.print("this is the first key: every data endpoint now needs one")


@keys_app.command("revoke")
def revoke(name: Annotated[str, typer.Argument(help="The key to revoke.")]) -> None:
    """Revoke a key: running services refuse it within seconds."""
    _store().revoke(name)
    console.print(f"key {name!r} revoked")


@keys_app.command("list")
def list_keys() -> None:
    """The project's keys (names, scopes, dates; never the secrets)."""
    keys = _store().keys()
    if not keys:
        console.print("no keys: the service answers anyone who reaches it (`retain keys add`)")
        return
    table = Table("name", "scopes", "created", "revoked")
    for k in keys:
        revoked = f"{k.revoked_at:%Y-%m-%d %H:%M}Z" if k.revoked_at else ""
        table.add_row(
            k.name, ",".join(sorted(k.scopes)), f"{k.created_at:%Y-%m-%d %H:%M}Z", revoked
        )
    out.print(table)
