"""What the intake accepts and answers: the request and response bodies, validated by pydantic."""

import datetime as dt
import re
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def no_control_characters(cls, value: Any) -> Any:
        # PostgreSQL text cannot hold NUL, and no identifier or code needs control characters.
        if isinstance(value, str) and _CONTROL.search(value):
            raise ValueError("must not contain control characters")
        return value


class ObservationIn(_In):
    """One observation, as an agency sends it."""

    event_id: str | None = Field(default=None, min_length=1, max_length=128)
    identifier_namespace: str = Field(max_length=32, examples=["nhs"])
    identifier: str = Field(max_length=64, repr=False, examples=["943 476 5919"])
    indicator: str = Field(max_length=80, examples=["health.controlling_companion"])
    observed_at: AwareDatetime
    local_authority: str = Field(pattern=r"^[EWSN]\d{8}$", examples=["W06000015"])
    date_of_birth: dt.date | None = None
    age_disputed: bool = False
    immediate_risk: bool = False
    source_ref: str | None = Field(default=None, max_length=128)
    agency_id: str | None = Field(default=None, description="If given, the token's own agency.")


class RegistrationIn(_In):
    """One school roll change, as a school information system sends it."""

    event_id: str | None = Field(default=None, min_length=1, max_length=128)
    identifier_namespace: str = Field(default="upn", max_length=32)
    identifier: str = Field(max_length=64, repr=False)
    school_id: str = Field(min_length=1, max_length=32)
    local_authority: str = Field(pattern=r"^[EWSN]\d{8}$")
    kind: str = Field(pattern=r"^(registered|deregistered|continuous_absence)$")
    effective_date: dt.date
    deletion_ground: str | None = Field(default=None, max_length=40)
    destination_school_id: str | None = Field(default=None, max_length=32)
    absence_school_days: int | None = Field(default=None, ge=0, le=400)
    family_identifier: str | None = Field(default=None, max_length=64, repr=False)
    family_travelling: bool = False
    returned_on: dt.date | None = None


class RetractionIn(_In):
    """An agency takes back one of the events it sent through the intake, by its id."""

    event_id: str | None = Field(default=None, min_length=1, max_length=128)
    retracts: str = Field(min_length=1, max_length=128, description="The event id taken back.")
    of: Literal["observation", "school_registration"]
    reason: Literal["wrong_child", "wrong_details", "entered_in_error", "duplicate"]


class LinkIn(_In):
    """The agency states that two of its identifiers are the same child (for example one of its
    records holds both a UPN and an NHS number), or takes back its own earlier statement."""

    event_id: str | None = Field(default=None, min_length=1, max_length=128)
    a_namespace: str = Field(max_length=32, examples=["upn"])
    a_identifier: str = Field(max_length=64, repr=False)
    b_namespace: str = Field(max_length=32, examples=["nhs"])
    b_identifier: str = Field(max_length=64, repr=False)
    basis: Literal["shared_record", "practitioner_confirmed", "confirmed_match"] = "shared_record"
    stated_at: AwareDatetime | None = None
    withdrawn: bool = False
    source_ref: str | None = Field(default=None, max_length=128)


class Accepted(BaseModel):
    event_ids: list[str]
    duplicates: list[str] = Field(description="Event ids accepted before; not sent again.")
