"""The long-running services: ``safeguard worker``, ``intake``, ``alert-store``, ``dashboard``
(registered in ``safeguard.cli``).

Each command imports its service only when it runs: the worker's module builds the Faust app.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
import uvicorn

from safeguard.cli.common import friendly_errors
from safeguard.kernel import ops
from safeguard.kernel.access import reads, writes
from safeguard.kernel.settings import Settings, load_settings
from safeguard.kernel.topics import check_topics


@friendly_errors
def worker(
    loglevel: Annotated[str, typer.Option("--loglevel", "-l", help="Log level.")] = "info",
) -> None:
    """Run the stream processor (a Faust worker); checks every topic first.

    Exits 70 when it stops for a fault that is not about one record (see streams.guard).
    """
    from streams.worker import run

    run(load_settings(), loglevel)


@friendly_errors
def intake(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
) -> None:
    """Run the HTTP intake for agencies (POST /v1/observations, /v1/school-registrations)."""
    from producers.intake import create_app

    settings = load_settings()
    endpoints = ops.bind(settings.ops_host, settings.intake_ops_port, "intake")
    check_topics(settings, "intake", writes(settings, "intake"))
    uvicorn.run(
        create_app(settings, endpoints),
        host=host,
        port=port,
        log_level="info",
        **logging_options(settings),
    )


@friendly_errors
def alert_store() -> None:
    """Store both alert topics in PostgreSQL (current alerts and every version); waits for its
    topics first (their ACLs come with them: `safeguard topics create`)."""
    from consumers.alert_store import serve

    settings = load_settings()
    endpoints = ops.bind(settings.ops_host, settings.alert_store_ops_port, "alert-store")
    check_topics(settings, "alert-store", reads(settings, "alert-store"))
    asyncio.run(serve(settings, endpoints))


@friendly_errors
def dashboard(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Run the dashboard (log in with a user from `safeguard user add`)."""
    from consumers.dashboard.app import create_app

    settings = load_settings()
    endpoints = ops.bind(settings.ops_host, settings.dashboard_ops_port, "dashboard")
    # Live lists hold server-sent-event connections open: do not wait on them for ever at stop.
    uvicorn.run(
        create_app(settings, endpoints),
        host=host,
        port=port,
        log_level="info",
        timeout_graceful_shutdown=5,
        **logging_options(settings),
    )


def logging_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's logging: its own text format, or, with ``SAFEGUARD_LOG_FORMAT=json``, none of
    its own, so its lines go through the JSON handler set up for the command."""
    return {"log_config": None} if settings.log_format == "json" else {}
