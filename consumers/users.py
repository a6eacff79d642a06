"""Dashboard users: scrypt-hashed passwords, a role, and the local authority they work for; their
life (disabled, enabled, a password reset), each change ending the user's sessions at once."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import asyncpg

from safeguard.kernel.errors import InvalidRecordError, SafeguardError
from schemas.catalogue import AGENCY_TYPES

# scrypt cost: n=2**14, r=8, p=1 (the parameters OWASP lists for scrypt), 32-byte key.
_N, _R, _P = 2**14, 8, 1
ROLES = ("practitioner", "admin")
#: The kinds of agency a user may work in.
SERVICES = AGENCY_TYPES


class UserError(SafeguardError):
    """A user could not be added."""


@dataclass(frozen=True)
class User:
    username: str
    role: str
    local_authority: str | None
    service: str | None = None
    """The kind of agency the user works in (the guidance shows its practice points first)."""

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "$".join(
        [
            "scrypt",
            str(_N),
            str(_R),
            str(_P),
            base64.b64encode(salt).decode(),
            base64.b64encode(key).decode(),
        ]
    )


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, key = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(
        password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32
    )
    return hmac.compare_digest(candidate, base64.b64decode(key))


async def add_user(
    conn: asyncpg.Connection,
    username: str,
    password: str,
    role: str,
    local_authority: str | None,
    service: str | None = None,
) -> User:
    if role not in ROLES:
        raise InvalidRecordError(f"role: {role!r} is not one of {', '.join(ROLES)}", field="role")
    if role == "practitioner" and not local_authority:
        raise InvalidRecordError(
            "local_authority: a practitioner needs one", field="local_authority"
        )
    if service is not None and service not in SERVICES:
        raise InvalidRecordError(f"service: not one of {', '.join(SERVICES)}", field="service")
    if len(password) < 12:
        raise InvalidRecordError("password: use at least 12 characters", field="password")
    try:
        await conn.execute(
            "INSERT INTO users (username, password_hash, role, local_authority, service)"
            " VALUES ($1, $2, $3, $4, $5)",
            username,
            hash_password(password),
            role,
            local_authority,
            service,
        )
    except asyncpg.UniqueViolationError:
        raise UserError(f"user {username!r} already exists") from None
    return User(username, role, local_authority, service)


#: Checked against for an unknown user: one scrypt either way, so the time taken does not say
#: whether a name exists.
_NOBODY = hash_password(secrets.token_urlsafe(24))


async def authenticate(conn: asyncpg.Connection, username: str, password: str) -> User | None:
    """The user, if the password is theirs and they are not disabled (one scrypt either way)."""
    row = await conn.fetchrow(
        "SELECT username, password_hash, role, local_authority, disabled_at FROM users"
        " WHERE username = $1",
        username,
    )
    stored = row["password_hash"] if row else _NOBODY
    # scrypt takes tens of milliseconds of CPU: in a thread, so other requests are not held up.
    if not await asyncio.to_thread(check_password, password, stored) or row is None:
        return None
    if row["disabled_at"] is not None:
        return None
    return User(row["username"], row["role"], row["local_authority"])


async def get_user(conn: asyncpg.Connection, username: str) -> User | None:
    row = await conn.fetchrow(
        "SELECT username, role, local_authority FROM users WHERE username = $1", username
    )
    return User(row["username"], row["role"], row["local_authority"]) if row else None


async def set_password(
    conn: asyncpg.Connection,
    username: str,
    password: str,
    *,
    role: str,
    local_authority: str | None = None,
) -> User:
    """Create the user, or give an existing one this password and role (used by the demo)."""
    await conn.execute(
        "INSERT INTO users (username, password_hash, role, local_authority) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash,"
        " role = EXCLUDED.role, local_authority = EXCLUDED.local_authority",
        username,
        hash_password(password),
        role,
        local_authority,
    )
    return User(username, role, local_authority)


async def start_session(conn: asyncpg.Connection, username: str, hours: int) -> str:
    """A new server-side session for ``username``; its id is all the cookie carries."""
    session_id = secrets.token_urlsafe(32)
    await conn.execute(
        "INSERT INTO sessions (session_id, username, expires_at)"
        " VALUES ($1, $2, now() + make_interval(hours => $3))",
        session_id,
        username,
        hours,
    )
    return session_id


async def session_user(conn: asyncpg.Connection, session_id: str) -> User | None:
    """The user of a session still open (not ended, not expired, the user not removed)."""
    row = await conn.fetchrow(
        "SELECT u.username, u.role, u.local_authority, u.service FROM sessions s"
        " JOIN users u ON u.username = s.username"
        " WHERE s.session_id = $1 AND s.ended_at IS NULL AND s.expires_at > now()"
        " AND u.disabled_at IS NULL",
        session_id,
    )
    return (
        User(row["username"], row["role"], row["local_authority"], row["service"]) if row else None
    )


async def end_session(conn: asyncpg.Connection, session_id: str) -> None:
    await conn.execute(
        "UPDATE sessions SET ended_at = now() WHERE session_id = $1 AND ended_at IS NULL",
        session_id,
    )


async def end_sessions(conn: asyncpg.Connection, username: str) -> int:
    """End every open session of ``username`` (its live lists end with them); how many."""
    result = await conn.execute(
        "UPDATE sessions SET ended_at = now() WHERE username = $1 AND ended_at IS NULL",
        username,
    )
    return int(result.split()[-1])


async def _change(conn: asyncpg.Connection, username: str, sql: str, *args: object) -> int:
    """Apply ``sql`` to the user and end their sessions, in one transaction; sessions ended."""
    async with conn.transaction():
        result = await conn.execute(sql, username, *args)
        if result.split()[-1] == "0":
            raise UserError(f"no user {username!r}")
        return await end_sessions(conn, username)


async def disable_user(conn: asyncpg.Connection, username: str) -> int:
    """No more sign-ins, and every session ended now; returns how many were open."""
    return await _change(
        conn,
        username,
        "UPDATE users SET disabled_at = COALESCE(disabled_at, now()) WHERE username = $1",
    )


async def enable_user(conn: asyncpg.Connection, username: str) -> None:
    await _change(conn, username, "UPDATE users SET disabled_at = NULL WHERE username = $1")


async def reset_password(conn: asyncpg.Connection, username: str, password: str) -> int:
    """A new password; every session of the old one ended now. Returns how many were open."""
    if len(password) < 12:
        raise InvalidRecordError("password: use at least 12 characters", field="password")
    return await _change(
        conn,
        username,
        "UPDATE users SET password_hash = $2, password_changed_at = now() WHERE username = $1",
        hash_password(password),
    )


async def list_users(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every user with their state, open sessions and last sign-in (from the audit)."""
    return list(
        await conn.fetch(
            "SELECT u.username, u.role, u.local_authority, u.disabled_at,"
            " u.password_changed_at,"
            " (SELECT count(*) FROM sessions s WHERE s.username = u.username"
            "   AND s.ended_at IS NULL AND s.expires_at > now()) AS open_sessions,"
            " (SELECT max(a.at) FROM audit a WHERE a.username = u.username"
            "   AND a.action = 'login') AS last_login"
            " FROM users u ORDER BY u.username"
        )
    )


async def open_sessions(conn: asyncpg.Connection, session_ids: set[str]) -> set[str]:
    """Which of ``session_ids`` are still open (not ended, not expired, the user enabled)."""
    rows = await conn.fetch(
        "SELECT s.session_id FROM sessions s JOIN users u ON u.username = s.username"
        " WHERE s.session_id = ANY($1) AND s.ended_at IS NULL AND s.expires_at > now()"
        " AND u.disabled_at IS NULL",
        list(session_ids),
    )
    return {r["session_id"] for r in rows}
