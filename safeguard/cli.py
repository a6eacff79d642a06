"""The one ``safeguard`` command.

safeguard infra up       start (or reuse) the local Kafka broker and PostgreSQL cluster
safeguard infra status   show both, with log paths and the database DSN
safeguard infra down     stop what ``up`` started
safeguard topics create  create the project's topics (safe to repeat)
safeguard worker         run the stream processor
safeguard import schools FILE.csv   publish school reference data
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler

from safeguard import infra
from safeguard.errors import SafeguardError
from safeguard.settings import load_settings

app = typer.Typer(help="safeguard-stream: multi-agency safeguarding event pipeline.")
infra_app = typer.Typer(help="Local Kafka broker and PostgreSQL cluster.")
topics_app = typer.Typer(help="The project's Kafka topics.")
import_app = typer.Typer(help="Import agency and reference data files.")
app.add_typer(import_app, name="import")
app.add_typer(infra_app, name="infra")
app.add_typer(topics_app, name="topics")

console = Console()
err = Console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")


def friendly_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Print a ``SafeguardError`` as one clear message and exit 1, instead of a traceback."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except SafeguardError as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
            raise typer.Exit(1) from None

    return wrapper


@app.callback()
def main_options(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False)],
    )
    # The Kafka clients log every connection at INFO; only their warnings help an operator.
    for noisy in ("kafka", "aiokafka"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)


@infra_app.command("up")
@friendly_errors
def infra_up() -> None:
    """Start Kafka and PostgreSQL (or check the external ones); return when both answer."""
    settings = load_settings()
    with err.status("starting Kafka and PostgreSQL (the first run downloads Kafka's jars)"):
        services = infra.up(settings)
    _print_status(services)


@infra_app.command("down")
@friendly_errors
def infra_down() -> None:
    """Stop the broker and cluster that ``up`` started (never anything else)."""
    stopped = infra.down(load_settings())
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing of ours was running")


@infra_app.command("status")
@friendly_errors
def infra_status(
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 unless both services answer.")
    ] = False,
) -> None:
    """Show both services: managed or external, running, address, pid and log file."""
    services = infra.status(load_settings())
    _print_status(services)
    if check and not all(s.running for s in services):
        raise typer.Exit(1)


@app.command("worker")
@friendly_errors
def worker(
    loglevel: Annotated[str, typer.Option("--loglevel", "-l", help="Log level.")] = "info",
) -> None:
    """Run the stream processor (a Faust worker); creates the project's topics first."""
    settings = load_settings()
    from streams.topics import ensure_topics

    ensure_topics(settings)
    import faust

    import streams.agents  # noqa: F401 - registers the agents with the app
    from streams.app import app as faust_app

    faust.Worker(faust_app, loglevel=loglevel).execute_from_commandline()


@topics_app.command("create")
@friendly_errors
def topics_create() -> None:
    """Create the project's topics that do not exist yet (safe to repeat)."""
    settings = load_settings()
    from streams.topics import ensure_topics, topic_specs

    created = ensure_topics(settings)
    for name in topic_specs(settings):
        console.print(f"{'created' if name in created else 'exists '} {name}", highlight=False)


@import_app.command("schools")
@friendly_errors
def import_schools(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Schools CSV.")],
) -> None:
    """Publish school reference data (school_id,name,local_authority,near_port_of_entry)."""
    settings = load_settings()
    from producers.schools import read_schools
    from streams.topics import ensure_topics

    parsed = read_schools(file)
    for line, reason in parsed.rejected:
        err.print(f"{file.name}:{line}: rejected: {reason}", highlight=False, markup=False)
    ensure_topics(settings)
    _publish(settings.kafka_servers, settings.topic_schools, parsed.records)
    console.print(
        f"published {len(parsed.records)} schools to {settings.topic_schools}; "
        f"rejected {len(parsed.rejected)}",
        highlight=False,
    )
    if parsed.rejected:
        raise typer.Exit(1)


def _publish(servers: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    from kafka import KafkaProducer
    from rich.progress import track

    producer = KafkaProducer(bootstrap_servers=servers, acks="all", enable_idempotence=True)
    try:
        for key, value in track(records, description="publishing", console=err):
            producer.send(topic, key=key, value=value)
        producer.flush()
    finally:
        producer.close()


def _print_status(services: list[infra.ServiceStatus]) -> None:
    # Plain lines, not a table: paths and DSNs stay whole and greppable at any terminal width.
    for s in services:
        state = "started" if s.started_now else ("running" if s.running else "stopped")
        mode = "local" if s.managed else "external"
        console.print(f"{s.name:<9}{mode:<9}{state:<8}{s.address}", highlight=False, soft_wrap=True)
        if s.pid:
            console.print(f"{'':<9}pid {s.pid}", highlight=False)
        if s.log:
            console.print(f"{'':<9}log {s.log}", highlight=False, soft_wrap=True)


def main() -> None:
    app()
