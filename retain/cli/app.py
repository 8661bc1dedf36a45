"""The ``retain`` command line: one command per job. It sits on top; nothing imports it.

Heavy libraries (Feast, MLflow, LightGBM) are imported inside the commands, so ``retain --help``
answers at once.
"""

from __future__ import annotations

import sys
import warnings

import typer

from retain.cli import (
    audit,
    cycle,
    demo,
    evaluate,
    features,
    ingest,
    keys,
    models,
    monitor,
    plan,
    recommend,
    score,
    serve,
    simulate,
    tracking,
)
from retain.core.errors import RetainError

app = typer.Typer(
    name="retain",
    help="Churn risk and next-best-action for retail banks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
simulate.register(app)
ingest.register(app)
keys.register(app)
audit.register(app)
features.register(app)
models.register(app)
demo.register(app)
serve.register(app)
recommend.register(app)
score.register(app)
plan.register(app)
evaluate.register(app)
monitor.register(app)
cycle.register(app)
tracking.register(app)


def _quiet_library_warnings() -> None:
    """Warnings about the libraries' own internals mean nothing to a user of the command line."""
    warnings.filterwarnings("ignore", message="On demand feature view is an experimental feature")
    warnings.filterwarnings("ignore", message=".*noload.* loader strategy is deprecated")
    warnings.filterwarnings("ignore", category=PendingDeprecationWarning)


def main() -> None:
    """Console entry point: a user's mistake is one line on stderr and exit status 2."""
    _quiet_library_warnings()
    try:
        app(standalone_mode=True)
    except RetainError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
