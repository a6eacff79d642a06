"""``safeguard db backup FILE`` and ``safeguard db restore FILE``: the alert store's database.

A backup is ``pg_dump``'s custom format, made as the schema's owner: every table (alerts and
their versions, audit, users and sessions, agencies, proposals, the forget-lists, the migrations
applied). A restore replaces the schema's tables with the backup's in one transaction
(``pg_restore --clean --if-exists --single-transaction``), so it either all happens or nothing
does, and then removes again whatever was purged or erased after the backup was made (read
from the database before the restore). Stop the alert store, the dashboard and the intake
first. Alerts raised after the backup are still on the alert topics:
``safeguard replay alert-store --from-time <the backup's time>`` stores them again (alerts are
idempotent). The password goes to the tools in their environment,
never on their command line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Annotated
from urllib.parse import unquote, urlsplit

import typer

from consumers.retention import keep_forgotten, what_was_forgotten
from safeguard.cli.common import console, err, friendly_errors, with_db
from safeguard.kernel.errors import ConfigError, InfraError, MissingToolError
from safeguard.kernel.settings import load_settings


def tool(name: str) -> str:
    """``pg_dump`` or ``pg_restore``: on PATH, or the newest under /usr/lib/postgresql."""
    found = shutil.which(name)
    if found:
        return found
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / name).exists():
            return str(folder / name)
    raise MissingToolError(f"{name} is not installed (Debian: apt-get install postgresql-client)")


def connection(dsn: str) -> tuple[list[str], dict[str, str]]:
    """The tools' connection flags and environment for ``dsn``, the password in the latter."""
    parts = urlsplit(dsn)
    flags = [
        f"--host={parts.hostname or '127.0.0.1'}",
        f"--port={parts.port or 5432}",
        f"--username={unquote(parts.username or '')}",
        f"--dbname={unquote(parts.path.lstrip('/'))}",
    ]
    env = {**os.environ, "PGPASSWORD": unquote(parts.password or ""), "PGCONNECT_TIMEOUT": "10"}
    return flags, env


def run(argv: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        # The tools' own words (they never print the password); the last lines say why.
        reason = " ".join(done.stderr.strip().splitlines()[-3:])
        raise InfraError(f"{what} failed: {reason}")


@friendly_errors
def backup_command(
    file: Annotated[Path, typer.Argument(help="Where to write the backup (pg_dump's format).")],
) -> None:
    """Back up the database to FILE (readable by this account only)."""
    if file.exists():
        raise ConfigError(f"{file} exists: choose a new file (a backup never overwrites one)")
    flags, env = connection(load_settings().owner_dsn)
    partial = file.with_name(file.name + ".partial")
    run([tool("pg_dump"), "--format=custom", *flags, f"--file={partial}"], env, "the backup")
    partial.chmod(0o600)
    partial.rename(file)
    console.print(f"backed up to {file} ({file.stat().st_size} bytes)", highlight=False)


@friendly_errors
def restore_command(
    file: Annotated[Path, typer.Argument(help="A backup made by `safeguard db backup`.")],
    yes: Annotated[
        bool, typer.Option("--yes", help="Replace the database's contents without asking.")
    ] = False,
) -> None:
    """Replace the database's contents with FILE's, in one transaction."""
    if not file.is_file():
        raise ConfigError(f"{file} is not a file")
    if not yes:
        typer.confirm(
            "This replaces every alert, user and audit row with the backup's. Go on?", abort=True
        )
    flags, env = connection(load_settings().owner_dsn)
    # What was purged or erased since the backup was made must stay removed.
    before = with_db(what_was_forgotten, owner=True)
    run(
        [
            tool("pg_restore"),
            "--clean",
            "--if-exists",
            "--single-transaction",
            "--no-owner",
            "--exit-on-error",
            *flags,
            str(file),
        ],
        env,
        "the restore",
    )
    kept = with_db(lambda conn: keep_forgotten(conn, before), owner=True)
    console.print(
        f"restored {file}; removed again what was purged or erased since: {kept.alerts} alerts, "
        f"{kept.versions} versions, {kept.intake_records} intake records, {kept.proposals} "
        "proposals",
        highlight=False,
    )
    err.print(
        "alerts raised since the backup: `safeguard replay alert-store --from-time <its time>`"
    )
