"""Retention and erasure: ``safeguard purge`` and ``safeguard erase``."""

from __future__ import annotations

import datetime as dt
import sys
import time
import uuid
from typing import Annotated

import asyncpg
import typer

from consumers.retention import erase_in_database, linked_references, purge
from consumers.users import get_user
from producers.erasures import BASES, publish_erasures
from safeguard.cli.common import console, friendly_errors, with_db
from safeguard.cli.data import pseudonymiser
from safeguard.kernel.errors import ConfigError, InvalidRecordError
from safeguard.kernel.settings import load_settings
from schemas.validation import check_child_ref


@friendly_errors
def purge_command(
    dry_run: Annotated[bool, typer.Option(help="Count what would go; remove nothing.")] = False,
    every_hours: Annotated[
        float, typer.Option(help="Run again every so many hours (0: once), as a scheduled job.")
    ] = 0,
) -> None:
    """Remove every row past its retention (see the README's Retention section)."""
    settings = load_settings()
    while True:
        now = dt.datetime.now(dt.UTC)
        result = with_db(
            lambda conn, now=now: purge(conn, settings, now=now, dry_run=dry_run)  # type: ignore[misc]
        )
        verb = "would remove" if dry_run else "removed"
        parts = ", ".join(f"{count} {name}" for name, count in result.counts.items())
        console.print(f"{now:%Y-%m-%d %H:%M} {verb}: {parts}", highlight=False)
        if every_hours <= 0:
            return
        time.sleep(every_hours * 3600)


@friendly_errors
def erase_command(
    by: Annotated[
        str, typer.Option(help="The dashboard administrator who decided the erasure (audited).")
    ],
    basis: Annotated[str, typer.Option(help=f"Why: {', '.join(BASES)}.")],
    child_ref: Annotated[
        list[str], typer.Option("--child-ref", help="A reference of the child (repeatable).")
    ] = [],  # noqa: B006  # typer's way of a repeatable option
    namespace: Annotated[
        str,
        typer.Option(
            help="Or: the identifier's namespace (nhs, upn, police, ...); the identifier is read "
            "from stdin, never from the command line, and pseudonymised here."
        ),
    ] = "",
    dry_run: Annotated[bool, typer.Option(help="Say what would be erased; erase nothing.")] = False,
    yes: Annotated[bool, typer.Option(help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase one child's data everywhere: every reference linked to it, in the worker's state
    and in the database (see the README's Erasure section)."""
    if basis not in BASES:
        raise InvalidRecordError(f"basis: not one of {', '.join(BASES)}", field="basis")
    settings = load_settings()
    refs = set(child_ref)
    if namespace:
        identifier = _identifier()
        refs.add(pseudonymiser(settings).child_ref(namespace, identifier))
    if not refs:
        raise ConfigError(
            "name the child: --child-ref REF, or --namespace NS with the identifier on stdin"
        )
    for ref in refs:
        check_child_ref(ref, field="child_ref")

    async def find(conn: asyncpg.Connection) -> tuple[set[str], int]:
        user = await get_user(conn, by)
        if user is None or user.role != "admin":
            raise ConfigError("--by: no dashboard administrator of that name")
        group = await linked_references(conn, refs)
        alerts = await conn.fetchval(
            "SELECT count(*) FROM alerts WHERE child_ref = ANY($1)", sorted(group)
        )
        return group, alerts

    group, alerts = with_db(find)
    console.print(
        f"{len(group)} references of the child ({len(group) - len(refs)} found linked), "
        f"{alerts} alerts",
        highlight=False,
    )
    if dry_run:
        return
    if not yes:
        typer.confirm("Erase all of it, in the worker's state and in the database?", abort=True)
    erasure_id, erased_at = uuid.uuid4().hex, dt.datetime.now(dt.UTC)
    sent = publish_erasures(
        settings, group, erasure_id=erasure_id, basis=basis, erased_at=erased_at
    )
    report = with_db(
        lambda conn: erase_in_database(
            conn, group, erasure_id=erasure_id, erased_at=erased_at, username=by
        )
    )
    console.print(
        f"erasure {erasure_id}: {sent} erasures sent to the worker; removed {report.alerts} "
        f"alerts ({report.versions} versions), {report.intake_records} intake records, "
        f"{report.proposals} proposals; {report.audit_rows_redacted} audit rows lost their "
        "free text",
        highlight=False,
    )


def _identifier() -> str:
    if sys.stdin.isatty():
        return str(typer.prompt("identifier", hide_input=True))
    return sys.stdin.readline().strip()
