"""A PostgreSQL cluster of the project's own, started from Debian's PostgreSQL binaries.

``initdb`` refuses to run as root, so when invoked as root the cluster is created and run as the
unprivileged ``SAFEGUARD_POSTGRES_OS_USER`` (Debian's ``postgres`` account by default). The cluster
listens on 127.0.0.1 only, with password (SCRAM) authentication, and is stopped with ``pg_ctl``
through its own ``postmaster.pid``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import pwd
import re
import secrets
import tempfile
from pathlib import Path
from typing import Any

from safeguard.infra.process import (
    ensure_port_free,
    group_of,
    minimal_env,
    private_folder,
    reachable_home,
    require_tool,
    run_checked,
    tail,
    write_private,
)
from safeguard.kernel.errors import InfraError, ServiceUnavailableError
from safeguard.kernel.settings import Settings

log = logging.getLogger(__name__)

_DEBIAN_PACKAGE = "postgresql-15"


def postgres_bindir() -> Path:
    """The folder holding ``initdb`` and ``pg_ctl``: newest under /usr/lib/postgresql, or PATH."""
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    return require_tool("initdb", _DEBIAN_PACKAGE, search=versions).parent


#: The cluster's own superuser: only the launcher uses it, to make the roles and the database.
SUPERUSER = "postgres"


class PostgresCluster:
    """The local cluster: create once, configure, start, create the database, stop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = reachable_home(settings.data_dir.resolve(), "postgres", self._os_user())
        self.pgdata = self.home / "cluster"
        self.log_path = self.home / "postgres.log"
        self.socket_dir = self.home / "run"

    # who runs it -----------------------------------------------------------------------------

    def _os_user(self) -> str | None:
        """The account to run PostgreSQL as: None means the current (non-root) user."""
        if os.geteuid() != 0:
            return None
        user = self.settings.postgres_os_user
        try:
            pwd.getpwnam(user)
        except KeyError:
            raise InfraError(
                f"SAFEGUARD_POSTGRES_OS_USER={user!r}: no such OS account; initdb refuses to run "
                "as root, so name an unprivileged account (Debian's postgresql package adds "
                "postgres)"
            ) from None
        return user

    def _as_owner(self) -> dict[str, Any]:
        user = self._os_user()
        return {} if user is None else {"user": user, "group": group_of(user), "extra_groups": []}

    def _owner_uid(self) -> int | None:
        user = self._os_user()
        return None if user is None else pwd.getpwnam(user).pw_uid

    def _chown(self, path: Path) -> None:
        user = self._os_user()
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    # lifecycle ------------------------------------------------------------------------------

    def pid(self) -> int | None:
        """The postmaster's pid if our cluster runs (from its own ``postmaster.pid``)."""
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None
        return pid if str(self.pgdata).encode() in cmdline else None

    def start(self) -> bool:
        """Create the cluster if needed, start it unless it runs, create the database and the
        roles, and migrate the schema as its owner."""
        bindir = postgres_bindir()
        started = False
        self.ensure_credentials()
        if self.pid() is None:
            ensure_port_free(self.settings.postgres_port, "PostgreSQL")
            self.initdb(bindir)
            self.configure()
            run_checked(
                [
                    bindir / "pg_ctl",
                    "-D",
                    self.pgdata,
                    "-l",
                    self.log_path,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
                f"starting PostgreSQL (log: {self.log_path})",
                **self._as_owner(),
            )
            started = True
        self.create_database(bindir)
        asyncio.run(_migrate(self.settings.owner_dsn))
        return started

    def initdb(self, bindir: Path) -> bool:
        """Create the cluster once; True if created now."""
        if (self.pgdata / "PG_VERSION").exists():
            return False
        owner = self._owner_uid()
        for folder in (self.home, self.socket_dir):
            private_folder(folder, owner)
            self._chown(folder)
        with tempfile.NamedTemporaryFile("w", dir=self.home, delete=False) as pw:
            pw.write(self.settings.local_password("superuser") + "\n")
        pwfile = Path(pw.name)
        self._chown(pwfile)
        try:
            run_checked(
                [
                    bindir / "initdb",
                    "-D",
                    self.pgdata,
                    "-U",
                    SUPERUSER,
                    f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--no-locale",
                ],
                "initdb",
                **self._as_owner(),
            )
        finally:
            pwfile.unlink(missing_ok=True)
        write_private(
            self.pgdata / "postgresql.conf", "\ninclude_if_exists = 'safeguard.conf'\n", append=True
        )
        return True

    def configure(self) -> None:
        """Write the settings that may change between starts (port, socket folder)."""
        conf = self.pgdata / "safeguard.conf"
        write_private(
            conf,
            "listen_addresses = '127.0.0.1'\n"
            f"port = {self.settings.postgres_port}\n"
            f"unix_socket_directories = '{self.socket_dir}'\n"
            "max_connections = 200\n"
            "fsync = on\n",
        )
        self._chown(conf)

    def ensure_credentials(self) -> None:
        """Generate the cluster's passwords at its first start (kept 0600 in the data folder):
        never a documented default. A cluster made before the passwords were generated is
        refused with what to do."""
        path = self.settings.postgres_credentials_file
        if path.exists():
            return
        if (self.pgdata / "PG_VERSION").exists():
            raise InfraError(
                f"the PostgreSQL cluster in {self.pgdata} was made with a default password by an "
                f"older version: stop it (safeguard infra down) and remove {self.pgdata} to make a "
                "new one with generated passwords (its data goes with it)"
            )
        private_folder(path.parent)
        write_private(
            path,
            json.dumps({role: secrets.token_urlsafe(32) for role in ("superuser", "owner", "app")}),
        )

    def create_database(self, bindir: Path) -> None:
        """The database, owned by the schema's owner role, and the services' role, which may
        only read and write rows (neither is a superuser, neither may read server files or run
        programs, make roles or databases)."""
        s = self.settings
        owner, app, db = (
            _sql_name(s.postgres_user),
            _sql_name(s.postgres_app_user),
            _sql_name(s.postgres_db),
        )
        env = minimal_env({"PGPASSWORD": s.local_password("superuser")})
        common = [
            "-h",
            "127.0.0.1",
            "-p",
            str(s.postgres_port),
            "-U",
            SUPERUSER,
            "-v",
            "ON_ERROR_STOP=1",
        ]
        roles = "".join(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{name}') "
            f"THEN CREATE ROLE {name}; END IF; END $$;\n"
            f"ALTER ROLE {name} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
            f"PASSWORD {_sql_string(s.local_password(role))};\n"
            for name, role in ((owner, "owner"), (app, "app"))
        )
        # Passwords go on standard input, never on a command line others can read in /proc.
        run_checked(
            [bindir / "psql", *common, "-d", "postgres"], "making the roles", env=env, input=roles
        )
        exists = run_checked(
            [bindir / "psql", *common, "-d", "postgres", "-tA"],
            "checking for the database",
            env=env,
            input=f"SELECT 1 FROM pg_database WHERE datname = '{db}'",  # noqa: S608 - a checked name
        )
        if exists.strip() != "1":
            run_checked(
                [bindir / "psql", *common, "-d", "postgres"],
                "creating the database",
                env=env,
                input=f"CREATE DATABASE {db} OWNER {owner}",
            )
        grants = f"""
            ALTER DATABASE {db} OWNER TO {owner};
            REVOKE ALL ON DATABASE {db} FROM PUBLIC;
            GRANT CONNECT ON DATABASE {db} TO {app};
            ALTER SCHEMA public OWNER TO {owner};
            REVOKE ALL ON SCHEMA public FROM PUBLIC;
            GRANT USAGE ON SCHEMA public TO {app};
            ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public
                GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app};
            ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public
                GRANT USAGE, SELECT ON SEQUENCES TO {app};
            GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {app};
            GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {app};
        """
        run_checked(
            [bindir / "psql", *common, "-d", db], "granting the roles", env=env, input=grants
        )

    def stop(self) -> bool:
        if self.pid() is None:
            return False
        run_checked(
            [postgres_bindir() / "pg_ctl", "-D", self.pgdata, "-m", "fast", "-w", "stop"],
            "stopping PostgreSQL",
            **self._as_owner(),
        )
        return True

    def log_tail(self) -> str:
        return tail(self.log_path)


async def _migrate(dsn: str) -> None:
    import asyncpg

    from safeguard.kernel.db import migrate

    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await migrate(conn)
    finally:
        await conn.close()


def check_external(dsn: str, redacted: str) -> None:
    """Raise ``ServiceUnavailableError`` unless the configured external database answers."""
    import asyncpg

    async def probe() -> None:
        conn = await asyncpg.connect(dsn, timeout=5)
        await conn.close()

    try:
        asyncio.run(probe())
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise ServiceUnavailableError(
            f"no database answers at SAFEGUARD_DATABASE_URL={redacted}: {exc}"
        ) from exc


def _sql_name(value: str) -> str:
    """A role or database name as SQL: only letters, digits and underscores are accepted, so
    nothing can break out of it."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        raise InfraError(
            f"{value!r}: PostgreSQL role and database names here are letters, digits and "
            "underscores (SAFEGUARD_POSTGRES_DB, SAFEGUARD_POSTGRES_USER, "
            "SAFEGUARD_POSTGRES_APP_USER)"
        )
    return value


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
