"""Stand-ins for Faust's ``Topic.send`` in agent unit tests."""

from __future__ import annotations

import asyncio
from unittest.mock import AsyncMock


def delivered() -> AsyncMock:
    """A ``send`` whose record the broker has: it returns a future that is already done."""
    fut = asyncio.get_running_loop().create_future()
    fut.set_result(None)
    return AsyncMock(return_value=fut)


async def handled() -> None:
    """Wait until the agent has handled what it was given: ``put`` returns when the agent has
    the record, which may be before its handler ran."""
    await asyncio.sleep(0.05)
