"""Agencies and their intake bearer tokens, in PostgreSQL.

A token is shown once, when it is issued (``sgt_<token_id>.<secret>``); only its SHA-256 is
stored. Tokens carry 256 bits of randomness, so a fast hash is enough: there is nothing to
brute-force. A token publishes only as its own agency, and only about children in the local
authorities the agency serves, until it expires (a year unless issued for less) or is revoked;
rotating one issues its successor and lets the old one work for a grace period only.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from safeguard.kernel.errors import InvalidRecordError, SafeguardError
from schemas.catalogue import AGENCY_TYPES


class AgencyError(SafeguardError):
    """An agency or token operation was refused."""


_AREA = re.compile(r"^W06\d{6}$")


@dataclass(frozen=True)
class Agency:
    agency_id: str
    agency_type: str
    name: str
    local_authorities: tuple[str, ...] | None = None
    """The areas it serves; None: every one."""

    def serves(self, local_authority: str) -> bool:
        return self.local_authorities is None or local_authority in self.local_authorities


def parse_areas(text: str) -> tuple[str, ...] | None:
    """``--serves``: ONS codes of Welsh local authorities, comma-separated, or ``all``."""
    if text.strip().lower() == "all":
        return None
    areas = tuple(a.strip().upper() for a in text.split(",") if a.strip())
    bad = [a for a in areas if not _AREA.match(a)]
    if bad or not areas:
        raise InvalidRecordError(
            "serves: list the ONS codes of the local authorities it serves (W06000015,...), or all",
            field="serves",
        )
    return areas


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def add_agency(
    conn: asyncpg.Connection,
    agency_id: str,
    agency_type: str,
    name: str,
    contact: str | None = None,
    local_authorities: Sequence[str] | None = None,
) -> Agency:
    if agency_type not in AGENCY_TYPES:
        raise InvalidRecordError(
            f"agency_type: {agency_type!r} is not one of {', '.join(AGENCY_TYPES)}",
            field="agency_type",
            value=agency_type,
        )
    try:
        await conn.execute(
            "INSERT INTO agencies (agency_id, agency_type, name, contact, local_authorities)"
            " VALUES ($1, $2, $3, $4, $5)",
            agency_id,
            agency_type,
            name,
            contact,
            None if local_authorities is None else list(local_authorities),
        )
    except asyncpg.UniqueViolationError:
        raise AgencyError(f"agency {agency_id!r} already exists") from None
    areas = None if local_authorities is None else tuple(local_authorities)
    return Agency(agency_id, agency_type, name, areas)


async def issue_token(conn: asyncpg.Connection, agency_id: str, days: int = 365) -> str:
    """A new token for ``agency_id``, valid ``days``; the only time it is ever shown."""
    if not 1 <= days <= 730:
        raise InvalidRecordError("days: a token lasts from 1 to 730 days", field="days")
    token_id = secrets.token_hex(6)
    token = f"sgt_{token_id}.{secrets.token_urlsafe(32)}"
    try:
        await conn.execute(
            "INSERT INTO agency_tokens (token_id, agency_id, token_hash, expires_at)"
            " VALUES ($1, $2, $3, now() + make_interval(days => $4))",
            token_id,
            agency_id,
            _hash(token),
            days,
        )
    except asyncpg.ForeignKeyViolationError:
        raise AgencyError(f"no agency {agency_id!r}; add it first") from None
    return token


async def revoke_token(conn: asyncpg.Connection, token_id: str) -> None:
    status = await conn.execute(
        "UPDATE agency_tokens SET revoked_at = now() WHERE token_id = $1 AND revoked_at IS NULL",
        _token_id(token_id),
    )
    if status.endswith(" 0"):
        raise AgencyError(f"no active token {token_id!r}")


async def rotate_token(conn: asyncpg.Connection, token_id: str, grace_hours: int) -> str:
    """A successor for a token, valid as long as it would have been; the old one works only
    ``grace_hours`` more (time to put the new one in place). Returns the new token."""
    async with conn.transaction():
        old = await conn.fetchrow(
            "UPDATE agency_tokens SET expires_at = LEAST(expires_at,"
            " now() + make_interval(hours => $2))"
            " WHERE token_id = $1 AND revoked_at IS NULL AND expires_at > now()"
            " RETURNING agency_id",
            _token_id(token_id),
            grace_hours,
        )
        if old is None:
            raise AgencyError(f"no active token {token_id!r}")
        return await issue_token(conn, old["agency_id"])


async def list_tokens(conn: asyncpg.Connection, agency_id: str) -> list[asyncpg.Record]:
    """An agency's tokens (never the tokens themselves): id, issued, expires, revoked."""
    return list(
        await conn.fetch(
            "SELECT token_id, created_at, expires_at, revoked_at FROM agency_tokens"
            " WHERE agency_id = $1 ORDER BY created_at",
            agency_id,
        )
    )


def _token_id(token: str) -> str:
    return token.removeprefix("sgt_").split(".")[0]


async def authenticate(conn: asyncpg.Connection, token: str) -> Agency | None:
    row = await conn.fetchrow(
        "SELECT a.agency_id, a.agency_type, a.name, a.local_authorities FROM agency_tokens t"
        " JOIN agencies a USING (agency_id)"
        " WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND t.expires_at > now()",
        _hash(token),
    )
    if row is None:
        return None
    areas = row["local_authorities"]
    return Agency(
        row["agency_id"], row["agency_type"], row["name"], None if areas is None else tuple(areas)
    )


async def record_refusal(conn: asyncpg.Connection, agency: Agency, detail: str) -> None:
    """A request refused for going beyond the agency's scope, in the audit trail."""
    await conn.execute(
        "INSERT INTO audit (username, action, detail) VALUES ($1, 'intake_refused', $2)",
        f"agency:{agency.agency_id}",
        detail,
    )
