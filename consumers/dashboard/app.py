"""The dashboard web app (FastAPI, server-rendered pages, server-sent events).

    GET  /login, POST /login, POST /logout
    POST /language               Welsh or English, kept for the session and the user
    GET  /                       open alerts (?level=, ?kind=, ?sort=, ?page=), live over /events
    GET  /events                 server-sent events: alerts changed since the page loaded, and
                                 the pipeline's state as it changes (``event: pipeline``)
    GET  /alerts/{alert_id}      the alert: what to do with the guide's practice points, reasons,
                                 evidence, versions (audited)
    GET  /alerts/{alert_id}/child  the child's whole story in one chronology (each alert audited)
    POST /alerts/{alert_id}/acknowledge | /assign | /close   (audited, published as AlertAction)
    GET  /identity               links proposed from agencies' encodings, waiting (audited)
    GET  /audit                  the audit trail, filterable, for administrators (audited)
    POST /identity/{id}/confirm | /reject   (audited; a confirmation publishes the identity link)

Sessions live in the database; the signed cookie (``SameSite=Strict``, so another site cannot
post with it) only names one, so signing out or removing the user ends it at once. Every POST
also needs the session's form token (``consumers.dashboard.csrf``). A
practitioner sees only their local authority's alerts; an administrator sees all. Every page
says when the pipeline behind it is down or behind (``consumers.dashboard.pipeline``), and is
in the reader's language (``consumers.dashboard.i18n``).
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
import jinja2
from fastapi import Depends, FastAPI, Form, HTTPException, Query, Request, status
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.staticfiles import StaticFiles

from consumers.dashboard import i18n
from consumers.dashboard.actions import guidance, text_of
from consumers.dashboard.csrf import csrf_token, renew, require_csrf
from consumers.dashboard.feeds import FeedHub, parse_time
from consumers.dashboard.i18n import N_, Said
from consumers.dashboard.pipeline import PipelineWatch
from consumers.dashboard.queries import (
    KINDS,
    LEVELS,
    OUTCOMES,
    SORTS,
    audit,
    audit_actions,
    audit_entries,
    changed_alerts,
    child_alerts,
    child_history,
    finished_alerts,
    may_decide,
    may_see,
    open_page,
    pending_proposals,
)
from consumers.dashboard.reasons import render
from consumers.dashboard.story import KIND_FILTERS, chronology
from consumers.dashboard.story import KINDS as STORY_KINDS
from consumers.dashboard.throttle import Throttle
from consumers.dashboard.views import (
    GROUP_NAMES,
    KIND_NAMES,
    Names,
    area,
    day,
    load_names,
    names_of,
    plain,
    row_view,
    when,
)
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

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    extensions=["jinja2.ext.i18n"],
)
_ENV.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
TEMPLATES = Jinja2Templates(
    env=_ENV, context_processors=[lambda request: {"language": i18n.current.get()}]
)
TEMPLATES.env.globals["other_languages"] = lambda: [
    (code, name) for code, name in i18n.LANGUAGE_NAMES.items() if code != i18n.current.get()
]
TEMPLATES.env.filters["translate"] = i18n.translate
TEMPLATES.env.globals["csrf_token"] = csrf_token
TEMPLATES.env.globals["pipeline_view"] = lambda request: request.app.state.pipeline.view
TEMPLATES.env.globals.update(
    area=area, kind_name=lambda kind: i18n.translate(KIND_NAMES.get(kind) or kind)
)
TEMPLATES.env.filters.update(
    when=when, day=day, words=lambda code: i18n.translate(code.replace("_", " "))
)
STATIC = Path(__file__).parent / "static"


#: How long a sign-in lasts (the server ends the session then, whatever the cookie says).
SESSION_HOURS = 8
#: Live lists one user may have open at once (all of a process's share one poll a second).
MAX_FEEDS = 4
#: Audit entries one page of the audit trail shows (the newest that match).
AUDIT_ROWS = 200
#: Open alerts one page of the list shows.
PAGE_ROWS = 50
#: What an error page says, by status (never the request's values).
ERRORS = {
    404: N_("There is no such page, or it is not one you may see."),
    409: N_("This was decided already: reload the page to see the decision."),
    429: N_("Too many at once: wait a moment, then try again."),
}
COULD_NOT = N_("The dashboard could not do this.")
#: What the alert page says after each action.
DONE = {
    "acknowledged": N_("Acknowledged: every agency involved sees that you have it."),
    "assigned": N_("Assigned: the alert now shows who has it."),
    "closed": N_(
        "Closed, with your outcome and reason. New evidence or a higher level reopens it."
    ),
}


def wants_html(request: Request) -> bool:
    """A browser's page request (not the live feed, not a script)."""
    return request.url.path != "/events" and "text/html" in request.headers.get("accept", "")


def with_views(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Alerts for a list (the page and its live feed), each with the words its row shows."""
    return [{**a, "view": row_view(a)} for a in alerts]


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


class Language:
    """Sets the reader's language for the request: their choice (kept in the session), else
    their browser's preference of Welsh or English; the page's ``lang`` says which."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        accept = headers.get(b"accept-language", b"").decode("latin-1")
        chosen = scope.get("session", {}).get("lang")
        token = i18n.current.set(i18n.choose(accept, chosen))
        try:
            await self.app(scope, receive, send)
        finally:
            i18n.current.reset(token)


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
    app.add_middleware(Language)  # inside the session middleware: it reads the session
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

    @app.exception_handler(StarletteHTTPException)
    async def error_page(request: Request, exc: StarletteHTTPException) -> Response:
        """A page, not raw JSON, for a browser: what went wrong and where to go."""
        if not wants_html(request):
            return await http_exception_handler(request, exc)
        return TEMPLATES.TemplateResponse(
            request,
            "error.html",
            {
                "user": None,
                "code": exc.status_code,
                "message": ERRORS.get(exc.status_code, COULD_NOT),
            },
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        if not wants_html(request):
            return await request_validation_exception_handler(request, exc)
        fields = sorted({str(e["loc"][-1]) for e in exc.errors() if e.get("loc")})
        message = Said(
            "This request could not be read (check %(fields)s).",
            fields=", ".join(fields) or Said("the form"),
        )
        return TEMPLATES.TemplateResponse(
            request,
            "error.html",
            {"user": None, "code": 422, "message": message},
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )

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
                    N_("Too many failed sign-ins. Try again later."),
                    status.HTTP_429_TOO_MANY_REQUESTS,
                    {"Retry-After": str(wait)},
                )
            user = await authenticate(conn, username, password)
            if user is None:
                throttle.failed(username, address)
                await audit(conn, tried, "login_failed", None, f"from {address}")
                return refused(
                    request, N_("Wrong username or password."), status.HTTP_401_UNAUTHORIZED
                )
            throttle.succeeded(username)
            await audit(conn, user, "login", None, f"from {address}")
            session_id = await start_session(conn, user.username, SESSION_HOURS)
            language = await conn.fetchval(
                "SELECT language FROM users WHERE username = $1", user.username
            )
        chosen = request.session.get("lang")
        request.session.clear()
        request.session["sid"] = session_id
        # The language chosen before signing in wins; else the one the user chose last time.
        request.session["lang"] = chosen or language
        renew(request)
        return RedirectResponse("/", status_code=status.HTTP_303_SEE_OTHER)

    @app.post("/language", dependencies=[CSRF])
    async def choose_language(
        request: Request,
        language: Annotated[str, Form(max_length=8)],
        back: Annotated[str, Form(max_length=2000)] = "/",
    ) -> Response:
        """Switch between Welsh and English, for this session and (signed in) from now on."""
        if language not in i18n.LANGUAGES:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "unknown language")
        request.session["lang"] = language
        session_id = request.session.get("sid")
        if session_id:
            async with request.app.state.pool.acquire() as conn:
                user = await session_user(conn, session_id)
                if user is not None:
                    await conn.execute(
                        "UPDATE users SET language = $2 WHERE username = $1",
                        user.username,
                        language,
                    )
        # Only a plain path of this site: anything else (another site, "//host", a backslash,
        # which browsers read as a slash, or a control character) goes to the list instead.
        local = back.startswith("/") and not back.startswith("//") and back.isprintable()
        target = back if local and "\\" not in back else "/"
        return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)

    @app.post("/logout", dependencies=[CSRF])
    async def logout(request: Request) -> Response:
        session_id = request.session.get("sid")
        if session_id:
            async with request.app.state.pool.acquire() as conn:
                user = await session_user(conn, session_id)
                await end_session(conn, session_id)
                if user is not None:
                    await audit(conn, user, "logout", None)
        language = request.session.get("lang")
        request.session.clear()
        if language:
            request.session["lang"] = language
        return RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)

    @app.get("/", response_class=HTMLResponse)
    async def alert_list(
        request: Request,
        user: Current,
        level: str | None = None,
        kind: str | None = None,
        sort: str = "urgent",
        page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    ) -> Response:
        level = level if level in LEVELS else None
        kind = kind if kind in KINDS else None
        sort = sort if sort in SORTS else "urgent"
        async with request.app.state.pool.acquire() as conn:
            alerts, total = await open_page(
                conn, user, level=level, kind=kind, sort=sort, page=page, per_page=PAGE_ROWS
            )
            finished = await finished_alerts(conn, user)
            await audit(
                conn,
                user,
                "list_viewed",
                None,
                f"page {page}: {len(alerts)} of {total} open, {len(finished)} finished",
            )
        pages = max(1, -(-total // PAGE_ROWS))
        return TEMPLATES.TemplateResponse(
            request,
            "list.html",
            {
                "user": user,
                "alerts": with_views(alerts),
                "finished": with_views(finished),
                "total": total,
                "page": page,
                "pages": pages,
                "first_row": (page - 1) * PAGE_ROWS + 1,
                "sort": sort,
                "sorts": {
                    "urgent": N_("most urgent"),
                    "oldest": N_("longest open"),
                    "newest": N_("newest"),
                },
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
                    missed = await changed_alerts(conn, user, cursor)
                if missed:
                    yield f"data: {json.dumps(with_views(missed))}\n\n"
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
                    yield f"data: {json.dumps(with_views(batch))}\n\n"
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

    descriptions = {
        language: {code: catalogue[code].described(language) for code in catalogue}
        for language in i18n.LANGUAGES
    }

    def said(
        texts: list[str], codes: list[Any], evidence: list[dict[str, Any]], names: Names
    ) -> list[str]:
        """Each reason in the reader's language from its codes (alert v4), else its stored
        English sentence in plain words (older alerts, and reasons without codes)."""
        words = descriptions[i18n.current.get()]
        codes = codes + [None] * (len(texts) - len(codes))
        return [
            render(code, names, words) or plain(text, evidence, names, words)
            for text, code in zip(texts, codes, strict=False)
        ]

    async def render_alert(
        request: Request,
        user: User,
        alert_id: str,
        *,
        done: str | None = None,
        errors: dict[str, str] | None = None,
        typed: dict[str, str] | None = None,
        code: int = status.HTTP_200_OK,
    ) -> Response:
        async with request.app.state.pool.acquire() as conn:
            alert = await visible(conn, user, alert_id)
            versions = await conn.fetch(
                "SELECT version, level, rule_id, raised_at, evidence, reasons, actions,"
                " received_at, reason_codes FROM alert_versions WHERE alert_id = $1"
                " ORDER BY version DESC",
                alert_id,
            )
            await audit(conn, user, "view", alert_id, f"version {alert['version']}")
            latest = versions[0]
            raw = json.loads(latest["evidence"])
            names = await names_of(conn, raw)
        words = descriptions[i18n.current.get()]
        evidence = [
            {
                **e,
                "description": words.get(e["indicator"], e["indicator"]),
                "agency_name": names.agency(e["agency_type"], e["agency_id"]),
                "contact": names.contact(e["agency_id"]),
                "group_name": i18n.translate(GROUP_NAMES.get(e["group"], e["group"])),
            }
            for e in raw
        ]
        home = area(alert["local_authority"])
        language = i18n.current.get()
        advice = guidance()
        actions = []
        given: set[str] = set()  # each point once, under the first action it applies to
        for a in json.loads(latest["actions"]):
            mine, others = advice.points_for(a, user.service)
            actions.append(
                {
                    "code": a,
                    "text": advice.describe(a, home, language),
                    "points": [(p.id, text_of(p, language)) for p in mine if p.id not in given],
                    "other_points": [
                        (p.id, text_of(p, language)) for p in others if p.id not in given
                    ],
                }
            )
            given |= {p.id for p in (*mine, *others)}
        # An education alert's evidence is its school records, grouped under the pattern each
        # shows, so that the pattern's words appear once.
        grouped: dict[str, list[dict[str, Any]]] = {}
        for e in evidence:
            grouped.setdefault(e["description"], []).append(e)
        return TEMPLATES.TemplateResponse(
            request,
            "alert.html",
            {
                "user": user,
                "alert": alert,
                "view": row_view(dict(alert)),
                "evidence": evidence,
                "grouped": grouped,
                "reasons": said(
                    json.loads(latest["reasons"]), json.loads(latest["reason_codes"]), raw, names
                ),
                "status_reason": said(
                    [alert["status_reason"] or ""],
                    [json.loads(alert["status_reason_code"] or "null")],
                    raw,
                    names,
                )[0],
                "actions": actions,
                "versions": versions,
                "outcomes": OUTCOMES,
                "done": DONE.get(done or ""),
                "errors": errors or {},
                "typed": typed or {},
            },
            status_code=code,
        )

    @app.get("/alerts/{alert_id}", response_class=HTMLResponse)
    async def alert_page(
        request: Request, alert_id: str, user: Current, done: str | None = None
    ) -> Response:
        return await render_alert(request, user, alert_id, done=done)

    @app.get("/alerts/{alert_id}/child", response_class=HTMLResponse)
    async def child_page(
        request: Request,
        alert_id: str,
        user: Current,
        show: Annotated[list[str] | None, Query()] = None,
    ) -> Response:
        shown = [k for k in (show or STORY_KINDS) if k in STORY_KINDS] or list(STORY_KINDS)
        async with request.app.state.pool.acquire() as conn:
            await visible(conn, user, alert_id)
            alerts = [a for a in await child_alerts(conn, alert_id) if may_see(user, a)]
            ids = [a["alert_id"] for a in alerts]
            versions, actions = await child_history(conn, ids)
            for a in alerts:  # every alert read is audited, as a view of the alert page is
                await audit(conn, user, "child_viewed", a["alert_id"], f"from alert {alert_id}")
            names = await names_of(conn, (e for v in versions for e in json.loads(v["evidence"])))
        story = chronology(
            alerts,
            versions,
            actions,
            names,
            catalogue,
            lambda text, evidence, code: said([text], [code], evidence, names)[0],
        )
        return TEMPLATES.TemplateResponse(
            request,
            "child.html",
            {
                "user": user,
                "alert_id": alert_id,
                "alerts": with_views([dict(a) for a in alerts]),
                "entries": [e for e in story if e.kind in shown],
                "counts": {k: sum(1 for e in story if e.kind == k) for k in STORY_KINDS},
                "shown": shown,
                "kind_labels": KIND_FILTERS,
                "printed_at": dt.datetime.now(dt.UTC),
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
        return RedirectResponse(
            f"/alerts/{alert_id}?done={new_status}#done", status_code=status.HTTP_303_SEE_OTHER
        )

    @app.post("/alerts/{alert_id}/acknowledge", dependencies=[CSRF])
    async def acknowledge(request: Request, alert_id: str, user: Current) -> Response:
        return await act(request, user, alert_id, "acknowledge")

    @app.post("/alerts/{alert_id}/assign", dependencies=[CSRF])
    async def assign(
        request: Request,
        alert_id: str,
        user: Current,
        assignee: Annotated[str, Form(max_length=1000)] = "",
    ) -> Response:
        name = assignee.strip()
        if not 1 <= len(name) <= 80:
            return await render_alert(
                request,
                user,
                alert_id,
                errors={
                    "assignee": N_("Enter who the alert is assigned to (at most 80 characters).")
                },
                typed={"assignee": assignee[:80]},
                code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            )
        return await act(request, user, alert_id, "assign", assignee=name)

    @app.post("/alerts/{alert_id}/close", dependencies=[CSRF])
    async def close(
        request: Request,
        alert_id: str,
        user: Current,
        reason: Annotated[str, Form(max_length=2000)] = "",
        outcome: Annotated[str | None, Form(max_length=80)] = None,
    ) -> Response:
        # A client that names no outcome closes with none further (the form always names one).
        outcome = "no_further_action" if outcome is None else outcome
        errors = {}
        if outcome not in OUTCOMES:
            errors["outcome"] = N_("Choose the outcome: what was done about this child.")
        if not 3 <= len(reason.strip()) <= 200:
            errors["reason"] = Said(
                "Say why the alert can be closed, in 3 to 200 characters (you wrote %(n)d).",
                n=len(reason.strip()),
            )
        if errors:
            # The page again, saying what to change, with what was typed still there.
            return await render_alert(
                request,
                user,
                alert_id,
                errors=errors,
                typed={"reason": reason[:200], "outcome": outcome if outcome in OUTCOMES else ""},
                code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            )
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
            names = await load_names(
                conn, {a for p in proposals for a in (p["agency_a"], p["agency_b"])}, set()
            )
        message = {"confirmed": DONE_CONFIRMED, "rejected": DONE_REJECTED}.get(done or "")
        return TEMPLATES.TemplateResponse(
            request,
            "identity.html",
            {"user": user, "proposals": proposals, "done": message, "names": names},
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


DONE_CONFIRMED = N_(
    "Confirmed: the two records are joined into one child. Their alerts now show everything "
    "both agencies know."
)
DONE_REJECTED = N_("Recorded as not the same child: this pair will not be proposed again.")
