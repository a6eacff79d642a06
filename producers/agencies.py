"""Agencies and their intake bearer tokens, in PostgreSQL.

A token is shown once, when it is issued (``sgt_<token_id>.<secret>``); only its SHA-256 is
stored. Tokens carry 256 bits of randomness, so a fast hash is enough: there is nothing to
brute-force. A token publishes only as its own agency, until it is revoked.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import asyncpg

from safeguard.kernel.errors import InvalidRecordError, SafeguardError
from schemas.catalogue import AGENCY_TYPES


class AgencyError(SafeguardError):
    """An agency or token operation was refused."""


@dataclass(frozen=True)
class Agency:
    agency_id: str
    agency_type: str
    name: str


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def add_agency(
    conn: asyncpg.Connection,
    agency_id: str,
    agency_type: str,
    name: str,
    contact: str | None = None,
) -> Agency:
    if agency_type not in AGENCY_TYPES:
        raise InvalidRecordError(
            f"agency_type: {agency_type!r} is not one of {', '.join(AGENCY_TYPES)}",
            field="agency_type",
            value=agency_type,
        )
    try:
        await conn.execute(
            "INSERT INTO agencies (agency_id, agency_type, name, contact) VALUES ($1, $2, $3, $4)",
            agency_id,
            agency_type,
            name,
            contact,
        )
    except asyncpg.UniqueViolationError:
        raise AgencyError(f"agency {agency_id!r} already exists") from None
    return Agency(agency_id, agency_type, name)


async def issue_token(conn: asyncpg.Connection, agency_id: str) -> str:
    """A new token for ``agency_id``; the only time it is ever shown."""
    token_id = secrets.token_hex(6)
    token = f"sgt_{token_id}.{secrets.token_urlsafe(32)}"
    try:
        await conn.execute(
            "INSERT INTO agency_tokens (token_id, agency_id, token_hash) VALUES ($1, $2, $3)",
            token_id,
            agency_id,
            _hash(token),
        )
    except asyncpg.ForeignKeyViolationError:
        raise AgencyError(f"no agency {agency_id!r}; add it first") from None
    return token


async def revoke_token(conn: asyncpg.Connection, token_id: str) -> None:
    status = await conn.execute(
        "UPDATE agency_tokens SET revoked_at = now() WHERE token_id = $1 AND revoked_at IS NULL",
        token_id.removeprefix("sgt_").split(".")[0],
    )
    if status.endswith(" 0"):
        raise AgencyError(f"no active token {token_id!r}")


async def authenticate(conn: asyncpg.Connection, token: str) -> Agency | None:
    row = await conn.fetchrow(
        "SELECT a.agency_id, a.agency_type, a.name FROM agency_tokens t"
        " JOIN agencies a USING (agency_id)"
        " WHERE t.token_hash = $1 AND t.revoked_at IS NULL",
        _hash(token),
    )
    return Agency(row["agency_id"], row["agency_type"], row["name"]) if row else None
