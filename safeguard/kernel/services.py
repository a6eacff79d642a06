"""What the web apps share: a PostgreSQL pool and an idempotent Kafka producer, for their life,
and their readiness checks, served with their metrics on their operations port."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaProducer

from safeguard.kernel import ops
from safeguard.kernel.clients import Principal, producer_options
from safeguard.kernel.db import connect_pool
from safeguard.kernel.settings import Settings


def pool_and_producer(
    settings: Settings,
    principal: Principal,
    endpoints: socket.socket | None = None,
    during: Callable[[Any], AbstractAsyncContextManager[None]] | None = None,
) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """A FastAPI lifespan that puts ``pool``, a producer for ``principal`` and ``readiness``
    (the broker and the database answer) on ``app.state``; serves ``/livez``, ``/readyz`` and
    ``/metrics`` on ``endpoints`` when given; and runs ``during(app)`` inside all that."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        app.state.pool = await connect_pool(settings.dsn, settings.dsn_redacted)
        app.state.producer = AIOKafkaProducer(**producer_options(settings, principal))
        broker = ops.BrokerCheck(settings, principal)
        app.state.readiness = {
            "broker": broker,
            "database": ops.database_check(lambda: app.state.pool),
        }
        served = None
        if endpoints is not None:
            served = asyncio.create_task(
                ops.serve(ops.ops_app(principal, app.state.readiness), endpoints)
            )
        await app.state.producer.start()
        try:
            if during is None:
                yield
            else:
                async with during(app):
                    yield
        finally:
            if served is not None:
                served.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await served
            await broker.close()
            await app.state.producer.stop()
            await app.state.pool.close()

    return lifespan
