"""Data in: ``safeguard topics``, ``import``, ``publish`` and ``scenario``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress, track

from producers import fhir
from producers.imports import (
    LINKS,
    OBSERVATIONS,
    REGISTRATIONS,
    RETRACTIONS,
    Importer,
    count,
    encodings,
    import_file,
    publish_linking_rotations,
    write_rejects,
)
from producers.pseudonym import Pseudonymiser, load_key, load_linkage_key
from producers.publisher import Publisher
from producers.scenario import generate, write
from producers.schools import read_schools
from safeguard.cli.common import console, err, friendly_errors
from safeguard.kernel.access import writes
from safeguard.kernel.settings import Settings, load_settings
from safeguard.kernel.topics import check_topics, ensure_topics, topic_specs
from schemas.linkage import LinkageKeys

topics_app = typer.Typer(help="The project's Kafka topics.")
import_app = typer.Typer(help="Import agency and reference data files.")
publish_app = typer.Typer(help="Publish one event from the command line.")
scenario_app = typer.Typer(help="Synthetic data for demos and benchmarks.")


def _file(help: str) -> Any:
    """An existing file as the command's argument."""
    return typer.Argument(exists=True, dir_okay=False, help=help)


@topics_app.command("create")
@friendly_errors
def topics_create() -> None:
    """Create the project's topics that do not exist yet and grant each part its ACLs, as the
    Kafka admin (safe to repeat)."""
    settings = load_settings()
    created = ensure_topics(settings)
    for name in topic_specs(settings):
        console.print(f"{'created' if name in created else 'exists '} {name}", highlight=False)


@import_app.command("schools")
@friendly_errors
def import_schools(file: Annotated[Path, _file("Schools CSV.")]) -> None:
    """Publish school reference data (school_id,name,local_authority,near_port_of_entry)."""
    settings = load_settings()
    parsed = read_schools(file)
    for line, reason in parsed.rejected:
        err.print(f"{file.name}:{line}: rejected: {reason}", highlight=False, markup=False)
    check_topics(settings, "importer", writes(settings, "importer"))
    with Publisher(settings) as publisher:
        publisher.schools(list(track(parsed.records, description="publishing", console=err)))
    console.print(
        f"published {len(parsed.records)} schools to {settings.topic_schools}; "
        f"rejected {len(parsed.rejected)}",
        highlight=False,
    )
    if parsed.rejected:
        raise typer.Exit(1)


@import_app.command("observations")
@friendly_errors
def import_observations(file: Annotated[Path, _file("Observations CSV.")]) -> None:
    """Pseudonymise, validate and publish an observations CSV (columns: see README)."""
    run_import(OBSERVATIONS, file)


@import_app.command("registrations")
@friendly_errors
def import_registrations(file: Annotated[Path, _file("School MIS CSV.")]) -> None:
    """Pseudonymise, validate and publish a school registrations CSV (columns: see README)."""
    run_import(REGISTRATIONS, file)


@import_app.command("fhir")
@friendly_errors
def import_fhir(
    file: Annotated[Path, _file("FHIR R4 JSON.")],
    agency_id: Annotated[str, typer.Option(help="The exporting agency's id.")],
    local_authority: Annotated[str, typer.Option(help="ONS code of the area.")],
    agency_type: Annotated[str, typer.Option(help="The exporting agency's type.")] = "health",
) -> None:
    """Import FHIR R4 Observations (a resource or a Bundle) coded in the indicator code system."""
    run_import(fhir.importer(agency_type, agency_id, local_authority), file)


def run_import(importer: Importer, file: Path) -> None:
    """Any importer, with a progress bar, a summary, and exit 1 if a row was rejected."""
    settings = load_settings()
    pseudonyms = pseudonymiser(settings)
    total = count(importer, file)  # also checks the columns before connecting
    check_topics(settings, "importer", writes(settings, "importer"))
    with Publisher(settings) as publisher, Progress(console=err) as progress:
        task = progress.add_task(f"importing {file.name}", total=total)
        summary = import_file(
            importer,
            file,
            publisher,
            pseudonyms,
            lambda: progress.advance(task),
            # Reported "now" by the same clock the worker judges "the future" by.
            now=settings.clock,
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


def pseudonymiser(settings: Settings) -> Pseudonymiser:
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
    row = {
        "identifier_namespace": identifier_namespace,
        "identifier": identifier,
        "indicator": indicator,
        "agency_type": agency_type,
        "agency_id": agency_id,
        "observed_at": observed_at,
        "local_authority": local_authority,
        "date_of_birth": date_of_birth,
        "age_disputed": _yes(age_disputed),
        "immediate_risk": _yes(immediate_risk),
        "source_ref": source_ref,
        "event_id": event_id,
    }
    _publish_one(OBSERVATIONS, row)


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
    family_travelling: Annotated[
        bool, typer.Option(help="The family moves around (traveller or migrant).")
    ] = False,
    returned_on: Annotated[
        str, typer.Option(help="For continuous_absence: the day the pupil came back.")
    ] = "",
    event_id: Annotated[str, typer.Option(help="Default: derived from the content.")] = "",
) -> None:
    """Publish one school registration event; prints its event id."""
    row = {
        "identifier_namespace": identifier_namespace,
        "identifier": identifier,
        "school_id": school_id,
        "local_authority": local_authority,
        "kind": kind,
        "effective_date": effective_date,
        "deletion_ground": deletion_ground,
        "destination_school_id": destination_school_id,
        "absence_school_days": absence_school_days,
        "family_identifier": family_identifier,
        "family_travelling": _yes(family_travelling),
        "returned_on": returned_on,
        "event_id": event_id,
    }
    _publish_one(REGISTRATIONS, row)


@publish_app.command("retraction")
@friendly_errors
def publish_retraction(
    identifier_namespace: Annotated[str, typer.Option(help="The namespace the event used.")],
    identifier: Annotated[str, typer.Option(help="The identifier the event used.")],
    agency_type: Annotated[str, typer.Option(help="Your agency's type (school for a roll).")],
    agency_id: Annotated[str, typer.Option(help="Your agency's id (the school's, for a roll).")],
    retracts: Annotated[str, typer.Option(help="The event id you take back.")],
    of: Annotated[str, typer.Option(help="observation or school_registration.")],
    reason: Annotated[
        str, typer.Option(help="wrong_child, wrong_details, entered_in_error or duplicate.")
    ],
    event_id: Annotated[str, typer.Option(help="Default: derived from the content.")] = "",
) -> None:
    """Take back one of your agency's own events; prints the retraction's event id."""
    row = {
        "identifier_namespace": identifier_namespace,
        "identifier": identifier,
        "agency_type": agency_type,
        "agency_id": agency_id,
        "retracts": retracts,
        "of": of,
        "reason": reason,
        "event_id": event_id,
    }
    _publish_one(RETRACTIONS, row)


@publish_app.command("link")
@friendly_errors
def publish_link(
    a_namespace: Annotated[str, typer.Option(help="First identifier's namespace: upn, nhs...")],
    a_identifier: Annotated[str, typer.Option(help="The first identifier (never leaves here).")],
    b_namespace: Annotated[str, typer.Option(help="Namespace of the second identifier.")],
    b_identifier: Annotated[str, typer.Option(help="The second identifier (never leaves here).")],
    agency_type: Annotated[str, typer.Option(help="Your agency's type.")],
    agency_id: Annotated[str, typer.Option(help="Your agency's id.")],
    basis: Annotated[
        str, typer.Option(help="shared_record, practitioner_confirmed or confirmed_match.")
    ] = "shared_record",
    withdrawn: Annotated[
        bool, typer.Option(help="Take back your agency's earlier statement of this pair.")
    ] = False,
    source_ref: Annotated[str, typer.Option(help="Your record holding both.")] = "",
    event_id: Annotated[str, typer.Option(help="Default: derived from the content.")] = "",
) -> None:
    """State that two of your agency's identifiers are the same child (or take it back); prints
    the link's event id. Both identifiers are pseudonymised before anything is sent."""
    row = {
        "a_namespace": a_namespace,
        "a_identifier": a_identifier,
        "b_namespace": b_namespace,
        "b_identifier": b_identifier,
        "basis": basis,
        "agency_type": agency_type,
        "agency_id": agency_id,
        "withdrawn": _yes(withdrawn),
        "source_ref": source_ref,
        "event_id": event_id,
    }
    _publish_one(LINKS, row)


@import_app.command("links")
@friendly_errors
def import_links(file: Annotated[Path, _file("Links CSV.")]) -> None:
    """Publish a CSV of identity links (columns: see README)."""
    run_import(LINKS, file)


@import_app.command("encodings")
@friendly_errors
def import_encodings(file: Annotated[Path, _file("Encodings CSV.")]) -> None:
    """Encode what your agency knows of children (name, date of birth, sex, postcode district)
    with the linkage key and publish the encodings, for finding the same child under another
    agency's identifier (columns: see README). The values never leave this machine."""
    settings = load_settings()
    run_import(encodings(LinkageKeys(load_linkage_key(settings))), file)


@import_app.command("retractions")
@friendly_errors
def import_retractions(file: Annotated[Path, _file("Retractions CSV.")]) -> None:
    """Publish a CSV of retractions (columns: see README)."""
    run_import(RETRACTIONS, file)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _publish_one(importer: Importer, row: dict[str, str]) -> None:
    settings = load_settings()
    now = settings.clock or dt.datetime.now(dt.UTC)
    pseudonyms = pseudonymiser(settings)
    record = importer.convert(row, pseudonyms, now)
    check_topics(settings, "importer", writes(settings, "importer"))
    with Publisher(settings) as publisher:
        event_id = publish_linking_rotations(publisher, importer.kind, record, pseudonyms, now)
        console.print(event_id, highlight=False)


@scenario_app.command("generate")
@friendly_errors
def scenario_generate(
    children: Annotated[int, typer.Option(min=1, help="How many children.")] = 200,
    seed: Annotated[int, typer.Option(help="Same seed, same files.")] = 1,
    out: Annotated[Path, typer.Option(help="Folder for the CSV files.")] = Path("scenario"),
    start: Annotated[
        str, typer.Option(help="First day of the timeline (default: 300 days ago).")
    ] = "",
) -> None:
    """Write a synthetic multi-agency timeline (schools, observations, registrations CSV).

    Nothing after today is written: a future-dated event is refused as a typing error."""
    today = dt.datetime.now(dt.UTC).date()
    try:
        first_day = dt.date.fromisoformat(start) if start else today - dt.timedelta(days=300)
    except ValueError:
        raise typer.BadParameter(
            f"{start!r} is not a date (YYYY-MM-DD)", param_hint="--start"
        ) from None
    paths = write(generate(children, seed, first_day, until=today), out)
    for name, path in paths.items():
        console.print(f"{name:<14}{path}", highlight=False)
