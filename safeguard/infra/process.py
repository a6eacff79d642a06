"""Background processes the launcher owns: pid files, port checks, tool lookup, stopping by pid.

A service is stopped only through the pid file its own start wrote, and only if that pid's command
line still names the service's marker (so a recycled pid is never signalled).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safeguard.kernel.errors import InfraError, MissingToolError, PortInUseError

log = logging.getLogger(__name__)


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


#: What a child process of the launcher may inherit: where programs are, the locale, the time
#: zone, the home and temporary folders, Java, and a proxy for Maven. Never a setting: the
#: pseudonym key, the linkage key, the session secret and passwords stay with the launcher.
INHERITED = (
    "PATH",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "HOME",
    "TMPDIR",
    "JAVA_HOME",
    "MAVEN_OPTS",
    "MAVEN_ARGS",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
)


def minimal_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a launched program gets: ``INHERITED`` from ours, and ``extra``."""
    env = {name: value for name in INHERITED if (value := os.environ.get(name)) is not None}
    return {**env, **(extra or {})}


def private_folder(path: Path, owner: int | None = None, mode: int = 0o700) -> Path:
    """``path`` as a folder only its owner can enter, created (with its missing parents) mode
    0700, or ``mode`` (0711 lets another account pass through to a folder of its own inside);
    ``InfraError`` when it, a folder made for it, or the folder they are made in is a symbolic
    link, or when it belongs to another account than this one (or ``owner``).

    The launcher may run as root: it never follows a link in its data folders, and never uses
    a folder another account prepared for it.
    """
    missing = []
    at = path
    while not at.exists() and not at.is_symlink():
        missing.append(at)
        at = at.parent
    if missing and at.is_symlink():  # the folder the missing ones would be made in
        _check_own(at, owner)
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile: checked below like any other
            folder.mkdir(mode=0o700)
            folder.chmod(mode)  # as asked, whatever the umask
    for folder in [*missing, path]:
        _check_own(folder, owner)
    return path


def _check_own(folder: Path, owner: int | None) -> None:
    info = folder.lstat()
    if stat.S_ISLNK(info.st_mode):
        raise InfraError(
            f"{folder} is a symbolic link: the launcher does not follow links in its data "
            "folders; remove it, or set SAFEGUARD_DATA_DIR to a real folder"
        )
    if not stat.S_ISDIR(info.st_mode):
        raise InfraError(f"{folder} is not a folder; remove it")
    if info.st_uid not in {os.geteuid(), owner}:
        raise InfraError(
            f"{folder} belongs to another account (uid {info.st_uid}): the launcher does not use "
            "folders others prepared; remove it, or set SAFEGUARD_DATA_DIR elsewhere"
        )


def write_private(path: Path, text: str, *, append: bool = False) -> None:
    """Write ``text`` to ``path`` (mode 0600 when created), never through a symbolic link."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_APPEND if append else os.O_TRUNC)
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InfraError(
                f"{path} is a symbolic link: the launcher does not write through links; remove it"
            ) from None
        raise
    with os.fdopen(fd, "a" if append else "w") as handle:
        handle.write(text)


def run_checked(
    argv: Sequence[str | Path], what: str, *, env: dict[str, str] | None = None, **kwargs: object
) -> str:
    """Run a short command (with ``minimal_env`` unless ``env`` is given); on failure raise
    ``InfraError`` with its own output."""
    result = subprocess.run(  # noqa: S603 - argv is built by the launcher, never from input
        [str(a) for a in argv],
        capture_output=True,
        text=True,
        env=env if env is not None else minimal_env(),
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


def spawn(
    argv: Sequence[str | Path],
    log: Path,
    *,
    env: dict[str, str] | None = None,
    user: str | None = None,
) -> int:
    """Start ``argv`` in its own session with output appended to ``log`` (with ``minimal_env``
    unless ``env`` is given; as ``user`` if given); return its pid."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(  # noqa: S603 - argv is built by the launcher, never from input
            [str(a) for a in argv],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env if env is not None else minimal_env(),
            **as_account(user),
        )
    return proc.pid


# accounts a service runs as when the launcher is root --------------------------------------------


def group_of(user: str) -> int:
    return pwd.getpwnam(user).pw_gid


def service_account(name: str) -> str:
    """The unprivileged system account ``name``, created (no home, no login shell) if missing."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        useradd = require_tool("useradd", "passwd")
        run_checked(
            [
                useradd,
                "--system",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                "--user-group",
                name,
            ],
            f"creating the system account {name}",
        )
    return name


def as_account(user: str | None) -> dict[str, Any]:
    """``subprocess`` options that run a program as ``user`` (nothing for None: as this one)."""
    return {} if user is None else {"user": user, "group": group_of(user), "extra_groups": []}


def give_to(path: Path, user: str | None) -> None:
    """Make ``user`` (None: nobody else) the owner of ``path``."""
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def reachable_home(data_dir: Path, name: str, os_user: str | None) -> Path:
    """``data_dir/name``, unless ``os_user`` cannot reach it (e.g. a clone under /root).

    A service run as another account must traverse every folder above its own. When it cannot,
    the service lives in a folder of its own under /var/tmp, made by ``mkdtemp`` (a name no one
    can guess beforehand, mode 0700) and given to ``os_user``; ``data_dir/<name>.location``
    remembers it. A remembered folder is used again only if it is still a real folder owned by
    ``os_user``: a link or a folder someone else made is refused, never followed.
    """
    preferred = data_dir / name
    if os_user is None or traversable_by(data_dir, os_user):
        return preferred
    owner = pwd.getpwnam(os_user).pw_uid
    pointer = data_dir / f"{name}.location"
    if pointer.is_file() and not pointer.is_symlink():
        home = Path(pointer.read_text().strip())
        return private_folder(home, owner)
    home = Path(tempfile.mkdtemp(prefix=f"safeguard-{name}-", dir="/var/tmp"))
    os.chown(home, owner, group_of(os_user))
    write_private(pointer, f"{home}\n")
    log.info("%s is not reachable by OS user %s; %s lives in %s", data_dir, os_user, name, home)
    return home


def traversable_by(folder: Path, user: str) -> bool:
    """True if ``user`` can pass through ``folder`` (made 0711 so that it may)."""
    private_folder(folder)
    # Others may pass through the data folder (its folders inside are 0700): a service run as
    # another account must reach its own.
    folder.chmod(0o711)
    return allowed(user, "-x", folder)


def allowed(user: str, test: str, path: Path) -> bool:
    """What ``test -x``/``-r`` says of ``path`` when ``user`` asks (every folder above counts)."""
    result = subprocess.run(  # noqa: S603 - fixed argv
        ["/usr/bin/test", test, str(path)], check=False, **as_account(user)
    )
    return result.returncode == 0


def account_exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True


def remove_relocated(data_dir: Path) -> list[Path]:
    """Remove the folders services kept outside ``data_dir`` (see ``reachable_home``), as its
    ``<name>.location`` pointers name them; return the folders removed."""
    removed = []
    for pointer in sorted(data_dir.glob("*.location")):
        if pointer.is_symlink() or not pointer.is_file():
            continue
        home = Path(pointer.read_text().strip())
        # Only what ``reachable_home`` makes: never a folder a planted pointer names.
        if home.parent == Path("/var/tmp") and home.name.startswith("safeguard-"):  # noqa: S108
            shutil.rmtree(home, ignore_errors=True)
            removed.append(home)
        pointer.unlink()
    return removed
