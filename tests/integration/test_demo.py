"""``safeguard demo --once``: the whole pipeline, a scenario's alerts, and nothing left running."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

from .helpers import safeguard
from .test_worker import worker_env as worker_env  # the fixture, shared


def test_the_demo_raises_the_scenarios_alerts_and_stops_what_it_started(
    worker_env: dict[str, str], dsn: str, tmp_path: Path
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = subprocess.run(
        safeguard("demo", "--once", "--children", "40", "--port", str(port)),
        env={**os.environ, **worker_env, "SAFEGUARD_DATABASE_URL": dsn, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = re.search(r"(\d+) alerts at", result.stdout)
    assert summary and int(summary[1]) > 10, result.stdout[-2000:]
    assert re.search(r"critical +concern", result.stdout)
    assert re.search(r"\d+ +missing_from_education +low", result.stdout)  # the Traveller family
    assert f"http://127.0.0.1:{port}" in result.stdout and "login demo / " in result.stdout
    pids = [int(p) for p in re.findall(r"started [a-z-]+ \(pid (\d+)", result.stdout)]
    assert len(pids) == 4
    assert not any(Path(f"/proc/{pid}").exists() and "Z" not in _state(pid) for pid in pids)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return "Z"
