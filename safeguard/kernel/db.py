"""PostgreSQL: the connection pool and versioned SQL migrations.

Migrations are ``safeguard/kernel/migrations/NNN_name.sql``, applied in order, each in its own
transaction, and recorded in ``schema_migrations``; an advisory lock lets several processes start
at once. ``safeguard db migrate`` applies what is missing; services apply them at start-up.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import TypeVar

import asyncpg

from safeguard.kernel.errors import SafeguardError, ServiceUnavailableError
from safeguard.kernel.settings import Settings

log = logging.getLogger(__name__)

_MIGRATION = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
_LOCK = 0x5AFE6A4D  # advisory lock id for migrations
R = TypeVar("R")


class MigrationError(SafeguardError):
    """A migration file is misnamed or failed to apply."""


def migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every migration shipped, in order."""
    found = []
    for entry in resources.files("safeguard.kernel.migrations").iterdir():
        match = _MIGRATION.match(entry.name)
        if match:
            found.append((int(match[1]), entry.name, entry.read_text(encoding="utf-8")))
        elif entry.name.endswith(".sql"):
            raise MigrationError(f"{entry.name}: migrations are named NNN_name.sql")
    found.sort()
    versions = [v for v, _, _ in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a version: {versions}")
    return found


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply the migrations not yet recorded; return the names applied."""
    applied: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK)
    try:
        # Made only when missing: the services' role may not create tables, and need not.
        if await conn.fetchval("SELECT to_regclass('schema_migrations')") is None:
            await conn.execute(
                "CREATE TABLE schema_migrations ("
                " version int PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, name, sql in migrations():
            if version in done:
                continue
            try:
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                        version,
                        name,
                    )
            except asyncpg.InsufficientPrivilegeError as exc:
                raise MigrationError(
                    f"{name} is not applied yet, and this role may not change the schema: run "
                    "`safeguard db migrate` (as the schema's owner: SAFEGUARD_DATABASE_OWNER_URL "
                    f"for a database of your own) ({exc})"
                ) from exc
            except asyncpg.PostgresError as exc:
                raise MigrationError(f"{name} failed: {exc}") from exc
            log.info("applied migration %s", name)
            applied.append(name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK)
    return applied


async def connect_pool(dsn: str, redacted: str) -> asyncpg.Pool:
    """A pool with the schema migrated (the services' way in)."""
    try:
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=10)
    except (OSError, asyncpg.PostgresError) as exc:
        raise ServiceUnavailableError(f"no database answers at {redacted}: {exc}") from exc
    async with pool.acquire() as conn:
        await migrate(conn)
    return pool


async def with_connection(
    settings: Settings,
    action: Callable[[asyncpg.Connection], Awaitable[R]],
    *,
    owner: bool = False,
) -> R:
    """Run ``action`` on one connection to the migrated database (the commands' way in), as
    the services' role, or as the schema's owner (``owner``: migrations)."""
    try:
        conn = await asyncpg.connect(settings.owner_dsn if owner else settings.dsn, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        raise ServiceUnavailableError(
            f"no database answers at {settings.dsn_redacted}: {exc}"
        ) from exc
    try:
        await migrate(conn)
        return await action(conn)
    finally:
        await conn.close()
