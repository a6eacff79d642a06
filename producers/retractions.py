"""An agency takes back one of its own events: the retraction record, from flags or a CSV row.

Retractions CSV (header row required)::

    identifier_namespace,identifier,agency_type,agency_id,retracts,of,reason,[event_id]

``of`` is ``observation`` or ``school_registration`` (then the agency is the school); ``reason``
is ``wrong_child``, ``wrong_details``, ``entered_in_error`` or ``duplicate``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from producers.pseudonym import Pseudonymiser
from producers.publisher import derived_event_id

RETRACTION_COLUMNS = (
    "identifier_namespace",
    "identifier",
    "agency_type",
    "agency_id",
    "retracts",
    "of",
    "reason",
)


def retraction_record(
    values: Mapping[str, Any], pseudonyms: Pseudonymiser, retracted_at: dt.datetime
) -> dict[str, Any]:
    """An agency's retraction of its own event ``retracts`` (``of`` an observation or a school
    registration; for a registration the agency is the school)."""
    child_ref = pseudonyms.child_ref(values["identifier_namespace"], values["identifier"])
    return {
        "event_id": values.get("event_id")
        or derived_event_id("retraction", values["agency_id"], values["retracts"]),
        "child_ref": child_ref,
        "agency": {"id": values["agency_id"], "type": values["agency_type"]},
        "retracts": values["retracts"],
        "of": values["of"],
        "reason": values["reason"],
        "retracted_at": retracted_at,
    }
