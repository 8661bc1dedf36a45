"""``retain serve``: the BentoML churn service (``serving.service:ChurnService``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from retain.cli.common import console, load_settings
from retain.core.errors import ConfigError

SERVICE = "serving.service:ChurnService"


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("serve")(serve)


def serve(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 3000,
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every interface).")] = (
        "127.0.0.1"
    ),
) -> None:
    """Serve churn scores with reasons and the customer view over HTTP until interrupted.

    POST /churn_score, GET /customers/{id}; OpenAPI page at /, /livez, /readyz, /metrics.
    """
    if not 1 <= port <= 65535:
        raise ConfigError(f"--port {port} is not a port number (1..65535)")
    settings = load_settings()  # a bad home folder is one line here, not a failed worker
    bentoml = str(Path(sys.executable).with_name("bentoml"))
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    console.print(
        f"retain serve: home {settings.home} (profile {settings.profile})\n"
        f"listening on http://{shown}:{port}  (OpenAPI page /, ready when /readyz answers 200)"
    )
    env = {**os.environ, "RETAIN_HOME": str(settings.home)}
    args = [bentoml, "serve", SERVICE, "--host", host, "--port", str(port)]
    sys.stderr.flush()
    # Become the server: signals (Ctrl-C, a supervisor's SIGTERM) reach it directly.
    os.execve(bentoml, args, env)
