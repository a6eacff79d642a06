"""Administration: ``safeguard db``, ``safeguard agency`` and ``safeguard user``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from consumers.users import add_user
from producers.agencies import add_agency, issue_token, revoke_token
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
    contact: Annotated[
        str, typer.Option(help="Whom to call about its records: a team's phone or mailbox.")
    ] = "",
) -> None:
    """Register an agency in the partnership (it may then publish through the intake)."""
    with_db(lambda conn: add_agency(conn, agency_id, agency_type, name, contact or None))
    console.print(f"added {agency_id} ({agency_type})", highlight=False)


@agency_app.command("token")
@friendly_errors
def agency_token(agency_id: Annotated[str, typer.Argument(help="The agency's id.")]) -> None:
    """Issue a bearer token for an agency. It is shown once: store it safely."""
    console.print(with_db(lambda conn: issue_token(conn, agency_id)), highlight=False)


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
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin.")] = False,
) -> None:
    """Add a dashboard user; asks for the password (at least 12 characters)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    with_db(lambda conn: add_user(conn, username, password, role, local_authority or None))
    console.print(f"added {username} ({role}, {local_authority or 'all areas'})", highlight=False)
