"""``safeguard demo --once`` as a new user runs it: a fresh clone, a broker and a database cluster
that have never seen the project (their own ports and folders), the scenario's alerts, and
nothing left running.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from safeguard.infra.process import remove_relocated
from safeguard.kernel.settings import Settings

from .conftest import free_port
from .helpers import REPO, safeguard


def test_the_demo_in_a_fresh_clone_on_new_services_raises_the_alerts_and_stops_it_all(
    settings: Settings, tmp_path: Path
) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    port = free_port(span=2)  # the dashboard's, and the intake's next to it
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SAFEGUARD_") or k == "SAFEGUARD_CACHE_DIR"
    }
    env.update(
        SAFEGUARD_KAFKA_PORT=str(free_port()),
        SAFEGUARD_KAFKA_CONTROLLER_PORT=str(free_port()),
        SAFEGUARD_POSTGRES_PORT=str(free_port()),
        # Kafka's jars as Maven already resolved them: the clone needs no second download.
        SAFEGUARD_CACHE_DIR=str(settings.cache_dir.resolve()),
        COLUMNS="200",
    )
    try:
        result = subprocess.run(
            safeguard("demo", "--once", "--children", "40", "--port", str(port)),
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=400,
            check=False,
        )
    finally:
        # What PostgreSQL or the broker could not reach inside the clone lives elsewhere.
        remove_relocated(clone / ".safeguard/data")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "not found in cluster metadata" not in result.stderr
    worker_log = (clone / ".safeguard/data/demo/worker.log").read_text(errors="replace")
    assert "Traceback" not in worker_log, worker_log[-3000:]
    summary = re.search(r"(\d+) alerts at", result.stdout)
    assert summary and int(summary[1]) > 10, result.stdout[-2000:]
    assert re.search(r"critical +concern", result.stdout)
    assert re.search(r"\d+ +missing_from_education +low", result.stdout)  # the Traveller family
    assert f"http://127.0.0.1:{port}" in result.stdout and "login demo / " in result.stdout
    pids = [int(p) for p in re.findall(r"started [a-z-]+ \(pid (\d+)", result.stdout)]
    assert len(pids) >= 4  # a part that stopped for a fault (exit 70) is started again
    assert not any(Path(f"/proc/{pid}").exists() and "Z" not in _state(pid) for pid in pids)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return "Z"
