from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from safeguard.infra.process import (
    PidFile,
    ensure_port_free,
    minimal_env,
    private_folder,
    remove_relocated,
    require_tool,
    write_private,
)
from safeguard.kernel.errors import InfraError, MissingToolError, PortInUseError


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


def test_a_private_folder_is_made_0700_with_its_parents(tmp_path: Path) -> None:
    folder = private_folder(tmp_path / "a" / "b")
    assert [(p.stat().st_mode & 0o777) for p in (tmp_path / "a", folder)] == [0o700, 0o700]


def test_a_planted_link_is_refused_never_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "data").symlink_to(elsewhere)
    with pytest.raises(InfraError, match=r"data is a symbolic link: the launcher does not follow"):
        private_folder(tmp_path / "data" / "kafka")
    assert list(elsewhere.iterdir()) == []
    target = tmp_path / "target"
    target.write_text("root's own")
    (tmp_path / "conf").symlink_to(target)
    with pytest.raises(InfraError, match="conf is a symbolic link: the launcher does not write"):
        write_private(tmp_path / "conf", "planted")
    assert target.read_text() == "root's own"


def test_a_folder_another_account_made_is_refused(tmp_path: Path) -> None:
    foreign, uid = tmp_path / "postgres", 65534  # nobody
    foreign.mkdir()
    if os.geteuid() == 0:
        os.chown(foreign, uid, uid)
    else:  # only root can give a folder away: take one root made
        foreign, uid = Path("/var"), 0
    with pytest.raises(InfraError, match=rf"belongs to another account \(uid {uid}\)"):
        private_folder(foreign)


def test_a_launched_program_inherits_no_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAFEGUARD_PSEUDONYM_KEY", "k" * 40)
    monkeypatch.setenv("SAFEGUARD_DASHBOARD_SECRET", "s" * 40)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    env = minimal_env({"PGPASSWORD": "p"})
    assert env["PATH"] == "/usr/bin:/bin" and env["PGPASSWORD"] == "p"
    assert not [name for name in env if name.startswith("SAFEGUARD_")]


def test_a_data_folder_lets_another_account_pass_through_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        folder = private_folder(tmp_path / "repo" / ".safeguard" / "data", mode=0o711)
    finally:
        os.umask(old)
    modes = [(p.stat().st_mode & 0o777) for p in (tmp_path / "repo", folder.parent, folder)]
    assert modes == [0o711, 0o711, 0o711]


def test_relocated_folders_are_removed_but_never_one_a_planted_pointer_names(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    relocated = Path(tempfile.mkdtemp(prefix="safeguard-kafka-broker-", dir="/var/tmp"))
    (relocated / "data").mkdir()
    (data / "kafka-broker.location").write_text(f"{relocated}\n")
    precious = tmp_path / "precious"
    precious.mkdir()
    (data / "postgres.location").write_text(f"{precious}\n")  # planted: not one of ours
    assert remove_relocated(data) == [relocated]
    assert not relocated.exists() and precious.exists()
    assert list(data.glob("*.location")) == []
