"""A Faust worker killed with SIGKILL recovers its Table from the changelog topic."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from kafka import KafkaAdminClient

from safeguard.kernel.clients import kafka_env
from safeguard.kernel.settings import Settings

from .helpers import consumed_all, publish, wait_for

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def faust_worker(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "faust",
                "-A",
                "tests.integration.apps.table_app",
                "worker",
                "-l",
                "info",
            ],
            cwd=REPO,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def read_counts(port: int) -> dict[str, int] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/counts/", timeout=2) as resp:
            return dict(json.load(resp))
    except OSError:
        return None


def test_worker_killed_with_sigkill_recovers_table_from_changelog(
    kafka: Settings,
    admin: KafkaAdminClient,
    topic_factory: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topic = topic_factory("faust-in", partitions=2)
    app_id = unique_name("faust-app")
    port = free_port()
    log = tmp_path / "worker.log"
    env = {
        "SMOKE_APP_ID": app_id,
        **kafka_env(kafka),
        "SMOKE_TOPIC": topic,
        "SMOKE_WEB_PORT": str(port),
        "SMOKE_DATADIR": str(tmp_path / "first"),
    }
    keys = ["child-a"] * 3 + ["child-b"] * 2 + ["child-c"]
    expected = {"child-a": 3, "child-b": 2, "child-c": 1}
    publish(kafka, topic, [(key.encode(), b'"seen"') for key in keys])

    with faust_worker(env, log) as first:
        wait_for(lambda: read_counts(port) == expected, 90, "the first worker's counts", log)
        wait_for(lambda: consumed_all(kafka, app_id, topic), 30, "offset commit", log)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        assert first.returncode == -signal.SIGKILL

    # A new, empty data folder: the table can only come back from its changelog topic.
    env["SMOKE_DATADIR"] = str(tmp_path / "second")
    with faust_worker(env, log):
        wait_for(lambda: read_counts(port) == expected, 90, "the recovered counts", log)
        publish(kafka, topic, [(b"child-c", b'"seen"')])
        wait_for(lambda: read_counts(port) == {**expected, "child-c": 2}, 60, "a new event", log)
