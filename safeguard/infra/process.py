"""Background processes the launcher owns: pid files, port checks, tool lookup, stopping by pid.

A service is stopped only through the pid file its own start wrote, and only if that pid's command
line still names the service's marker (so a recycled pid is never signalled).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from safeguard.kernel.errors import InfraError, MissingToolError, PortInUseError


def require_tool(name: str, debian_package: str, *, search: Sequence[Path] = ()) -> Path:
    """The path of program ``name``, or an error saying which Debian package installs it."""
    for folder in search:
        candidate = folder / name
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    if found is None:
        raise MissingToolError(
            f"{name} is not installed; install it with: apt-get install -y {debian_package}"
        )
    return Path(found)


def ensure_port_free(port: int, what: str) -> None:
    """Raise ``PortInUseError`` naming ``port`` if something already listens on it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            raise PortInUseError(
                f"port {port} ({what}) is already in use on 127.0.0.1; stop what holds it "
                f"or choose another port in the settings"
            )


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """True if a TCP connection to ``host:port`` succeeds."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file, or a note that it does not exist."""
    if not path.exists():
        return f"(no log at {path})"
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(text[-lines:])


def run_checked(
    argv: Sequence[str | Path], what: str, *, env: dict[str, str] | None = None, **kwargs: object
) -> str:
    """Run a short command; on failure raise ``InfraError`` with its own output."""
    result = subprocess.run(  # noqa: S603 - argv is built by the launcher, never from input
        [str(a) for a in argv],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        **kwargs,  # type: ignore[call-overload]  # passes user/cwd through to subprocess
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise InfraError(f"{what} failed (exit {result.returncode}):\n{output}")
    return str(result.stdout)


@dataclass(frozen=True)
class PidFile:
    """The pid file of one background service, and the marker its command line must contain."""

    path: Path
    marker: str

    def read(self) -> int | None:
        """The pid of the running service, or None (a stale file is removed)."""
        try:
            pid = int(self.path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        if not self._is_ours(pid):
            self.path.unlink(missing_ok=True)
            return None
        return pid

    def write(self, pid: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(f"{pid}\n")

    def _is_ours(self, pid: int) -> bool:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        zombie = stat.rsplit(")", 1)[-1].split()[0] == "Z"
        return not zombie and self.marker.encode() in cmdline

    def stop(self, timeout: float = 30.0) -> bool:
        """SIGTERM the service, SIGKILL it after ``timeout``; False if it was not running."""
        pid = self.read()
        if pid is None:
            return False
        _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._is_ours(pid):
            time.sleep(0.2)
        if self._is_ours(pid):
            _signal(pid, signal.SIGKILL)
            while self._is_ours(pid):
                time.sleep(0.1)
        self.path.unlink(missing_ok=True)
        return True


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def spawn(argv: Sequence[str | Path], log: Path, *, env: dict[str, str] | None = None) -> int:
    """Start ``argv`` in its own session with output appended to ``log``; return its pid."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(  # noqa: S603 - argv is built by the launcher, never from input
            [str(a) for a in argv],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
        )
    return proc.pid
