"""``retain tracking-server``: an MLflow tracking server on the installation's store, so that
services and trainers on other hosts reach runs, registered models and their files over HTTP."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from retain.cli.common import check_port, console, load_settings
from retain.core.errors import ConfigError


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("tracking-server")(tracking_server)


def tracking_server(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 5000,
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every interface).")] = (
        "127.0.0.1"
    ),
    artifacts: Annotated[
        str | None,
        typer.Option(
            help="Where the server keeps model files: a folder, or s3://, gs://, ... "
            "[default: mlflow/served-artifacts under the home folder]"
        ),
    ] = None,
    workers: Annotated[int, typer.Option(help="Server worker processes.")] = 2,
) -> None:
    """Run an MLflow tracking server with proxied artifacts until interrupted.

    Runs and registered models stay in the profile's store (PostgreSQL in production); model
    files go to --artifacts, and every client reads and writes them through the server. Point
    trainers and services at it with RETAIN_MLFLOW_URL=http://HOST:PORT (or mlflow_url in
    retain.toml).
    """
    from training.tracking import backend_store_uri

    check_port(port)
    if workers < 1:
        raise ConfigError(f"--workers {workers}: give at least 1")
    settings = load_settings()
    if settings.mlflow_url:
        raise ConfigError(
            f"mlflow_url is set ({settings.mlflow_url}): the server runs on the store itself; "
            "unset RETAIN_MLFLOW_URL (or mlflow_url in retain.toml) where it runs"
        )
    if settings.profile == "embedded":
        settings.mlflow_dir.mkdir(parents=True, exist_ok=True)
    destination = artifacts or str(settings.mlflow_dir / "served-artifacts")
    mlflow = str(Path(sys.executable).with_name("mlflow"))
    # fmt: off
    args = [
        mlflow, "server",
        "--backend-store-uri", backend_store_uri(settings),
        "--artifacts-destination", destination,
        "--serve-artifacts",
        "--host", host, "--port", str(port), "--workers", str(workers),
    ]
    # fmt: on
    console.print(
        f"retain tracking-server: store of profile {settings.profile}, model files in "
        f"{destination}\nlistening on http://{host}:{port}  "
        f"(clients: RETAIN_MLFLOW_URL=http://{host}:{port})"
    )
    if host not in ("127.0.0.1", "localhost", "::1"):
        console.print(
            "[yellow]the MLflow server has no authentication: keep it on a private network "
            "or behind a proxy that checks who asks[/yellow]"
        )
    sys.stderr.flush()
    # Become the server: signals (Ctrl-C, a supervisor's SIGTERM) reach it directly.
    os.execv(mlflow, args)
