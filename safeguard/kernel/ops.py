"""Each service's operations endpoints, on a loopback port of its own
(``SAFEGUARD_<SERVICE>_OPS_PORT``).

    GET /livez    200 while the process's event loop answers (a Kubernetes liveness probe)
    GET /readyz   200 when every readiness check passes, else 503; the JSON body names each
                  check and, for a failed one, why (never a value of a record)
    GET /metrics  Prometheus text format (every metric of ``safeguard.kernel.metrics``)

The port is bound before the service starts (a port in use stops it, naming the port); ``0``
lets the system choose one, which the service logs. The endpoints are served by uvicorn inside
the service's own event loop, so a liveness answer means that loop is not stuck; they leave the
service's signal handling alone.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from safeguard.kernel import metrics
from safeguard.kernel.clients import Principal, connection_options
from safeguard.kernel.errors import PortInUseError
from safeguard.kernel.settings import Settings

log = logging.getLogger(__name__)

#: A readiness check: returns when ready; raises ``NotReady`` (or any error) when not.
Check = Callable[[], Awaitable[None]]

#: How long one readiness check may take before it counts as failed.
CHECK_TIMEOUT = 3.0


class NotReady(Exception):
    """A readiness check's answer: not ready, and why (a sentence without personal data)."""


async def readiness(checks: Mapping[str, Check]) -> tuple[bool, dict[str, str]]:
    """Run every check at once; each is ``ok`` or the reason it failed."""

    async def one(check: Check) -> str:
        try:
            await asyncio.wait_for(check(), CHECK_TIMEOUT)
        except NotReady as why:
            return str(why)
        except TimeoutError:
            return f"no answer within {CHECK_TIMEOUT:.0f}s"
        except Exception as exc:
            return f"failed: {type(exc).__name__}"
        return "ok"

    names = list(checks)
    answers = await asyncio.gather(*(one(checks[n]) for n in names))
    results = dict(zip(names, answers, strict=True))
    ok = all(a == "ok" for a in answers)
    metrics.ready.set(1 if ok else 0)
    return ok, results


def ops_app(service: str, checks: Mapping[str, Check]) -> Starlette:
    """The three endpoints for ``service`` with its readiness ``checks``."""

    async def livez(request: Request) -> Response:
        return PlainTextResponse("alive\n")

    async def readyz(request: Request) -> Response:
        ok, results = await readiness(checks)
        return JSONResponse(
            {"service": service, "ready": ok, "checks": results}, status_code=200 if ok else 503
        )

    async def metrics_page(request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/livez", livez),
            Route("/readyz", readyz),
            Route("/metrics", metrics_page),
        ]
    )


def bind(host: str, port: int, service: str) -> socket.socket:
    """The listening socket of ``service``'s endpoints; a port in use is refused by name."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise PortInUseError(
            f"the {service}'s operations port {host}:{port} cannot be used ({exc.strerror}): "
            f"set SAFEGUARD_{service.upper().replace('-', '_')}_OPS_PORT to a free port"
        ) from None
    sock.listen(64)
    sock.setblocking(False)
    log.info(
        "%s: health and metrics on http://%s:%d/readyz and /metrics",
        service,
        host,
        sock.getsockname()[1],
    )
    return sock


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the service around it owns the signals."""

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        await self._serve(sockets)


async def serve(app: Starlette, sock: socket.socket) -> None:
    """Serve ``app`` on ``sock`` until cancelled."""
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = _Server(config)
    try:
        await server.serve(sockets=[sock])
    finally:
        server.should_exit = True


@dataclass
class BrokerCheck:
    """Readiness: the broker answers a metadata request for ``principal``.

    One admin client, made at the first check and made again after a failure, so a broker that
    was away and is back is seen at the next check.
    """

    settings: Settings
    principal: Principal
    _admin: Any = field(default=None, repr=False)

    async def __call__(self) -> None:
        from aiokafka.admin import AIOKafkaAdminClient

        try:
            if self._admin is None:
                admin = AIOKafkaAdminClient(
                    **connection_options(self.settings, self.principal), request_timeout_ms=2500
                )
                await admin.start()
                self._admin = admin
            await self._admin.describe_cluster()
        except Exception as exc:
            await self.close()
            raise NotReady(
                f"the broker at {self.settings.kafka_servers} does not answer "
                f"({type(exc).__name__})"
            ) from None

    async def close(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            try:
                await admin.close()
            except Exception as exc:  # closing a client of a broker that is away
                log.debug("closing the readiness admin client: %s", type(exc).__name__)


def database_check(pool: Callable[[], Any]) -> Check:
    """Readiness: the database answers ``SELECT 1`` on a connection of the pool ``pool()``."""

    async def check() -> None:
        current = pool()
        if current is None:
            raise NotReady("not connected to the database yet")
        try:
            async with current.acquire(timeout=CHECK_TIMEOUT) as conn:
                await conn.fetchval("SELECT 1")
        except Exception as exc:
            raise NotReady(f"the database does not answer ({type(exc).__name__})") from None

    return check


class RequestMetrics:
    """ASGI middleware: counts and times every HTTP request by method, route and status.

    The route is the template the app matched (``/alerts/{alert_id}``), never the path itself.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        answered = {"status": 500}

        async def tracked(message: Any) -> None:
            if message["type"] == "http.response.start":
                answered["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", None) or "(unmatched)"
            method = scope["method"]
            metrics.http_requests.labels(method, name, str(answered["status"])).inc()
            metrics.http_latency.labels(method, name).observe(time.perf_counter() - started)
