"""Helpers for integration tests: the project's own processes, and reading topics to the end."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import asyncpg
from kafka import KafkaConsumer, KafkaProducer

from safeguard.kernel.clients import connection_options, consumer_options, producer_options
from safeguard.kernel.db import migrate
from safeguard.kernel.settings import Settings

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def background(
    argv: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv`` with ``env`` added, output to ``log``; SIGTERM then SIGKILL it on exit."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv, cwd=REPO, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


class Supervised:
    """A project process started again when it stops itself for a fault (exit 70), as compose
    does; ``alive()`` restarts it if needed and fails on any other exit."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.argv, self.env, self.log = argv, env, log
        self.stack = ExitStack()
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    def __enter__(self) -> Supervised:
        self.proc = self.stack.enter_context(background(self.argv, self.env, self.log))
        return self

    def alive(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() == 70:
            self.restarts += 1
            self.proc = self.stack.enter_context(background(self.argv, self.env, self.log))
        elif self.proc.poll() is not None:
            raise AssertionError(f"{self.argv[3:]} exited with {self.proc.returncode}")
        return True

    def __exit__(self, *exc: object) -> None:
        self.stack.close()


def safeguard(*args: str) -> list[str]:
    return [sys.executable, "-m", "safeguard", *args]


def wait_for(
    predicate: Callable[[], Any], timeout: float, what: str, log: Path | None = None
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with the log's tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.5)
    tail = ""
    if log is not None and log.exists():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-60:])
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{tail}")


class TopicReader:
    """Reads every record of a topic from the beginning, keeping what it has read."""

    def __init__(self, kafka: Settings, topic: str) -> None:
        self.records: list[Any] = []
        self._consumer = KafkaConsumer(**consumer_options(kafka, "admin", None))
        self._consumer.subscribe([topic])

    def poll(self) -> list[Any]:
        for batch in self._consumer.poll(timeout_ms=500).values():
            self.records.extend(batch)
        return self.records

    def close(self) -> None:
        self._consumer.close()


def publish(kafka: Settings, topic: str, records: list[tuple[bytes | None, bytes | None]]) -> None:
    """Send ``records`` as the admin (a test stands for any agency, or for a forger)."""
    producer = KafkaProducer(**producer_options(kafka, "admin"))
    for key, value in records:
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()


def consumed_all(kafka: Settings, group: str, topic: str) -> bool:
    """True once ``group`` has committed offsets at the end of every partition of ``topic``."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError
    from kafka.structs import TopicPartition

    probe = KafkaConsumer(**consumer_options(kafka, "admin", None))
    admin = KafkaAdminClient(**connection_options(kafka, "admin"))
    try:
        partitions = [TopicPartition(topic, p) for p in probe.partitions_for_topic(topic) or ()]
        ends = probe.end_offsets(partitions)
        try:
            committed = admin.list_group_offsets({group: None}).get(group, {})
        except KafkaError as exc:
            if exc.retriable:  # e.g. the coordinator is still loading on a fresh broker
                return False
            raise
        return all(
            end == 0 or (tp in committed and committed[tp].offset >= end)
            for tp, end in ends.items()
        )
    finally:
        probe.close()
        admin.close()


def db(dsn: str, action: Callable[[asyncpg.Connection], Any]) -> Any:
    """Run ``action`` on a connection to the migrated database."""

    async def run() -> Any:
        conn = await asyncpg.connect(dsn)
        try:
            await migrate(conn)
            return await action(conn)
        finally:
            await conn.close()

    return asyncio.run(run())


def form_post(client: Any, path: str, **kwargs: Any) -> Any:
    """A form posted as the dashboard's own page posts it: with the session's form token, read
    from the sign-in page (every page's forms carry the same one)."""
    page = client.get("/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, "the sign-in page carries no form token"
    data = {**kwargs.pop("data", {}), "csrf_token": match[1]}
    return client.post(path, data=data, **kwargs)
