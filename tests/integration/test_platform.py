"""The platform the launcher starts: no secret in its processes' environment, data for their
own account only, and no planted link followed. Each test starts services of its own (own
ports, empty data folder) with the project's launcher."""

from __future__ import annotations

import asyncio
import os
import pwd
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from safeguard.infra.kafka import KafkaBroker
from safeguard.infra.postgres import PostgresCluster
from safeguard.infra.process import remove_relocated
from safeguard.kernel.settings import Settings

from .conftest import free_port, start_broker
from .helpers import safeguard

SECRETS = {
    "SAFEGUARD_PSEUDONYM_KEY": "partnership-key-that-must-stay-home-0123456789",
    "SAFEGUARD_DASHBOARD_SECRET": "session-secret-that-must-stay-home-0123456789",
}


@pytest.fixture
def own(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """Settings of services of this test's own."""
    mine = Settings(
        kafka_bootstrap=None,
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        database_url=None,
        postgres_port=free_port(),
        data_dir=tmp_path / "data",
        cache_dir=settings.cache_dir.resolve(),
    )
    yield mine
    remove_relocated(mine.data_dir)  # what lived outside the data folder goes too


def environ(pid: int) -> bytes:
    return Path(f"/proc/{pid}/environ").read_bytes()


def test_the_broker_and_database_inherit_no_secret_and_keep_their_data_private(
    own: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    broker, cluster = KafkaBroker(own), PostgresCluster(own)
    start_broker(broker)
    try:
        cluster.start()
        try:
            pids = {"kafka": broker.pid(), "postgres": cluster.pid()}
            assert all(pids.values())
            if os.geteuid() == 0:  # neither runs as root: each as its own unprivileged account
                owners = {name: Path(f"/proc/{pid}").stat().st_uid for name, pid in pids.items()}
                assert owners == {
                    "kafka": pwd.getpwnam(own.kafka_os_user).pw_uid,
                    "postgres": pwd.getpwnam(own.postgres_os_user).pw_uid,
                }
                assert broker.broker_home.stat().st_uid == owners["kafka"]
                # The passwords and the authority's key stay with the launcher.
                assert broker.home.stat().st_uid == 0
            for pid in pids.values():
                assert pid is not None
                held = environ(pid)
                assert not [v for v in SECRETS.values() if v.encode() in held]
                assert b"SAFEGUARD_" not in held
        finally:
            cluster.stop()
    finally:
        broker.stop()
    # The broker's data (every event) and the cluster are for their own account only.
    assert stat.S_IMODE(broker.home.stat().st_mode) == 0o700
    assert stat.S_IMODE(cluster.pgdata.stat().st_mode) == 0o700
    if os.geteuid() == 0 and cluster.home != own.data_dir / "postgres":
        # Not reachable by the postgres account: a folder no one could guess or prepare.
        assert cluster.home.parent == Path("/var/tmp")  # noqa: S108 - what is checked
        assert cluster.home.name.startswith("safeguard-postgres-") and len(cluster.home.name) > 24
        assert cluster.home.stat().st_uid == PostgresCluster(own)._owner_uid()


def test_a_planted_link_makes_infra_up_refuse_with_a_clear_error(
    own: Settings, tmp_path: Path
) -> None:
    target = tmp_path / "a-root-owned-file"
    target.write_text("not to be touched")
    own.data_dir.mkdir()
    (own.data_dir / "kafka").symlink_to(tmp_path / "elsewhere")
    env = {
        **os.environ,
        "SAFEGUARD_DATA_DIR": str(own.data_dir),
        "SAFEGUARD_KAFKA_PORT": str(own.kafka_port),
        "SAFEGUARD_KAFKA_CONTROLLER_PORT": str(own.kafka_controller_port),
        "SAFEGUARD_POSTGRES_PORT": str(own.postgres_port),
        "SAFEGUARD_CACHE_DIR": str(own.cache_dir),
    }
    env.pop("SAFEGUARD_KAFKA_BOOTSTRAP", None)
    env.pop("SAFEGUARD_DATABASE_URL", None)
    done = subprocess.run(safeguard("infra", "up"), env=env, capture_output=True, text=True)
    assert done.returncode != 0
    assert f"{own.data_dir / 'kafka'} is a symbolic link" in " ".join(done.stderr.split())
    assert not (tmp_path / "elsewhere").exists()
    assert target.read_text() == "not to be touched"


def test_the_services_database_role_may_only_read_and_write_rows(dsn: str) -> None:
    """The services connect as a role that is no superuser: no server files, no programs, no
    roles, no schema changes; rows only. (The postmaster's environment held the secrets once:
    that it holds none now is the test above.)"""

    async def probe() -> dict[str, str]:
        conn = await asyncpg.connect(dsn)
        refused = {}
        try:
            for name, sql in {
                "read a server file": "SELECT pg_read_binary_file('/proc/self/environ')",
                "run a program": "COPY (SELECT 1) TO PROGRAM 'true'",
                "make a role": "CREATE ROLE intruder LOGIN SUPERUSER",
                "change the schema": "CREATE TABLE intruder (x int)",
                "drop the audit trail": "DROP TABLE audit",
            }.items():
                try:
                    await conn.execute(sql)
                except asyncpg.InsufficientPrivilegeError as exc:
                    refused[name] = type(exc).__name__
            # Rows it may read and write.
            assert await conn.fetchval("SELECT count(*) >= 0 FROM alerts")
            super_user = await conn.fetchval(
                "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
            )
            refused["superuser"] = str(super_user)
        finally:
            await conn.close()
        return refused

    assert asyncio.run(probe()) == {
        "read a server file": "InsufficientPrivilegeError",
        "run a program": "InsufficientPrivilegeError",
        "make a role": "InsufficientPrivilegeError",
        "change the schema": "InsufficientPrivilegeError",
        "drop the audit trail": "InsufficientPrivilegeError",
        "superuser": "False",
    }
