"""``safeguard infra``: the local Kafka broker and PostgreSQL cluster."""

from __future__ import annotations

from typing import Annotated

import typer

from safeguard import infra
from safeguard.cli.common import console, err, friendly_errors
from safeguard.kernel.settings import load_settings

app = typer.Typer(help="Local Kafka broker and PostgreSQL cluster.")


@app.command("up")
@friendly_errors
def up() -> None:
    """Start Kafka and PostgreSQL (or check the external ones); return when both answer."""
    settings = load_settings()
    with err.status("starting Kafka and PostgreSQL (the first run downloads Kafka's jars)"):
        services = infra.up(settings)
    print_status(services)


@app.command("down")
@friendly_errors
def down() -> None:
    """Stop the broker and cluster that ``up`` started (never anything else)."""
    stopped = infra.down(load_settings())
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing of ours was running")


@app.command("status")
@friendly_errors
def status(
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 unless both services answer.")
    ] = False,
) -> None:
    """Show both services: managed or external, running, address, pid and log file."""
    services = infra.status(load_settings())
    print_status(services)
    if check and not all(s.running for s in services):
        raise typer.Exit(1)


def print_status(services: list[infra.ServiceStatus]) -> None:
    # Plain lines, not a table: paths and DSNs stay whole and greppable at any terminal width.
    for s in services:
        state = "started" if s.started_now else ("running" if s.running else "stopped")
        mode = "local" if s.managed else "external"
        console.print(f"{s.name:<9}{mode:<9}{state:<8}{s.address}", highlight=False, soft_wrap=True)
        if s.pid:
            console.print(f"{'':<9}pid {s.pid}", highlight=False)
        if s.log:
            console.print(f"{'':<9}log {s.log}", highlight=False, soft_wrap=True)
