"""Administration: ``safeguard db``, ``safeguard agency`` and ``safeguard user``."""

from __future__ import annotations

import sys
from typing import Annotated

import asyncpg
import typer

from consumers.dashboard.queries import audit
from consumers.users import (
    User,
    add_user,
    disable_user,
    enable_user,
    list_users,
    reset_password,
)
from producers.agencies import (
    add_agency,
    issue_token,
    list_tokens,
    parse_areas,
    revoke_token,
    rotate_token,
)
from safeguard.cli.common import console, friendly_errors, with_db
from safeguard.kernel.db import migrate

db_app = typer.Typer(help="The PostgreSQL schema.")
agency_app = typer.Typer(help="Agencies and their intake tokens.")
user_app = typer.Typer(help="Dashboard users.")


@db_app.command("migrate")
@friendly_errors
def db_migrate() -> None:
    """Apply the database migrations not yet applied, as the schema's owner."""
    applied = with_db(migrate, owner=True)
    console.print(f"applied: {', '.join(applied)}" if applied else "the schema is up to date")


@agency_app.command("add")
@friendly_errors
def agency_add(
    agency_id: Annotated[str, typer.Argument(help="The agency's id, e.g. hb-cardiff.")],
    agency_type: Annotated[str, typer.Option("--type", help="school, health, police, ...")],
    name: Annotated[str, typer.Option(help="The agency's name.")],
    serves: Annotated[
        str,
        typer.Option(
            help="ONS codes of the local authorities it serves, comma-separated, or all "
            "(a national agency): it may publish about children in those only."
        ),
    ],
    contact: Annotated[
        str, typer.Option(help="Whom to call about its records: a team's phone or mailbox.")
    ] = "",
) -> None:
    """Register an agency in the partnership (it may then publish through the intake)."""
    areas = parse_areas(serves)
    with_db(lambda conn: add_agency(conn, agency_id, agency_type, name, contact or None, areas))
    where = "every local authority" if areas is None else ", ".join(areas)
    console.print(f"added {agency_id} ({agency_type}), serving {where}", highlight=False)


@agency_app.command("token")
@friendly_errors
def agency_token(
    agency_id: Annotated[str, typer.Argument(help="The agency's id.")],
    days: Annotated[int, typer.Option(help="How long it works (1 to 730 days).")] = 365,
) -> None:
    """Issue a bearer token for an agency. It is shown once: store it safely."""
    console.print(with_db(lambda conn: issue_token(conn, agency_id, days)), highlight=False)


@agency_app.command("tokens")
@friendly_errors
def agency_tokens(agency_id: Annotated[str, typer.Argument(help="The agency's id.")]) -> None:
    """An agency's tokens: id, issued, expires, and whether revoked (never the secret)."""
    for t in with_db(lambda conn: list_tokens(conn, agency_id)):
        state = "revoked" if t["revoked_at"] else "active"
        console.print(
            f"sgt_{t['token_id']}  issued {t['created_at']:%Y-%m-%d}  "
            f"expires {t['expires_at']:%Y-%m-%d %H:%M}  {state}",
            highlight=False,
        )


@agency_app.command("rotate")
@friendly_errors
def agency_rotate(
    token_id: Annotated[str, typer.Argument(help="sgt_<id> or the whole token.")],
    grace_hours: Annotated[
        int, typer.Option(help="Hours the old token still works, to put the new one in place.")
    ] = 24,
) -> None:
    """Issue a token's successor (shown once) and let the old one work only a grace period."""
    console.print(with_db(lambda conn: rotate_token(conn, token_id, grace_hours)), highlight=False)


@agency_app.command("revoke")
@friendly_errors
def agency_revoke(
    token_id: Annotated[str, typer.Argument(help="sgt_<id> or the whole token.")],
) -> None:
    """Revoke a token at once."""
    with_db(lambda conn: revoke_token(conn, token_id))
    console.print("revoked", highlight=False)


@user_app.command("add")
@friendly_errors
def user_add(
    username: Annotated[str, typer.Argument(help="The login name.")],
    role: Annotated[str, typer.Option(help="practitioner or admin.")] = "practitioner",
    local_authority: Annotated[str, typer.Option(help="ONS code; practitioners see only it.")] = "",
    service: Annotated[
        str,
        typer.Option(
            help="The kind of agency they work in (police, social_care, health, school, ...): "
            "the guidance beside each action shows its practice points first."
        ),
    ] = "",
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin.")] = False,
) -> None:
    """Add a dashboard user; asks for the password (at least 12 characters)."""
    password = _password(password_stdin)
    with_db(
        lambda conn: add_user(
            conn, username, password, role, local_authority or None, service or None
        )
    )
    console.print(f"added {username} ({role}, {local_authority or 'all areas'})", highlight=False)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt("password", hide_input=True, confirmation_prompt=True))


USER = Annotated[str, typer.Argument(help="The login name.")]
#: Who the audit names for a change made with these commands.
COMMAND_LINE = User("(command line)", "admin", None)


async def audit_record(
    conn: asyncpg.Connection, username: str, action: str, detail: str | None
) -> None:
    await audit(conn, COMMAND_LINE, action, None, f"{username}: {detail}" if detail else username)


@user_app.command("disable")
@friendly_errors
def user_disable(username: USER) -> None:
    """Stop a user signing in, and end their sessions and live lists at once (audited)."""

    async def run(conn: asyncpg.Connection) -> int:
        ended = await disable_user(conn, username)
        await audit_record(conn, username, "user_disabled", f"{ended} sessions ended")
        return ended

    ended = with_db(run)
    console.print(f"disabled {username}; {ended} open sessions ended", highlight=False)


@user_app.command("enable")
@friendly_errors
def user_enable(username: USER) -> None:
    """Let a disabled user sign in again (audited)."""

    async def run(conn: asyncpg.Connection) -> None:
        await enable_user(conn, username)
        await audit_record(conn, username, "user_enabled", None)

    with_db(run)
    console.print(f"enabled {username}", highlight=False)


@user_app.command("reset-password")
@friendly_errors
def user_reset_password(
    username: USER,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin.")] = False,
) -> None:
    """Give a user a new password; their sessions signed in with the old one end (audited)."""
    password = _password(password_stdin)

    async def run(conn: asyncpg.Connection) -> int:
        ended = await reset_password(conn, username, password)
        await audit_record(conn, username, "password_reset", f"{ended} sessions ended")
        return ended

    ended = with_db(run)
    console.print(f"new password for {username}; {ended} open sessions ended", highlight=False)


@user_app.command("list")
@friendly_errors
def user_list() -> None:
    """Every user: role, area, state, open sessions, last sign-in."""
    rows = with_db(list_users)
    for r in rows:
        state = "disabled" if r["disabled_at"] else "active"
        last = r["last_login"].isoformat(timespec="minutes") if r["last_login"] else "never"
        console.print(
            f"{r['username']:<24}{r['role']:<14}{r['local_authority'] or 'all areas':<11}"
            f"{state:<10}{r['open_sessions']} sessions  last sign-in {last}",
            highlight=False,
        )
