"""ASGI middleware the web apps share: security headers, a same-origin check on every request
that changes state, and a body-size cap enforced while the body is read.

Plain ASGI (no per-request task or buffering), so the dashboard's live feed streams through.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

#: Pages may load their own scripts, styles and feeds only, and never be framed.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)


async def respond(
    send: Send, status: int, detail: str, *, headers: dict[str, str] | None = None
) -> None:
    """A small JSON error response, sent before the app has seen the request."""
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *((k.encode(), v.encode()) for k, v in (headers or {}).items()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


class SecurityHeaders:
    """Adds the security headers to every response that does not set them itself.

    ``cacheable`` says which paths may be cached (static files); every other response holds,
    or may hold, personal data and is ``no-store``. HSTS only when served over TLS.
    """

    def __init__(self, app: ASGIApp, *, hsts: bool, cacheable: Callable[[str], bool]) -> None:
        self.app, self.hsts, self.cacheable = app, hsts, cacheable

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = [
            (b"content-security-policy", CSP.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            # Not no-referrer: with it, browsers send "Origin: null" on the page's own forms.
            (b"referrer-policy", b"same-origin"),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]
        if not self.cacheable(scope["path"]):
            extra.append((b"cache-control", b"no-store"))
        if self.hsts:
            extra.append((b"strict-transport-security", b"max-age=31536000"))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers.extend((k, v) for k, v in extra if k not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


class SameOrigin:
    """Refuses a state-changing request another site's page sent (cross-site request forgery).

    Browsers say where a request comes from: ``Origin`` on every POST, and ``Sec-Fetch-Site``.
    A request whose ``Origin`` is not this site, or that a browser marks as cross-site or
    same-site (another host of the domain), gets 403 before the app sees it; with ``Origin:
    null`` (privacy settings) ``Sec-Fetch-Site`` decides; a request with neither header (not a
    browser) passes on to the app's own authentication.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in UNSAFE and not self.same_origin(scope):
            await respond(send, 403, "refused: the request came from another site")
            return
        await self.app(scope, receive, send)

    @staticmethod
    def same_origin(scope: Scope) -> bool:
        origin = header(scope, b"origin")
        if origin is not None and origin != "null":
            host = header(scope, b"host") or ""
            return origin == f"{scope.get('scheme', 'http')}://{host}"
        site = header(scope, b"sec-fetch-site")
        return site is None or site in ("same-origin", "none")


class BodyLimit:
    """Refuses a request body over ``max_bytes`` with 413: at once when its Content-Length
    says so, else as soon as more than that has arrived; nothing more is read. The body is read
    here, before the app parses anything, so a request never costs more than ``max_bytes``."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in UNSAFE:
            await self.app(scope, receive, send)
            return
        detail = f"the request body is over {self.max_bytes} bytes"
        length = header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await respond(send, 413, detail)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await respond(send, 413, detail)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)
