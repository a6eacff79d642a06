from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from safeguard.infra.process import PidFile, ensure_port_free, require_tool
from safeguard.kernel.errors import MissingToolError, PortInUseError


def test_missing_tool_names_the_debian_package() -> None:
    with pytest.raises(MissingToolError) as info:
        require_tool("no-such-program-xyz", "openjdk-17-jre-headless")
    assert str(info.value) == (
        "no-such-program-xyz is not installed; install it with: "
        "apt-get install -y openjdk-17-jre-headless"
    )


def test_port_in_use_names_the_port() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(
            PortInUseError, match=rf"^port {port} \(Kafka broker\) is already in use"
        ):
            ensure_port_free(port, "Kafka broker")


def test_pid_file_ignores_a_pid_that_is_not_ours(tmp_path: Path) -> None:
    pidfile = PidFile(tmp_path / "x.pid", marker="safeguard-kafka:/nowhere")
    pidfile.write(os.getpid())  # this test process: alive, but not the service
    assert pidfile.read() is None
    assert not pidfile.path.exists()
    assert pidfile.stop() is False


def test_pid_file_stops_exactly_its_own_process(tmp_path: Path) -> None:
    marker = f"marker-{tmp_path.name}"
    proc = subprocess.Popen([sys.executable, "-c", "import time, sys; time.sleep(60)", marker])
    try:
        pidfile = PidFile(tmp_path / "svc.pid", marker=marker)
        pidfile.write(proc.pid)
        # On a loaded machine the child may not show its new command line at once.
        deadline = time.monotonic() + 10
        while pidfile.read() is None and time.monotonic() < deadline:
            pidfile.write(proc.pid)
            time.sleep(0.05)
        assert pidfile.read() == proc.pid
        assert pidfile.stop(timeout=10) is True
        assert proc.wait(timeout=10) == -signal.SIGTERM
        assert not pidfile.path.exists()
    finally:
        proc.kill()
        proc.wait()
