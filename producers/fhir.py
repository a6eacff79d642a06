"""FHIR R4 Observations (one resource or a Bundle of them) into observation rows.

A resource is taken when one of its ``code.coding`` entries is in the project's indicator code
system (``CODE_SYSTEM``) with a catalogue code. The child is ``subject.identifier``: the NHS
number system maps to ``nhs``, ``IDENTIFIER_SYSTEM/<namespace>`` to that namespace. The event
time is ``effectiveDateTime`` (or ``effectiveInstant``); the resource ``id`` becomes the agency's
``source_ref``. The reporting agency and local authority come from the command line (one export,
one health board) unless ``performer[0].identifier.value`` names the agency.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from producers.imports import Importer, observation_from_row
from producers.pseudonym import Pseudonymiser
from safeguard.kernel.errors import InvalidRecordError

CODE_SYSTEM = "https://safeguard-stream.wales/fhir/CodeSystem/indicator"
IDENTIFIER_SYSTEM = "https://safeguard-stream.wales/fhir/Id"
NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"


def resources(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(position, resource) for each Observation in a resource or Bundle file."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidRecordError(f"{path.name}: not a JSON document: {exc}") from exc
    if document.get("resourceType") == "Bundle":
        entries = [e.get("resource", {}) for e in document.get("entry", [])]
    else:
        entries = [document]
    yield from enumerate(entries, start=1)


def observation_row(
    resource: dict[str, Any], agency_type: str, agency_id: str, local_authority: str
) -> dict[str, str]:
    """The import row for one FHIR Observation; ``InvalidRecordError`` names what is wrong."""
    if resource.get("resourceType") != "Observation":
        raise InvalidRecordError(
            f"resourceType: {resource.get('resourceType')!r} is not Observation",
            field="resourceType",
        )
    codes = [
        c.get("code", "")
        for c in resource.get("code", {}).get("coding", [])
        if c.get("system") == CODE_SYSTEM
    ]
    if not codes:
        raise InvalidRecordError(f"code: no coding in {CODE_SYSTEM}", field="code")
    identifier = resource.get("subject", {}).get("identifier", {})
    system = identifier.get("system", "")
    if system == NHS_NUMBER_SYSTEM:
        namespace = "nhs"
    elif system.startswith(f"{IDENTIFIER_SYSTEM}/"):
        namespace = system.removeprefix(f"{IDENTIFIER_SYSTEM}/")
    else:
        raise InvalidRecordError(
            f"subject.identifier.system: {system!r} is not the NHS number or {IDENTIFIER_SYSTEM}/*",
            field="subject.identifier.system",
        )
    when = resource.get("effectiveDateTime") or resource.get("effectiveInstant")
    if not when:
        raise InvalidRecordError("effectiveDateTime: missing", field="effectiveDateTime")
    performer = (resource.get("performer") or [{}])[0].get("identifier", {}).get("value")
    return {
        "identifier_namespace": namespace,
        "identifier": identifier.get("value", ""),
        "indicator": codes[0],
        "agency_type": agency_type,
        "agency_id": performer or agency_id,
        "observed_at": when.replace("Z", "+00:00"),
        "local_authority": local_authority,
        "source_ref": str(resource.get("id", "")),
    }


def importer(agency_type: str, agency_id: str, local_authority: str) -> Importer:
    """FHIR files of one exporting agency and area, as observations."""

    def convert(resource: Any, pseudonyms: Pseudonymiser, now: dt.datetime) -> dict[str, Any]:
        row = observation_row(resource, agency_type, agency_id, local_authority)
        return observation_from_row(row, pseudonyms, now)

    return Importer("observation", resources, convert)
