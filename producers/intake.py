"""The HTTP intake: agencies POST observations and school registrations, one or a batch.

    POST /v1/observations           an observation, or a list of them
    POST /v1/school-registrations   a registration event, or a list of them
    GET  /health                    200 when the database and broker answer
    GET  /openapi.json, /docs       the OpenAPI document

Each request carries ``Authorization: Bearer <token>`` (``safeguard agency token``); a token
publishes only as its own agency. Identifiers are pseudonymised here and go no further. A valid
request gets 202 with the event ids; an invalid one gets 422 naming each bad field, and nothing of
it is published. An ``event_id`` this agency already sent is reported as a duplicate and not sent
again; ids are the agency's own, so another agency's ids are neither blocked nor revealed.
Run it with ``safeguard intake``.

(No ``from __future__ import annotations`` here: FastAPI reads the route annotations at runtime,
and they name dependencies local to ``create_app``.)
"""

import datetime as dt
import re
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from producers.agencies import Agency, authenticate
from producers.imports import observation_record, registration_record
from producers.pseudonym import Pseudonymiser, load_key
from producers.publisher import encode_observation, encode_registration
from safeguard.kernel.errors import InvalidRecordError
from safeguard.kernel.services import pool_and_producer
from safeguard.kernel.settings import Settings

MAX_BATCH = 500
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


class Accepted(BaseModel):
    event_ids: list[str]
    duplicates: list[str] = Field(description="Event ids accepted before; not sent again.")


def _values(item: BaseModel, agency: Agency) -> dict[str, Any]:
    """The validated item's typed values, as the agency that sent them."""
    values = item.model_dump()
    values["agency_id"], values["agency_type"] = agency.agency_id, agency.agency_type
    return values


def create_app(settings: Settings) -> FastAPI:
    pseudonyms = Pseudonymiser(load_key(settings.pseudonym_key, settings.pseudonym_key_file))

    app = FastAPI(
        title="safeguard-stream intake",
        version="1",
        description=__doc__,
        lifespan=pool_and_producer(settings),
    )
    bearer = HTTPBearer(auto_error=False)

    async def agency_of(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Agency:
        if credentials is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a bearer token is required")
        async with request.app.state.pool.acquire() as conn:
            agency = await authenticate(conn, credentials.credentials)
        if agency is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown or revoked token")
        return agency

    async def accept(
        request: Request,
        agency: Agency,
        items: list[Any],
        build: Callable[[dict[str, Any], Pseudonymiser, dt.datetime], dict[str, Any]],
        encode: Callable[[dict[str, Any]], bytes],
        topic: str,
        kind: str,
    ) -> Accepted:
        if len(items) > MAX_BATCH:
            raise HTTPException(
                status.HTTP_413_CONTENT_TOO_LARGE, f"a batch holds at most {MAX_BATCH} events"
            )
        now = dt.datetime.now(dt.UTC)
        records, problems = [], []
        for index, item in enumerate(items):
            if getattr(item, "agency_id", None) not in (None, agency.agency_id):
                raise HTTPException(
                    status.HTTP_403_FORBIDDEN,
                    f"this token publishes as {agency.agency_id}, not {item.agency_id}",
                )
            try:
                record = build(_values(item, agency), pseudonyms, now)
                records.append((record, encode(record)))
            except InvalidRecordError as exc:
                problems.append(
                    {
                        "loc": ["body", index, exc.field or "body"],
                        "msg": str(exc),
                        "type": "value_error",
                    }
                )
        if problems:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, problems)
        ids = [r["event_id"] for r, _ in records]
        async with request.app.state.pool.acquire() as conn:
            seen = {
                row["event_id"]
                for row in await conn.fetch(
                    "SELECT event_id FROM intake_events"
                    " WHERE agency_id = $1 AND event_id = ANY($2)",
                    agency.agency_id,
                    ids,
                )
            }
            unique: dict[str, tuple[dict[str, Any], bytes]] = {}
            for r, data in records:  # in order: one child's events keep their sequence
                unique.setdefault(r["event_id"], (r, data))
            fresh = [(r, data) for r, data in unique.values() if r["event_id"] not in seen]
            sends = [
                await request.app.state.producer.send(
                    topic, key=r["child_ref"].encode(), value=data
                )
                for r, data in fresh
            ]
            for sent in sends:
                await sent  # the broker has acknowledged it
            await conn.executemany(
                "INSERT INTO intake_events (event_id, agency_id, kind) VALUES ($1, $2, $3)"
                " ON CONFLICT (agency_id, event_id) DO NOTHING",
                [(r["event_id"], agency.agency_id, kind) for r, _ in fresh],
            )
        return Accepted(event_ids=ids, duplicates=sorted(seen))

    @app.post("/v1/observations", status_code=status.HTTP_202_ACCEPTED)
    async def post_observations(
        request: Request,
        body: ObservationIn | list[ObservationIn],
        agency: Annotated[Agency, Depends(agency_of)],
    ) -> Accepted:
        items = body if isinstance(body, list) else [body]
        return await accept(
            request,
            agency,
            items,
            observation_record,
            encode_observation,
            settings.topic_observations,
            "observation",
        )

    @app.post("/v1/school-registrations", status_code=status.HTTP_202_ACCEPTED)
    async def post_registrations(
        request: Request,
        body: RegistrationIn | list[RegistrationIn],
        agency: Annotated[Agency, Depends(agency_of)],
    ) -> Accepted:
        items = body if isinstance(body, list) else [body]
        return await accept(
            request,
            agency,
            items,
            registration_record,
            encode_registration,
            settings.topic_school_registrations,
            "registration",
        )

    @app.get("/health")
    async def health(request: Request) -> dict[str, str]:
        async with request.app.state.pool.acquire() as conn:
            await conn.fetchval("SELECT 1")
        return {"status": "ok"}

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Any:
        from fastapi.responses import JSONResponse

        # The default echoes the input, which may hold a raw identifier: leave it out.
        detail = [{k: v for k, v in e.items() if k not in ("input", "ctx")} for e in exc.errors()]
        return JSONResponse({"detail": detail}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)

    return app
