"""``retain serve``: the BentoML churn service (``serving.service:ChurnService``)."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Annotated

import typer

from retain.cli.common import check_port, console, load_settings
from retain.core.errors import ConfigError
from retain.core.settings import Settings

SERVICE = "serving.service:ChurnService"


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("serve")(serve)


def serve(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 3000,
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every interface).")] = (
        "127.0.0.1"
    ),
    open_to_all: Annotated[
        bool,
        typer.Option(
            "--open-to-all",
            help="Listen beyond this host although no API key exists (anyone who reaches the "
            "port reads customer data).",
        ),
    ] = False,
) -> None:
    """Serve churn scores with reasons and the customer view over HTTP until interrupted.

    POST /churn_score, GET /customers/{id}; OpenAPI page at /, /livez, /readyz, /metrics.
    Data endpoints need an API key once the first one is added (`retain keys add`).
    On SIGTERM /readyz turns 503 and requests are still answered for `drain_s` seconds
    (serving.toml) before the server stops; Ctrl-C stops at once.
    """
    check_port(port)
    from serving.config import ServingConfig
    from serving.drain import serve_with_drain

    settings = load_settings()  # a bad home folder is one line here, not a failed worker
    _check_exposure(settings, host, open_to_all)
    drain_s = ServingConfig.load(settings).drain_s
    bentoml = str(Path(sys.executable).with_name("bentoml"))
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    console.print(
        f"retain serve: home {settings.home} (profile {settings.profile})\n"
        f"listening on http://{shown}:{port}  (OpenAPI page /, ready when /readyz answers 200)"
    )
    # BentoML keeps the Prometheus multiprocess folder under BENTOML_HOME and empties it when a
    # server starts: one folder per instance, so starting another service never resets /metrics.
    # (retain serves from MLflow; it keeps nothing else in BentoML's home.)
    instance = settings.home / "serving" / f"bentoml-{socket.gethostname()}-{port}"
    env = {**os.environ, "RETAIN_HOME": str(settings.home), "BENTOML_HOME": str(instance)}
    args = [bentoml, "serve", SERVICE, "--host", host, "--port", str(port)]
    sys.stderr.flush()
    # Stay the parent: a supervisor's SIGTERM drains (readyz 503, still answering) before the
    # server stops. Exits with the server's status.
    status = serve_with_drain(args, env, instance / "draining", drain_s, say=console.print)
    raise typer.Exit(status)


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _check_exposure(settings: Settings, host: str, open_to_all: bool) -> None:
    """Refuse to listen beyond this host while no API key exists, unless told so.

    Raises:
        ConfigError: ``host`` is not a loopback address, the project has no key and
            ``--open-to-all`` was not given.
    """
    from serving.decision_log import DecisionLog
    from serving.keys import KeyStore

    has_keys = bool(KeyStore(DecisionLog.open(settings).engine, settings.project).keys())
    if has_keys:
        return
    if host not in LOOPBACK and not open_to_all:
        raise ConfigError(
            f"--host {host} opens customer data to anyone who reaches the port and no API key "
            "exists: add one with `retain keys add NAME`, or pass --open-to-all"
        )
    console.print(
        "[yellow]no API keys: every data endpoint answers anyone who reaches the port "
        "(`retain keys add NAME` switches keys on)[/yellow]"
    )
