"""``safeguard status``: is every part of the pipeline there, ready, and keeping up?

Asks each part itself (its ``/readyz`` on its operations port), the broker (each consumer group's
members, records waiting per topic and partition, and the newest record processed per topic)
and the launcher (the local broker and database). Prints a table, or ``--json``; exits 1 when
anything is not healthy, so a script or a cron job can act on it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from typing import Annotated, Any

import typer
from rich.table import Table

from safeguard import infra
from safeguard.cli.common import console, friendly_errors
from safeguard.kernel.access import consumer_groups
from safeguard.kernel.clients import connection_options
from safeguard.kernel.lag import GroupLag, group_lags, newest_processed
from safeguard.kernel.settings import Settings, load_settings

COMPONENTS = ("worker", "alert-store", "intake", "dashboard")


@dataclass
class Component:
    name: str
    healthy: bool
    state: str  # ready, not ready, not running, not checked
    detail: str
    address: str


def components(settings: Settings, skip: set[str]) -> list[Component]:
    """Each service, as its own readiness endpoint answers."""
    out = []
    for name in COMPONENTS:
        port = getattr(settings, f"{name.replace('-', '_')}_ops_port")
        address = f"http://{settings.ops_host}:{port}/readyz"
        if name in skip:
            out.append(Component(name, True, "not checked", "skipped (--skip)", address))
        elif port == 0:
            out.append(Component(name, False, "not checked", "its ops port is 0 (any)", address))
        else:
            out.append(ask(name, address))
    return out


def ask(name: str, address: str) -> Component:
    try:
        with urllib.request.urlopen(address, timeout=5) as answer:  # noqa: S310 - loopback http
            body = json.load(answer)
    except urllib.error.HTTPError as refusal:
        try:
            body = json.load(refusal)
        except ValueError:
            return Component(name, False, "not ready", f"HTTP {refusal.code}", address)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return Component(name, False, "not running", f"no answer ({reason})", address)
    failed = {k: v for k, v in body.get("checks", {}).items() if v != "ok"}
    if body.get("ready"):
        return Component(name, True, "ready", ", ".join(body.get("checks", {})) + ": ok", address)
    detail = "; ".join(f"{k}: {v}" for k, v in failed.items())
    return Component(name, False, "not ready", detail, address)


def lags(settings: Settings) -> tuple[list[GroupLag], dict[str, dict[str, float]], str | None]:
    """Every consumer group's lag and the time of the newest record it processed per topic,
    or the reason they could not be read."""
    connection = connection_options(settings, "admin")

    async def read() -> tuple[list[GroupLag], dict[str, dict[str, float]]]:
        groups = await group_lags(connection, consumer_groups(settings))
        newest = {g.group: await newest_processed(connection, g.group, g) for g in groups}
        return groups, newest

    try:
        groups, newest = asyncio.run(read())
    except Exception as exc:
        return [], {}, f"the broker did not answer ({type(exc).__name__})"
    return groups, newest, None


def when(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="seconds")


@friendly_errors
def status_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    skip: Annotated[
        list[str] | None,
        typer.Option(
            "--skip", help=f"A part this deployment does not run ({', '.join(COMPONENTS)})."
        ),
    ] = None,
) -> None:
    """Every part's health and every consumer group's lag; exits 1 when anything is unhealthy."""
    settings = load_settings()
    unknown = sorted(set(skip or []) - set(COMPONENTS))
    if unknown:
        raise typer.BadParameter(f"no such part: {', '.join(unknown)}", param_hint="--skip")
    services = infra.status(settings)
    parts = components(settings, set(skip or []))
    groups, newest, lag_error = lags(settings)
    threshold = settings.dashboard_lag_warning
    behind = [g for g in groups if g.total > threshold]
    healthy = (
        all(s.running for s in services)
        and all(p.healthy for p in parts)
        and lag_error is None
        and not behind
    )
    if as_json:
        report: dict[str, Any] = {
            "healthy": healthy,
            "infra": [
                {"name": s.name, "managed": s.managed, "running": s.running, "address": s.address}
                for s in services
            ],
            "components": [asdict(p) for p in parts],
            "consumer_groups": [
                {
                    **g.as_json(),
                    "newest_processed": {t: when(v) for t, v in newest[g.group].items()},
                }
                for g in groups
            ],
            "lag_error": lag_error,
            "lag_warning": threshold,
        }
        typer.echo(json.dumps(report, indent=2))
    else:
        show(services, parts, groups, newest, lag_error, threshold, healthy)
    if not healthy:
        raise typer.Exit(1)


def show(
    services: list[infra.ServiceStatus],
    parts: list[Component],
    groups: list[GroupLag],
    newest: dict[str, dict[str, float]],
    lag_error: str | None,
    threshold: int,
    healthy: bool,
) -> None:
    table = Table(title="Parts", title_justify="left")
    for column in ("part", "state", "detail", "where"):
        table.add_column(column, overflow="fold")
    for s in services:
        table.add_row(s.name, "running" if s.running else "stopped", "", s.address)
    for p in parts:
        table.add_row(p.name, p.state, p.detail, p.address)
    console.print(table)
    if lag_error is not None:
        console.print(f"consumer groups: not known: {lag_error}", highlight=False)
    else:
        lag_table = Table(title="Consumer groups (records waiting)", title_justify="left")
        for column in ("group", "state", "members", "topic", "waiting", "newest processed"):
            lag_table.add_column(column, overflow="fold")
        for g in groups:
            for topic, waiting in g.by_topic().items():
                seen = when(newest[g.group].get(topic))
                lag_table.add_row(g.group, g.state, str(g.members), topic, str(waiting), seen)
        console.print(lag_table)
        for g in groups:
            if g.total > threshold:
                console.print(f"{g.group} is behind: {g.total} records waiting (> {threshold})")
    console.print("healthy" if healthy else "NOT healthy", highlight=False)
