"""The one ``safeguard`` command.

safeguard infra up       start (or reuse) the local Kafka broker and PostgreSQL cluster
safeguard infra status   show both, with log paths and the database DSN
safeguard infra down     stop what ``up`` started
safeguard topics create  create the project's topics (safe to repeat)
safeguard worker         run the stream processor
safeguard import schools FILE.csv        publish school reference data
safeguard import observations FILE.csv   pseudonymise, validate and publish observations
safeguard import registrations FILE.csv  the same for a school MIS export
safeguard publish observation|registration --...   one event from flags
safeguard agency add|token|revoke        intake agencies and their bearer tokens
safeguard intake                         the HTTP intake
safeguard alert-store                    store alerts in PostgreSQL
safeguard dashboard                      the live multi-agency dashboard
safeguard user add NAME                  a dashboard user
safeguard demo [--once]                  everything, fed a generated scenario
safeguard db migrate                     apply database migrations
safeguard scenario generate              a synthetic multi-agency timeline
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

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
publish_app = typer.Typer(help="Publish one event from the command line.")
agency_app = typer.Typer(help="Agencies and their intake tokens.")
db_app = typer.Typer(help="The PostgreSQL schema.")
scenario_app = typer.Typer(help="Synthetic data for demos and benchmarks.")
user_app = typer.Typer(help="Dashboard users.")
app.add_typer(user_app, name="user")
app.add_typer(scenario_app, name="scenario")
app.add_typer(agency_app, name="agency")
app.add_typer(db_app, name="db")
app.add_typer(publish_app, name="publish")
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
    """Run the stream processor (a Faust worker); creates and checks every topic first.

    Exits 70 when it stops for a fault that is not about one record (see streams.guard).
    """
    settings = load_settings()
    from safeguard.topics import ensure_topics

    # Every topic, Faust's changelogs included, exists with its partitions before Faust reads
    # its metadata: otherwise each agent fails for minutes on a broker new to the project.
    ensure_topics(settings)
    import faust

    import streams.agents  # noqa: F401 - registers the agents with the app
    from safeguard.errors import EXIT_FAULT
    from streams.app import app as faust_app

    process = faust.Worker(faust_app, loglevel=loglevel)
    # Faust's terminal spinner turns every logger up to DEBUG below the chosen level (so each
    # record can spin it): at -l warning every debug record would be built and dropped.
    process.spinner = None
    try:
        process.execute_from_commandline()
    finally:
        # A crashed Faust service stops the worker with exit status 0: say it was a fault.
        if getattr(faust_app, "_crash_reason", None) is not None:
            err.print(f"[bold red]error:[/] the worker crashed: {faust_app._crash_reason!r}")
            raise SystemExit(EXIT_FAULT)


@topics_app.command("create")
@friendly_errors
def topics_create() -> None:
    """Create the project's topics that do not exist yet (safe to repeat)."""
    settings = load_settings()
    from safeguard.topics import ensure_topics, topic_specs

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
    from safeguard.topics import ensure_topics

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


@import_app.command("observations")
@friendly_errors
def import_observations(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Observations CSV.")],
) -> None:
    """Pseudonymise, validate and publish an observations CSV (columns: see README)."""
    from producers.imports import OBSERVATION_COLUMNS, observation_from_row

    _import(file, OBSERVATION_COLUMNS, observation_from_row, "observation")


@import_app.command("registrations")
@friendly_errors
def import_registrations(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="School MIS CSV.")],
) -> None:
    """Pseudonymise, validate and publish a school registrations CSV (columns: see README)."""
    from producers.imports import REGISTRATION_COLUMNS, registration_from_row

    _import(file, REGISTRATION_COLUMNS, registration_from_row, "registration")


@import_app.command("fhir")
@friendly_errors
def import_fhir(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="FHIR R4 JSON.")],
    agency_id: Annotated[str, typer.Option(help="The exporting agency's id.")],
    local_authority: Annotated[str, typer.Option(help="ONS code of the area.")],
    agency_type: Annotated[str, typer.Option(help="The exporting agency's type.")] = "health",
) -> None:
    """Import FHIR R4 Observations (a resource or a Bundle) coded in the indicator code system."""
    from producers import fhir
    from producers.imports import observation_from_row

    def convert(resource: Any, pseudonyms: Any, now: Any) -> Any:
        row = fhir.observation_row(resource, agency_type, agency_id, local_authority)
        return observation_from_row(row, pseudonyms, now)

    _import(file, (), convert, "observation", lambda path, _columns: fhir.resources(path))


def _import(
    file: Path, columns: tuple[str, ...], convert: Any, kind: str, read: Any = None
) -> None:
    import datetime as dt

    from rich.progress import Progress

    from producers.imports import import_rows, rows, write_rejects

    rows = read or rows
    from producers.publisher import Publisher
    from safeguard.topics import ensure_topics

    settings = load_settings()
    pseudonyms = _pseudonymiser(settings)
    total = sum(1 for _ in rows(file, columns))  # also checks the columns before connecting
    ensure_topics(settings)
    now = dt.datetime.now(dt.UTC)
    with Publisher(settings) as publisher, Progress(console=err) as progress:
        task = progress.add_task(f"importing {file.name}", total=total)
        summary = import_rows(
            rows(file, columns),
            lambda row: convert(row, pseudonyms, now),
            getattr(publisher, kind),
            lambda: progress.advance(task),
        )
    rejects = write_rejects(file, summary)
    reasons = ", ".join(f"{n} {kind}" for kind, n in sorted(summary.rejected.items()))
    console.print(
        f"published {summary.published}, rejected {sum(summary.rejected.values())}"
        + (f" ({reasons}); reasons in {rejects}" if rejects else ""),
        highlight=False,
    )
    if rejects:
        raise typer.Exit(1)


def _pseudonymiser(settings: Any) -> Any:
    from producers.pseudonym import Pseudonymiser, load_key

    return Pseudonymiser(load_key(settings.pseudonym_key, settings.pseudonym_key_file))


@publish_app.command("observation")
@friendly_errors
def publish_observation(
    identifier_namespace: Annotated[str, typer.Option(help="nhs, upn or an opaque namespace.")],
    identifier: Annotated[str, typer.Option(help="The child's identifier (never leaves here).")],
    indicator: Annotated[str, typer.Option(help="Indicator code from the catalogue.")],
    agency_type: Annotated[str, typer.Option(help="school, health, police, ...")],
    agency_id: Annotated[str, typer.Option(help="The reporting agency's id.")],
    observed_at: Annotated[str, typer.Option(help="ISO 8601 time with zone.")],
    local_authority: Annotated[str, typer.Option(help="ONS code, e.g. W06000015.")],
    date_of_birth: Annotated[str, typer.Option(help="YYYY-MM-DD if known.")] = "",
    age_disputed: Annotated[bool, typer.Option(help="Age uncertain or disputed.")] = False,
    immediate_risk: Annotated[bool, typer.Option(help="Child at immediate risk.")] = False,
    source_ref: Annotated[str, typer.Option(help="Your own record reference.")] = "",
    event_id: Annotated[str, typer.Option(help="Default: derived from the content.")] = "",
) -> None:
    """Publish one observation; prints its event id."""
    # The options are named after the CSV columns: one conversion serves both.
    row = {**locals(), "age_disputed": _yes(age_disputed), "immediate_risk": _yes(immediate_risk)}
    from producers.imports import observation_from_row

    _publish_one(lambda s, p, now: observation_from_row(row, p, now), "observation")


@publish_app.command("registration")
@friendly_errors
def publish_registration(
    identifier_namespace: Annotated[str, typer.Option(help="upn, nhs or an opaque namespace.")],
    identifier: Annotated[str, typer.Option(help="The pupil's identifier (never leaves here).")],
    school_id: Annotated[str, typer.Option(help="The school's id.")],
    local_authority: Annotated[str, typer.Option(help="ONS code of the school's LA.")],
    kind: Annotated[str, typer.Option(help="registered, deregistered or continuous_absence.")],
    effective_date: Annotated[str, typer.Option(help="YYYY-MM-DD.")],
    deletion_ground: Annotated[
        str, typer.Option(help="reg 8(1) ground, e.g. h_continuous_absence.")
    ] = "",
    destination_school_id: Annotated[str, typer.Option(help="Empty means unknown.")] = "",
    absence_school_days: Annotated[str, typer.Option(help="For continuous_absence.")] = "",
    family_identifier: Annotated[
        str, typer.Option(help="Household reference, pseudonymised.")
    ] = "",
    family_travelling: Annotated[bool, typer.Option(help="The family is travelling.")] = False,
    event_id: Annotated[str, typer.Option(help="Default: derived from the content.")] = "",
) -> None:
    """Publish one school registration event; prints its event id."""
    row = {**locals(), "family_travelling": _yes(family_travelling)}
    from producers.imports import registration_from_row

    _publish_one(lambda s, p, now: registration_from_row(row, p, now), "registration")


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _publish_one(build: Any, kind: str) -> None:
    import datetime as dt

    from producers.publisher import Publisher
    from safeguard.topics import ensure_topics

    settings = load_settings()
    record = build(settings, _pseudonymiser(settings), dt.datetime.now(dt.UTC))
    ensure_topics(settings)
    with Publisher(settings) as publisher:
        console.print(getattr(publisher, kind)(record), highlight=False)


@app.command("intake")
@friendly_errors
def intake(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
) -> None:
    """Run the HTTP intake for agencies (POST /v1/observations, /v1/school-registrations)."""
    import uvicorn

    from producers.intake import create_app
    from safeguard.topics import ensure_topics

    settings = load_settings()
    ensure_topics(settings)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


@app.command("alert-store")
@friendly_errors
def alert_store() -> None:
    """Store both alert topics in PostgreSQL (current alerts and every version)."""
    import asyncio

    from consumers.alert_store import serve

    asyncio.run(serve(load_settings()))


@app.command("dashboard")
@friendly_errors
def dashboard(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Run the dashboard (log in with a user from `safeguard user add`)."""
    import uvicorn

    from consumers.dashboard.app import create_app

    # Live lists hold server-sent-event connections open: do not wait on them for ever at stop.
    uvicorn.run(
        create_app(load_settings()),
        host=host,
        port=port,
        log_level="info",
        timeout_graceful_shutdown=5,
    )


@user_app.command("add")
@friendly_errors
def user_add(
    username: Annotated[str, typer.Argument(help="The login name.")],
    role: Annotated[str, typer.Option(help="practitioner or admin.")] = "practitioner",
    local_authority: Annotated[str, typer.Option(help="ONS code; practitioners see only it.")] = "",
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin.")] = False,
) -> None:
    """Add a dashboard user; asks for the password (at least 12 characters)."""
    import sys

    from consumers.users import add_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    _with_db(lambda conn: add_user(conn, username, password, role, local_authority or None))
    console.print(f"added {username} ({role}, {local_authority or 'all areas'})", highlight=False)


@app.command("demo")
@friendly_errors
def demo(
    once: Annotated[
        bool, typer.Option("--once", help="Run the scenario, summarise, stop.")
    ] = False,
    children: Annotated[int, typer.Option(min=1, help="Children in the scenario.")] = 120,
    seed: Annotated[int, typer.Option(help="Scenario seed.")] = 1,
    port: Annotated[int, typer.Option(help="Dashboard port (the intake uses the next).")] = 8000,
) -> None:
    """The whole pipeline on this machine with a generated scenario (Ctrl-C stops it all)."""
    from safeguard.demo import run

    raise typer.Exit(run(load_settings(), once=once, children=children, seed=seed, port=port))


@db_app.command("migrate")
@friendly_errors
def db_migrate() -> None:
    """Apply the database migrations not yet applied."""
    applied = _with_db(lambda conn: _migrate(conn))
    console.print(f"applied: {', '.join(applied)}" if applied else "the schema is up to date")


async def _migrate(conn: Any) -> list[str]:
    from safeguard.db import migrate

    return await migrate(conn)


def _with_db(action: Any) -> Any:
    import asyncio

    import asyncpg

    from safeguard.db import migrate
    from safeguard.errors import ServiceUnavailableError

    settings = load_settings()

    async def run() -> Any:
        try:
            conn = await asyncpg.connect(settings.dsn, timeout=10)
        except (OSError, asyncpg.PostgresError) as exc:
            raise ServiceUnavailableError(f"no database at {settings.dsn_redacted}: {exc}") from exc
        try:
            await migrate(conn)
            return await action(conn)
        finally:
            await conn.close()

    return asyncio.run(run())


@agency_app.command("add")
@friendly_errors
def agency_add(
    agency_id: Annotated[str, typer.Argument(help="The agency's id, e.g. hb-cardiff.")],
    agency_type: Annotated[str, typer.Option("--type", help="school, health, police, ...")],
    name: Annotated[str, typer.Option(help="The agency's name.")],
) -> None:
    """Register an agency that may publish through the intake."""
    from producers.agencies import add_agency

    _with_db(lambda conn: add_agency(conn, agency_id, agency_type, name))
    console.print(f"added {agency_id} ({agency_type})", highlight=False)


@agency_app.command("token")
@friendly_errors
def agency_token(agency_id: Annotated[str, typer.Argument(help="The agency's id.")]) -> None:
    """Issue a bearer token for an agency. It is shown once: store it safely."""
    from producers.agencies import issue_token

    console.print(_with_db(lambda conn: issue_token(conn, agency_id)), highlight=False)


@agency_app.command("revoke")
@friendly_errors
def agency_revoke(
    token_id: Annotated[str, typer.Argument(help="sgt_<id> or the whole token.")],
) -> None:
    """Revoke a token at once."""
    from producers.agencies import revoke_token

    _with_db(lambda conn: revoke_token(conn, token_id))
    console.print("revoked", highlight=False)


@scenario_app.command("generate")
@friendly_errors
def scenario_generate(
    children: Annotated[int, typer.Option(min=1, help="How many children.")] = 200,
    seed: Annotated[int, typer.Option(help="Same seed, same files.")] = 1,
    out: Annotated[Path, typer.Option(help="Folder for the CSV files.")] = Path("scenario"),
    start: Annotated[str, typer.Option(help="First day of the timeline.")] = "2026-09-07",
) -> None:
    """Write a synthetic multi-agency timeline (schools, observations, registrations CSV)."""
    import datetime as dt

    from producers.scenario import generate, write

    try:
        first_day = dt.date.fromisoformat(start)
    except ValueError:
        raise typer.BadParameter(
            f"{start!r} is not a date (YYYY-MM-DD)", param_hint="--start"
        ) from None
    paths = write(generate(children, seed, first_day), out)
    for name, path in paths.items():
        console.print(f"{name:<14}{path}", highlight=False)


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
