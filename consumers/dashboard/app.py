"""The dashboard web app (FastAPI, server-rendered pages, server-sent events).

    GET  /login, POST /login, POST /logout
    GET  /                       open alerts (filters: ?level=, ?kind=), live over /events
    GET  /events                 server-sent events: alerts changed since the page loaded, and
                                 the pipeline's state as it changes (``event: pipeline``)
    GET  /alerts/{alert_id}      the alert: evidence timeline, reasons, actions, versions (audited)
    POST /alerts/{alert_id}/acknowledge | /assign | /close   (audited, published as AlertAction)
    GET  /identity               links proposed from agencies' encodings, waiting (audited)
    GET  /audit                  the audit trail, filterable, for administrators (audited)
    POST /identity/{id}/confirm | /reject   (audited; a confirmation publishes the identity link)

Sessions live in the database; the signed cookie (``SameSite=Strict``, so another site cannot
post with it) only names one, so signing out or removing the user ends it at once. Every POST
also needs the session's form token (``consumers.dashboard.csrf``). A
practitioner sees only their local authority's alerts; an administrator sees all. Every page
says when the pipeline behind it is down or behind (``consumers.dashboard.pipeline``).
"""

import asyncio
import contextlib
import datetime as dt
import json
import secrets
import socket
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, FastAPI, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from starlette.middleware.sessions import SessionMiddleware
from starlette.staticfiles import StaticFiles

from consumers.dashboard.actions import describe
from consumers.dashboard.csrf import csrf_token, renew, require_csrf
from consumers.dashboard.feeds import FeedHub, parse_time
from consumers.dashboard.pipeline import PipelineWatch
from consumers.dashboard.queries import (
    KINDS,
    LEVELS,
    OUTCOMES,
    audit,
    audit_actions,
    audit_entries,
    finished_alerts,
    may_decide,
    may_see,
    open_alerts,
    pending_proposals,
)
from consumers.dashboard.throttle import Throttle
from consumers.users import (
    User,
    authenticate,
    end_session,
    session_user,
    start_session,
)
from safeguard.kernel.ops import RequestMetrics
from safeguard.kernel.services import pool_and_producer
from safeguard.kernel.settings import Settings
from safeguard.kernel.web import SameOrigin, SecurityHeaders
from schemas.catalogue import default_catalogue
from schemas.codec import EventCodec

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
TEMPLATES.env.globals["csrf_token"] = csrf_token
TEMPLATES.env.globals["pipeline_view"] = lambda request: request.app.state.pipeline.view
STATIC = Path(__file__).parent / "static"


#: How long a sign-in lasts (the server ends the session then, whatever the cookie says).
SESSION_HOURS = 8
#: Live lists one user may have open at once (all of a process's share one poll a second).
MAX_FEEDS = 4
#: Audit entries one page of the audit trail shows (the newest that match).
AUDIT_ROWS = 200


def watching(pipeline: PipelineWatch) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """The dashboard's life: the pipeline checked in the background all along."""

    @asynccontextmanager
    async def during(app: Any) -> AsyncIterator[None]:
        task = asyncio.create_task(pipeline.run())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return during


class LoginRequired(Exception):
    """No session: the browser is sent to the login page."""


def create_app(settings: Settings, endpoints: socket.socket | None = None) -> FastAPI:
    secret = (
        settings.dashboard_secret.get_secret_value()
        if settings.dashboard_secret
        else secrets.token_urlsafe(32)
    )
    action_codec = EventCodec("alert_action")
    link_codec = EventCodec("identity_link")
    catalogue = default_catalogue()
    pipeline = PipelineWatch(settings)

    app = FastAPI(
        title="safeguard-stream dashboard",
        lifespan=pool_and_producer(settings, "dashboard", endpoints, watching(pipeline)),
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        same_site="strict",
        https_only=settings.dashboard_https_only,
        max_age=SESSION_HOURS * 3600,
    )
    app.add_middleware(RequestMetrics)
    # Added last, so they run first: a cross-site POST never reaches a route.
    app.add_middleware(SameOrigin)
    app.add_middleware(
        SecurityHeaders,
        hsts=settings.dashboard_https_only,
        cacheable=lambda path: path.startswith("/static/"),
    )

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)

    async def current_user(request: Request) -> User:
        session_id = request.session.get("sid")
        if not session_id:
            raise LoginRequired
        async with request.app.state.pool.acquire() as conn:
            user = await session_user(conn, session_id)
        if user is None:  # signed out, expired, or the user was removed
            request.session.clear()
            raise LoginRequired
        return user

    Current = Annotated[User, Depends(current_user)]
    CSRF = Depends(require_csrf)

    @app.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request) -> Response:
        return TEMPLATES.TemplateResponse(request, "login.html", {"error": None})

    throttle = Throttle()
    feeds: Counter[str] = Counter()
    """Live lists open now, per user."""
    hub = FeedHub()
    app.state.feeds = hub
    app.state.pipeline = pipeline

    def refused(
        request: Request, error: str, code: int, headers: dict[str, str] | None = None
    ) -> Response:
        """The sign-in page again, saying why."""
        return TEMPLATES.TemplateResponse(
            request, "login.html", {"error": error}, status_code=code, headers=headers
        )

    @app.post("/login", response_class=HTMLResponse, dependencies=[CSRF])
    async def login(
        request: Request, username: Annotated[str, Form()], password: Annotated[str, Form()]
    ) -> Response:
        address = request.client.host if request.client else "unknown"
        tried = User(username[:64], "unknown", None)  # as typed, for the audit only
        async with request.app.state.pool.acquire() as conn:
            wait = throttle.retry_after(username, address)
            if wait:
                await audit(conn, tried, "login_refused", None, f"throttled, from {address}")
                return refused(
                    request,
                    "Too many failed sign-ins. Try again later.",
                    status.HTTP_429_TOO_MANY_REQUESTS,
                    {"Retry-After": str(wait)},
                )
            user = await authenticate(conn, username, password)
            if user is None:
                throttle.failed(username, address)
                await audit(conn, tried, "login_failed", None, f"from {address}")
                return refused(request, "Wrong username or password.", status.HTTP_401_UNAUTHORIZED)
            throttle.succeeded(username)
            await audit(conn, user, "login", None, f"from {address}")
            session_id = await start_session(conn, user.username, SESSION_HOURS)
        request.session.clear()
        request.session["sid"] = session_id
        renew(request)
        return RedirectResponse("/", status_code=status.HTTP_303_SEE_OTHER)

    @app.post("/logout", dependencies=[CSRF])
    async def logout(request: Request) -> Response:
        session_id = request.session.get("sid")
        if session_id:
            async with request.app.state.pool.acquire() as conn:
                user = await session_user(conn, session_id)
                await end_session(conn, session_id)
                if user is not None:
                    await audit(conn, user, "logout", None)
        request.session.clear()
        return RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)

    @app.get("/", response_class=HTMLResponse)
    async def alert_list(
        request: Request, user: Current, level: str | None = None, kind: str | None = None
    ) -> Response:
        level = level if level in LEVELS else None
        kind = kind if kind in KINDS else None
        async with request.app.state.pool.acquire() as conn:
            alerts = await open_alerts(conn, user, level, kind)
            finished = await finished_alerts(conn, user)
            await audit(
                conn, user, "list_viewed", None, f"{len(alerts)} open, {len(finished)} finished"
            )
        return TEMPLATES.TemplateResponse(
            request,
            "list.html",
            {
                "user": user,
                "alerts": alerts,
                "finished": finished,
                "level": level,
                "kind": kind,
                "levels": LEVELS,
                "kinds": KINDS,
                "loaded_at": dt.datetime.now(dt.UTC).isoformat(),
            },
        )

    @app.get("/events")
    async def events(request: Request, user: Current, since: str | None = None) -> Response:
        cursor = parse_time(since) or dt.datetime.now(dt.UTC)
        session_id = request.session.get("sid", "")
        if feeds[user.username] >= MAX_FEEDS:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                f"at most {MAX_FEEDS} live lists per user at once: close one",
            )
        async with request.app.state.pool.acquire() as conn:
            await audit(conn, user, "feed_opened", None)

        async def stream() -> AsyncIterator[str]:
            feeds[user.username] += 1
            # Registered before the catch-up, so nothing changed in between is missed.
            feed = hub.open(request.app.state.pool, user, session_id)
            told: dict[str, Any] | None = None
            try:
                yield "retry: 3000\n\n"
                async with request.app.state.pool.acquire() as conn:
                    missed = await open_alerts(conn, user, since=cursor)
                if missed:
                    yield f"data: {json.dumps(missed)}\n\n"
                while not await request.is_disconnected():
                    # The page's banner follows the pipeline's state as it changes.
                    now = pipeline.view.as_json()
                    if {**now, "checked_at": None} != {**(told or {}), "checked_at": None}:
                        told = now
                        yield f"event: pipeline\ndata: {json.dumps(now)}\n\n"
                    try:
                        batch = await asyncio.wait_for(feed.queue.get(), timeout=1.0)
                    except TimeoutError:
                        continue
                    if batch is None:  # signed out, expired or removed meanwhile: nothing more
                        return
                    yield f"data: {json.dumps(batch)}\n\n"
            finally:
                hub.close(feed)
                feeds[user.username] -= 1

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
        )

    async def visible(conn: asyncpg.Connection, user: User, alert_id: str) -> asyncpg.Record:
        alert = await conn.fetchrow("SELECT * FROM alerts WHERE alert_id = $1", alert_id)
        if alert is not None and not may_see(user, alert):
            # Audited, and answered as for an alert that does not exist: nothing is revealed.
            await audit(conn, user, "refused", alert_id, "another area's alert")
        if alert is None or not may_see(user, alert):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such alert")
        return alert

    @app.get("/alerts/{alert_id}", response_class=HTMLResponse)
    async def alert_page(request: Request, alert_id: str, user: Current) -> Response:
        async with request.app.state.pool.acquire() as conn:
            alert = await visible(conn, user, alert_id)
            versions = await conn.fetch(
                "SELECT version, level, rule_id, raised_at, evidence, reasons, actions, received_at"
                " FROM alert_versions WHERE alert_id = $1 ORDER BY version DESC",
                alert_id,
            )
            await audit(conn, user, "view", alert_id, f"version {alert['version']}")
            register = {
                r["agency_id"]: {"agency_name": r["name"], "contact": r["contact"]}
                for r in await conn.fetch("SELECT agency_id, name, contact FROM agencies")
            }
        latest = versions[0]
        evidence = [
            {
                **e,
                "description": catalogue[e["indicator"]].description
                if e["indicator"] in catalogue
                else "",
                **register.get(e["agency_id"], {}),
            }
            for e in json.loads(latest["evidence"])
        ]
        actions = [
            (a, describe(a, alert["local_authority"])) for a in json.loads(latest["actions"])
        ]
        return TEMPLATES.TemplateResponse(
            request,
            "alert.html",
            {
                "user": user,
                "alert": alert,
                "evidence": evidence,
                "reasons": json.loads(latest["reasons"]),
                "actions": actions,
                "versions": versions,
                "outcomes": OUTCOMES,
            },
        )

    async def act(
        request: Request,
        user: User,
        alert_id: str,
        action: str,
        *,
        assignee: str | None = None,
        reason: str | None = None,
        outcome: str | None = None,
    ) -> Response:
        new_status = {"acknowledge": "acknowledged", "assign": "assigned", "close": "closed"}[
            action
        ]
        async with request.app.state.pool.acquire() as conn:
            # Outside the transaction: a refused request is audited even though nothing changes.
            alert = await visible(conn, user, alert_id)
            async with conn.transaction():
                await conn.execute(
                    "UPDATE alerts SET status = $2, assignee = COALESCE($3, assignee),"
                    " closed_reason = COALESCE($4, closed_reason),"
                    " closure_outcome = COALESCE($5, closure_outcome),"
                    " closed_by = CASE WHEN $2 = 'closed' THEN $6 ELSE closed_by END,"
                    " closed_at = CASE WHEN $2 = 'closed' THEN now() ELSE closed_at END,"
                    " updated_at = now() WHERE alert_id = $1",
                    alert_id,
                    new_status,
                    assignee,
                    reason,
                    outcome,
                    user.username,
                )
                detail = f"{outcome}: {reason}" if outcome else assignee or reason
                await audit(conn, user, action, alert_id, detail)
        await request.app.state.producer.send_and_wait(
            settings.topic_alert_actions,
            key=alert["child_ref"].encode(),
            value=action_codec.encode(
                {
                    "alert_id": alert_id,
                    "version": alert["version"],
                    "action": action,
                    "by": user.username,
                    "assignee": assignee,
                    "reason": reason,
                    "outcome": outcome,
                    "at": dt.datetime.now(dt.UTC),
                }
            ),
        )
        return RedirectResponse(f"/alerts/{alert_id}", status_code=status.HTTP_303_SEE_OTHER)

    @app.post("/alerts/{alert_id}/acknowledge", dependencies=[CSRF])
    async def acknowledge(request: Request, alert_id: str, user: Current) -> Response:
        return await act(request, user, alert_id, "acknowledge")

    @app.post("/alerts/{alert_id}/assign", dependencies=[CSRF])
    async def assign(
        request: Request,
        alert_id: str,
        user: Current,
        assignee: Annotated[str, Form(min_length=1, max_length=80)],
    ) -> Response:
        return await act(request, user, alert_id, "assign", assignee=assignee.strip())

    @app.post("/alerts/{alert_id}/close", dependencies=[CSRF])
    async def close(
        request: Request,
        alert_id: str,
        user: Current,
        reason: Annotated[str, Form(min_length=3, max_length=200)],
        outcome: Annotated[str, Form()] = "no_further_action",
    ) -> Response:
        if outcome not in OUTCOMES:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "unknown outcome")
        return await act(request, user, alert_id, "close", reason=reason.strip(), outcome=outcome)

    @app.get("/audit", response_class=HTMLResponse)
    async def audit_page(
        request: Request,
        user: Current,
        username: Annotated[str | None, Query(alias="user", max_length=80)] = None,
        alert: Annotated[str | None, Query(max_length=120)] = None,
        action: Annotated[str | None, Query(max_length=40)] = None,
    ) -> Response:
        filters = {"user": username or None, "alert": alert or None, "action": action or None}
        async with request.app.state.pool.acquire() as conn:
            if not user.is_admin:
                await audit(conn, user, "refused", None, "the audit trail (administrators only)")
                raise HTTPException(status.HTTP_404_NOT_FOUND, "no such page")
            rows, total = await audit_entries(conn, **filters, limit=AUDIT_ROWS)
            actions = await audit_actions(conn)
            shown = ", ".join(f"{k}={v}" for k, v in filters.items() if v) or "all"
            await audit(conn, user, "audit_viewed", None, f"{shown}: {len(rows)} of {total}")
        return TEMPLATES.TemplateResponse(
            request,
            "audit.html",
            {"user": user, "rows": rows, "total": total, "filters": filters, "actions": actions},
        )

    @app.get("/identity", response_class=HTMLResponse)
    async def proposals_page(request: Request, user: Current, done: str | None = None) -> Response:
        async with request.app.state.pool.acquire() as conn:
            proposals = await pending_proposals(conn, user)
            await audit(conn, user, "proposals_viewed", None, f"{len(proposals)} waiting")
        message = {"confirmed": DONE_CONFIRMED, "rejected": DONE_REJECTED}.get(done or "")
        return TEMPLATES.TemplateResponse(
            request, "identity.html", {"user": user, "proposals": proposals, "done": message}
        )

    @app.post("/identity/{proposal_id}/{decision}", dependencies=[CSRF])
    async def decide(request: Request, proposal_id: str, decision: str, user: Current) -> Response:
        if decision not in ("confirm", "reject"):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such decision")
        async with request.app.state.pool.acquire() as conn, conn.transaction():
            proposal = await conn.fetchrow(
                "SELECT * FROM link_proposals WHERE proposal_id = $1 FOR UPDATE", proposal_id
            )
            if proposal is None or not may_decide(user, proposal):
                raise HTTPException(status.HTTP_404_NOT_FOUND, "no such proposal")
            if proposal["status"] != "pending":
                raise HTTPException(status.HTTP_409_CONFLICT, f"already {proposal['status']}")
            link_event_id = None
            if decision == "confirm":
                link_event_id = f"confirmed-{proposal_id}"
                # Published before it is recorded: if the broker refuses, nothing is recorded
                # and the practitioner can confirm again (the same event id: one link).
                await request.app.state.producer.send_and_wait(
                    settings.topic_identity_links,
                    key=proposal["ref_a"].encode(),
                    value=link_codec.encode(
                        {
                            "event_id": link_event_id,
                            "ref_a": proposal["ref_a"],
                            "ref_b": proposal["ref_b"],
                            "basis": "confirmed_match",
                            "agency": {
                                "id": user.local_authority or "partnership",
                                "type": "local_authority",
                            },
                            "stated_at": dt.datetime.now(dt.UTC),
                            "withdrawn": False,
                            "source_ref": proposal_id,
                        }
                    ),
                )
            status_now = "confirmed" if decision == "confirm" else "rejected"
            await conn.execute(
                "UPDATE link_proposals SET status = $2, decided_by = $3, decided_at = now(),"
                " link_event_id = $4 WHERE proposal_id = $1",
                proposal_id,
                status_now,
                user.username,
                link_event_id,
            )
            await audit(
                conn,
                user,
                f"link_{status_now}",
                None,
                f"proposal {proposal_id} ({proposal['similarity']:.2f})",
            )
        return RedirectResponse(
            f"/identity?done={status_now}", status_code=status.HTTP_303_SEE_OTHER
        )

    return app


DONE_CONFIRMED = (
    "Confirmed: the two records are joined into one child. Their alerts now show everything "
    "both agencies know."
)
DONE_REJECTED = "Recorded as not the same child: this pair will not be proposed again."
