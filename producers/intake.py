"""The HTTP intake: agencies POST observations and school registrations, one or a batch.

    POST /v1/observations           an observation, or a list of them
    POST /v1/school-registrations   a registration event, or a list of them
    POST /v1/retractions            take back events this agency sent here, or a list of them
    POST /v1/identity-links         two of this agency's identifiers are the same child (or not)
    GET  /health                    200 when the database and broker answer
    GET  /openapi.json, /docs       the OpenAPI document

Each request carries ``Authorization: Bearer <token>`` (``safeguard agency token``); a token
publishes only as its own agency. Identifiers are pseudonymised here and go no further. A valid
request gets 202 with the event ids; an invalid one gets 422 naming each bad field, and nothing of
it is published. An ``event_id`` this agency already sent is reported as a duplicate and not sent
again; ids are the agency's own, so another agency's ids are neither blocked nor revealed. Only a
school's token publishes roll changes, and only for its own school (its agency id is its school
id); and an agency publishes only about children in the local authorities it serves
(``safeguard agency add --serves``): 403 otherwise, recorded in the audit trail. Each agency
may send ``SAFEGUARD_INTAKE_EVENTS_PER_MINUTE`` events a minute (429 with ``Retry-After``
beyond), so one token cannot flood the alert list. Run it with ``safeguard intake``.

(No ``from __future__ import annotations`` here: FastAPI reads the route annotations at runtime,
and they name dependencies local to ``create_app``.)
"""

import collections
import datetime as dt
import socket
import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from producers.agencies import Agency, authenticate, record_refusal
from producers.imports import link_record, observation_record, registration_record
from producers.intake_models import (
    Accepted,
    LinkIn,
    ObservationIn,
    RegistrationIn,
    RetractionIn,
)
from producers.pseudonym import Pseudonymiser, load_key, rotation_link
from producers.publisher import (
    derived_event_id,
    encode_link,
    encode_observation,
    encode_registration,
    encode_retraction,
    retraction_topic,
)
from safeguard.kernel.errors import InvalidRecordError
from safeguard.kernel.ops import RequestMetrics, readiness
from safeguard.kernel.services import pool_and_producer
from safeguard.kernel.settings import Settings
from safeguard.kernel.web import ASGIApp, BodyLimit, Receive, Scope, Send, header, respond

MAX_BATCH = 500


class Quota:
    """How many events each agency sent in the last minute: a token that floods the intake
    (hundreds of invented alerts pushing a genuine one out of view) is slowed down, with 429
    and the seconds to wait, and the other agencies are not."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.sent: dict[str, collections.deque[tuple[float, int]]] = {}

    def take(self, agency_id: str, count: int) -> None:
        now = time.monotonic()
        window = self.sent.setdefault(agency_id, collections.deque())
        while window and window[0][0] <= now - 60:
            window.popleft()
        used = sum(n for _, n in window)
        if used + count > self.per_minute:
            wait = int(60 - (now - window[0][0])) + 1 if window else 60
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                f"this agency may send {self.per_minute} events a minute; try again in {wait} s",
                headers={"Retry-After": str(wait)},
            )
        window.append((now, count))


def check_areas(agency: Agency, items: list[Any]) -> None:
    """Events only about children in the local authorities the agency serves."""
    outside = [
        i
        for i, item in enumerate(items)
        if (area := getattr(item, "local_authority", None)) is not None and not agency.serves(area)
    ]
    if outside:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            [
                {"loc": ["body", i, "local_authority"], "msg": "not an area this agency serves"}
                for i in outside
            ],
        )


def check_scope(agency: Agency, items: list[Any]) -> None:
    """Only a school publishes roll changes, and only its own (its agency id is its school id)."""
    if agency.agency_type != "school":
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "only a school's token publishes school roll changes"
        )
    others = [i for i, item in enumerate(items) if item.school_id != agency.agency_id]
    if others:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            [
                {"loc": ["body", i, "school_id"], "msg": "not this token's own school"}
                for i in others
            ],
        )


Scoped = Callable[[Agency, list[Any]], None]


def check_batch(items: list[Any]) -> None:
    if len(items) > MAX_BATCH:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE, f"a batch holds at most {MAX_BATCH} events"
        )


async def send_all(request: Request, records: list[tuple[str, str, bytes]]) -> None:
    """Send (topic, child_ref, value) records in order; return when the broker has each one."""
    producer = request.app.state.producer
    sends = [
        await producer.send(topic, key=ref.encode(), value=data) for topic, ref, data in records
    ]
    for sent in sends:
        await sent


def _values(item: BaseModel, agency: Agency) -> dict[str, Any]:
    """The validated item's typed values, as the agency that sent them."""
    values = item.model_dump()
    values["agency_id"], values["agency_type"] = agency.agency_id, agency.agency_type
    return values


class TokenFirst:
    """Checks the bearer token of every ``/v1/`` request before its body is read: an
    unauthenticated sender costs one database lookup, never a parse."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        scheme, _, token = (header(scope, b"authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            await respond(send, 401, "a bearer token is required", headers=BEARER)
            return
        async with scope["app"].state.pool.acquire() as conn:
            agency = await authenticate(conn, token.strip())
        if agency is None:
            await respond(send, 401, "unknown or revoked token", headers=BEARER)
            return
        scope["agency"] = agency
        await self.app(scope, receive, send)


BEARER = {"www-authenticate": "Bearer"}


def create_app(settings: Settings, endpoints: socket.socket | None = None) -> FastAPI:
    pseudonyms = Pseudonymiser(load_key(settings.pseudonym_key, settings.pseudonym_key_file))

    app = FastAPI(
        title="safeguard-stream intake",
        version="1",
        description=__doc__,
        lifespan=pool_and_producer(settings, "intake", endpoints),
    )
    bearer = HTTPBearer(auto_error=False)
    quota = Quota(settings.intake_events_per_minute)
    # Outermost first: the token is checked, then the body read within its cap, before any
    # parsing or validation.
    app.add_middleware(BodyLimit, max_bytes=settings.intake_max_body_bytes)
    app.add_middleware(TokenFirst)
    app.add_middleware(RequestMetrics)

    async def agency_of(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Agency:
        agency: Agency | None = request.scope.get("agency")
        if agency is None:  # only routes TokenFirst does not guard get here without one
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a bearer token is required")
        return agency

    async def within_scope(
        request: Request, agency: Agency, items: list[Any], kind: str, *checks: Scoped
    ) -> None:
        """Run the scope checks; a refusal is recorded in the audit trail, then answered 403."""
        for check in checks:
            try:
                check(agency, items)
            except HTTPException as refused:
                reason = refused.detail if isinstance(refused.detail, str) else "area not served"
                async with request.app.state.pool.acquire() as conn:
                    await record_refusal(
                        conn, agency, f"{len(items)} {kind} event(s) refused: {reason}"
                    )
                raise

    async def accept(
        request: Request,
        agency: Agency,
        items: list[Any],
        build: Callable[[dict[str, Any], Pseudonymiser, dt.datetime], dict[str, Any]],
        encode: Callable[[dict[str, Any]], bytes],
        topic: str,
        kind: str,
    ) -> Accepted:
        check_batch(items)
        await within_scope(request, agency, items, kind, check_areas)
        quota.take(agency.agency_id, len(items))
        now = dt.datetime.now(dt.UTC)
        records, problems = [], []
        pseudonyms.take_rotations()  # nothing of another request
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
        rotations = pseudonyms.take_rotations()
        if problems:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, problems)
        # While the partnership key is rotated: each child's reference under a retiring key is
        # linked to its reference under the current one, after the events themselves.
        links = [rotation_link(rotation, now) for rotation in rotations]
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
            # Links are keyed by their first reference (on a one-partition topic); nothing can
            # retract a link through its child_ref: an agency withdraws it with another link.
            await send_all(
                request,
                [(topic, r.get("child_ref") or r["ref_a"], data) for r, data in fresh]
                + [
                    (settings.topic_identity_links, link["ref_a"], encode_link(link))
                    for link in links
                ],
            )
            pseudonyms.linked(rotations)
            await conn.executemany(
                "INSERT INTO intake_events (event_id, agency_id, kind, child_ref, school_id)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (agency_id, event_id) DO NOTHING",
                [
                    (r["event_id"], agency.agency_id, kind, r.get("child_ref"), r.get("school_id"))
                    for r, _ in fresh
                ],
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
            lambda record: encode_observation(record, settings.future_tolerance),
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
        check_batch(items)
        await within_scope(request, agency, items, "registration", check_scope)
        return await accept(
            request,
            agency,
            items,
            registration_record,
            lambda record: encode_registration(record, settings.future_tolerance),
            settings.topic_school_registrations,
            "registration",
        )

    @app.post("/v1/identity-links", status_code=status.HTTP_202_ACCEPTED)
    async def post_links(
        request: Request,
        body: LinkIn | list[LinkIn],
        agency: Annotated[Agency, Depends(agency_of)],
    ) -> Accepted:
        """The agency states that two of its identifiers are the same child, or withdraws its
        own statement (``withdrawn``). Both identifiers are pseudonymised here."""
        items = body if isinstance(body, list) else [body]
        return await accept(
            request,
            agency,
            items,
            link_record,
            lambda record: encode_link(record, settings.future_tolerance),
            settings.topic_identity_links,
            "link",
        )

    @app.post("/v1/retractions", status_code=status.HTTP_202_ACCEPTED)
    async def post_retractions(
        request: Request,
        body: RetractionIn | list[RetractionIn],
        agency: Annotated[Agency, Depends(agency_of)],
    ) -> Accepted:
        """Only the agency that sent an event can take it back: an id this agency did not send
        here is refused (404) and nothing of the request is published."""
        items = body if isinstance(body, list) else [body]
        check_batch(items)
        quota.take(agency.agency_id, len(items))
        kinds = {"observation": "observation", "school_registration": "registration"}
        now = dt.datetime.now(dt.UTC)
        async with request.app.state.pool.acquire() as conn:
            sent = {
                (row["event_id"], row["kind"]): row
                for row in await conn.fetch(
                    "SELECT event_id, kind, child_ref, school_id FROM intake_events"
                    " WHERE agency_id = $1 AND event_id = ANY($2) AND child_ref IS NOT NULL",
                    agency.agency_id,
                    [item.retracts for item in items],
                )
            }
            missing = [
                i for i, item in enumerate(items) if (item.retracts, kinds[item.of]) not in sent
            ]
            if missing:
                raise HTTPException(
                    status.HTTP_404_NOT_FOUND,
                    [
                        {
                            "loc": ["body", i, "retracts"],
                            "msg": f"this agency sent no {items[i].of} with that id here",
                        }
                        for i in missing
                    ],
                )
            records = []
            for item in items:
                original = sent[(item.retracts, kinds[item.of])]
                by = (
                    {"id": agency.agency_id, "type": agency.agency_type}
                    if item.of == "observation"
                    else {"id": original["school_id"], "type": "school"}
                )
                records.append(
                    {
                        "event_id": item.event_id
                        or derived_event_id("retraction", agency.agency_id, item.retracts),
                        "child_ref": original["child_ref"],
                        "agency": by,
                        "retracts": item.retracts,
                        "of": item.of,
                        "reason": item.reason,
                        "retracted_at": now,
                    }
                )
            await send_all(
                request,
                [
                    (retraction_topic(settings, r["of"]), r["child_ref"], encode_retraction(r))
                    for r in records
                ],
            )
        return Accepted(event_ids=[r["event_id"] for r in records], duplicates=[])

    @app.get("/health")
    async def health(request: Request) -> Any:
        """Readiness, as on the operations port: 200 when the broker and the database answer."""
        from fastapi.responses import JSONResponse

        ok, checks = await readiness(request.app.state.readiness)
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "checks": checks},
            status_code=200 if ok else 503,
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Any:
        from fastapi.responses import JSONResponse

        # The default echoes the input, which may hold a raw identifier: leave it out.
        detail = [{k: v for k, v in e.items() if k not in ("input", "ctx")} for e in exc.errors()]
        return JSONResponse({"detail": detail}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)

    return app
