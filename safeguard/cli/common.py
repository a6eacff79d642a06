"""What every command group shares: the consoles, clear errors instead of tracebacks, and one
way to reach the database."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import ParamSpec, TypeVar

import asyncpg
import typer
from rich.console import Console

from safeguard.kernel.db import with_connection
from safeguard.kernel.errors import SafeguardError
from safeguard.kernel.settings import load_settings

console = Console()
err = Console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")


def friendly_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Print a ``SafeguardError`` as one clear message and exit 1, instead of a traceback."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except SafeguardError as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
            raise typer.Exit(1) from None

    return wrapper


def stop(proc: subprocess.Popen[bytes], grace: float = 30) -> None:
    """Stop a child process as a supervisor would: SIGTERM, then SIGKILL after ``grace`` s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def with_db(action: Callable[[asyncpg.Connection], Awaitable[R]], *, owner: bool = False) -> R:
    """Run ``action`` on a connection to the migrated database (as the schema's owner with
    ``owner``), then close it."""
    return asyncio.run(with_connection(load_settings(), action, owner=owner))
