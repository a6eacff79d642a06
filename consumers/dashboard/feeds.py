"""Live lists: every open one of this dashboard process fed by one database poll a second.

Each live list (``GET /events``) registers a ``Feed`` with the process's ``FeedHub``, is sent
what changed since its page loaded (one query, once), and from then on receives its share of
the hub's poll: the alerts changed since the last poll that its user may see. The same poll
asks, in one query, which of the feeds' sessions are still open; a feed whose session ended
(signed out, expired, the user disabled or removed) ends at once. So a thousand open lists cost
two queries a second, not two thousand.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from consumers.dashboard.queries import changed_alerts, may_see
from consumers.users import User, open_sessions

log = logging.getLogger(__name__)

#: Sees every alert: the hub's one poll, shared out by each feed's user.
EVERYONE = User("(live lists)", "admin", None)


@dataclass(eq=False)
class Feed:
    """One live list: whose it is, and the batches of alerts waiting for it (None: ended)."""

    user: User
    session_id: str
    queue: asyncio.Queue[list[dict[str, Any]] | None] = field(default_factory=asyncio.Queue)


class FeedHub:
    """Polls once a ``interval`` while any feed is open, and shares out what changed."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self.feeds: set[Feed] = set()
        self.polls = 0
        self._task: asyncio.Task[None] | None = None

    def open(self, pool: asyncpg.Pool, user: User, session_id: str) -> Feed:
        feed = Feed(user, session_id)
        self.feeds.add(feed)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(pool))
        return feed

    def close(self, feed: Feed) -> None:
        self.feeds.discard(feed)

    async def _run(self, pool: asyncpg.Pool) -> None:
        cursor = dt.datetime.now(dt.UTC)
        while self.feeds:
            try:
                cursor = await self._poll(pool, cursor)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                # A list must never look quiet when it cannot know: each ends, and its page
                # reconnects (and says so while it cannot).
                log.warning("live lists could not poll the database: %s", type(exc).__name__)
                for feed in self.feeds:
                    feed.queue.put_nowait(None)
                self.feeds.clear()
            await asyncio.sleep(self.interval)

    async def _poll(self, pool: asyncpg.Pool, cursor: dt.datetime) -> dt.datetime:
        feeds = list(self.feeds)
        async with pool.acquire() as conn:
            live = await open_sessions(conn, {f.session_id for f in feeds})
            changed = await changed_alerts(conn, EVERYONE, cursor)
        self.polls += 1
        for feed in feeds:
            if feed.session_id not in live:
                self.feeds.discard(feed)
                feed.queue.put_nowait(None)
                continue
            mine = [a for a in changed if may_see(feed.user, a)]
            if mine:
                feed.queue.put_nowait(mine)
        times = [t for a in changed if (t := parse_time(a["updated_at"])) is not None]
        return max([cursor, *times])


def parse_time(value: str | None) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
