"""A PostgreSQL cluster of the project's own, started from Debian's PostgreSQL binaries.

``initdb`` refuses to run as root, so when invoked as root the cluster is created and run as the
unprivileged ``SAFEGUARD_POSTGRES_OS_USER`` (Debian's ``postgres`` account by default). The cluster
listens on 127.0.0.1 only, with password (SCRAM) authentication, and is stopped with ``pg_ctl``
through its own ``postmaster.pid``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pwd
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from safeguard.infra.process import (
    ensure_port_free,
    minimal_env,
    private_folder,
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


class PostgresCluster:
    """The local cluster: create once, configure, start, create the database, stop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = _reachable_home(settings.data_dir.resolve(), self._os_user())
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
        return {} if user is None else {"user": user, "group": _group_of(user), "extra_groups": []}

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
        """Create the cluster if needed, start it unless it runs, create the database."""
        bindir = postgres_bindir()
        started = False
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
            pw.write(self.settings.postgres_password.get_secret_value() + "\n")
        pwfile = Path(pw.name)
        self._chown(pwfile)
        try:
            run_checked(
                [
                    bindir / "initdb",
                    "-D",
                    self.pgdata,
                    "-U",
                    self.settings.postgres_user,
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

    def create_database(self, bindir: Path) -> None:
        s = self.settings
        env = minimal_env({"PGPASSWORD": s.postgres_password.get_secret_value()})
        common = ["-h", "127.0.0.1", "-p", str(s.postgres_port), "-U", s.postgres_user]
        exists = run_checked(
            [
                bindir / "psql",
                *common,
                "-d",
                "postgres",
                "-tAc",
                # _sql_literal admits only [A-Za-z0-9_]: nothing here can break out of the quotes.
                f"SELECT 1 FROM pg_database WHERE datname = '{_sql_literal(s.postgres_db)}'",  # noqa: S608
            ],
            "checking for the database",
            env=env,
        )
        if exists.strip() != "1":
            run_checked([bindir / "createdb", *common, s.postgres_db], "createdb", env=env)

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


def _group_of(user: str) -> int:
    return pwd.getpwnam(user).pw_gid


def _sql_literal(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_]+", value):
        raise InfraError(f"SAFEGUARD_POSTGRES_DB={value!r}: use letters, digits and underscores")
    return value


def _reachable_home(data_dir: Path, os_user: str | None) -> Path:
    """``data_dir/postgres``, unless ``os_user`` cannot reach it (e.g. a clone under /root).

    PostgreSQL must traverse every folder above its data directory. When it cannot, the cluster
    lives in a folder of its own under /var/tmp, made by ``mkdtemp`` (a name no one can guess
    beforehand, mode 0700) and given to ``os_user``; ``data_dir/postgres.location`` remembers
    it. A remembered folder is used again only if it is still a real folder owned by
    ``os_user``: a link or a folder someone else made is refused, never followed.
    """
    preferred = data_dir / "postgres"
    if os_user is None or _traversable_by(data_dir, os_user):
        return preferred
    owner = pwd.getpwnam(os_user).pw_uid
    pointer = data_dir / "postgres.location"
    if pointer.is_file() and not pointer.is_symlink():
        home = Path(pointer.read_text().strip())
        return private_folder(home, owner)
    home = Path(tempfile.mkdtemp(prefix="safeguard-postgres-", dir="/var/tmp"))
    os.chown(home, owner, _group_of(os_user))
    write_private(pointer, f"{home}\n")
    log.info("%s is not reachable by OS user %s; the cluster lives in %s", data_dir, os_user, home)
    return home


def _traversable_by(folder: Path, user: str) -> bool:
    private_folder(folder)
    # Others may pass through the data folder (its folders inside are 0700): PostgreSQL, run
    # as another account, must reach its own.
    folder.chmod(0o711)
    entry = pwd.getpwnam(user)
    result = subprocess.run(  # noqa: S603 - fixed argv
        ["/usr/bin/test", "-x", str(folder)],
        user=entry.pw_uid,
        group=entry.pw_gid,
        extra_groups=[],
        check=False,
    )
    return result.returncode == 0
