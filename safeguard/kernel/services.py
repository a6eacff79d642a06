"""What the web apps share: a PostgreSQL pool and an idempotent Kafka producer, for their life."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaProducer

from safeguard.kernel.clients import Principal, producer_options
from safeguard.kernel.db import connect_pool
from safeguard.kernel.settings import Settings


def pool_and_producer(
    settings: Settings, principal: Principal
) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """A FastAPI lifespan that puts ``pool`` and a producer for ``principal`` on ``app.state``."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        app.state.pool = await connect_pool(settings.dsn, settings.dsn_redacted)
        app.state.producer = AIOKafkaProducer(**producer_options(settings, principal))
        await app.state.producer.start()
        try:
            yield
        finally:
            await app.state.producer.stop()
            await app.state.pool.close()

    return lifespan
