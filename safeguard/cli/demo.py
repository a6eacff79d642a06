"""``safeguard demo``: the whole pipeline on this machine, fed a generated multi-agency scenario.

Starts Kafka and PostgreSQL (unless they run), the worker, the alert store, the dashboard and the
intake; creates a demo login; publishes a generated scenario with a progress bar; prints each alert
as it is raised; and stops everything it started on Ctrl-C. With ``--once`` it waits until the
scenario has been processed, prints a summary and stops.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import subprocess
import sys
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer
from kafka import KafkaConsumer
from kafka.structs import TopicPartition
from rich.console import Console

from safeguard import infra
from safeguard.cli.common import friendly_errors, stop
from safeguard.cli.demo_scenario import DemoError, publish_scenario
from safeguard.kernel.clients import consumer_options
from safeguard.kernel.errors import EXIT_FAULT
from safeguard.kernel.settings import Settings, load_settings, service_environment
from safeguard.kernel.topics import ensure_topics
from schemas.catalogue import LEVELS

console = Console()
DEMO_USER = "demo"
COLOURS = ("white", "yellow", "dark_orange", "red")
"""One per alert level, in the schema's rising order."""


@friendly_errors
def demo(
    once: Annotated[
        bool, typer.Option("--once", help="Run the scenario, summarise, stop.")
    ] = False,
    children: Annotated[int, typer.Option(min=1, help="Children in the scenario.")] = 120,
    seed: Annotated[int, typer.Option(help="Scenario seed.")] = 1,
    port: Annotated[int, typer.Option(help="Dashboard port (the intake uses the next).")] = 8000,
) -> None:
    """The whole pipeline on this machine with a generated scenario (Ctrl-C stops it all)."""
    raise typer.Exit(run(load_settings(), once=once, children=children, seed=seed, port=port))


def run(settings: Settings, *, once: bool, children: int, seed: int, port: int) -> int:
    started = [s.name for s in infra.up(settings) if s.started_now]
    folder = settings.data_dir / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    key = folder / "partnership.key"
    if not key.exists():
        key.write_text(secrets.token_urlsafe(48))
        key.chmod(0o600)
    # Scenario deadlines are already in the past: check them often so they show in the demo.
    env = {
        "SAFEGUARD_PSEUDONYM_KEY_FILE": str(key.resolve()),
        "SAFEGUARD_EDUCATION_SWEEP_SECONDS": "3",
        # The demo's dashboard is plain HTTP on 127.0.0.1: its cookie cannot be HTTPS-only.
        "SAFEGUARD_DASHBOARD_HTTPS_ONLY": "false",
    }
    password = _demo_login(settings)
    # Every topic exists before any part starts: the alert follower below reads them at once.
    ensure_topics(settings)
    with ExitStack() as stack:
        stack.callback(_stop_infra, settings, started)
        parts = {
            "worker": ["worker", "-l", "warning"],
            "alert-store": ["alert-store"],
            "dashboard": ["dashboard", "--port", str(port)],
            "intake": ["intake", "--port", str(port + 1)],
        }
        processes = {name: _start(stack, args, folder, env) for name, args in parts.items()}

        def restart(name: str) -> Any:
            # Exit 70: the part stopped itself for a fault that outlasted its retries; like
            # docker compose, start it again, and it redoes what it had not finished.
            console.print(f"[yellow]{name} stopped for a fault (exit 70); starting it again[/]")
            return _start(stack, parts[name], folder, env)

        alerts = _alert_follower(settings)
        publish_scenario(folder, env, children, seed)
        console.print(
            f"\n[bold]dashboard[/] http://127.0.0.1:{port}  login [bold]{DEMO_USER}[/] / "
            f"[bold]{password}[/]   intake http://127.0.0.1:{port + 1}/docs\n"
            "health and lag of every part: [bold]safeguard status[/] (another terminal)\n"
        )
        latest = _follow(alerts, processes, restart, once=once)
        alerts.close()
        _summary(latest)
    return 0


def _alert_follower(settings: Settings) -> KafkaConsumer:
    """A reader of both alert topics from their current ends: only this run's alerts print."""
    alerts = KafkaConsumer(**consumer_options(settings, "admin", None))
    partitions = [
        TopicPartition(topic, p)
        for topic in (settings.topic_alerts_concern, settings.topic_alerts_education)
        for p in alerts.partitions_for_topic(topic) or ()
    ]
    alerts.assign(partitions)
    alerts.seek_to_end(*partitions)
    for tp in partitions:
        alerts.position(tp)  # fixes the end now, before the scenario is published
    return alerts


def _demo_login(settings: Settings) -> str:
    from consumers.users import set_password
    from safeguard.kernel.db import connect_pool

    password = secrets.token_urlsafe(12)

    async def create() -> None:
        pool = await connect_pool(settings.dsn, settings.dsn_redacted)
        try:
            async with pool.acquire() as conn:
                await set_password(conn, DEMO_USER, password, role="admin")
        finally:
            await pool.close()

    asyncio.run(create())
    return password


def _start(
    stack: ExitStack, args: list[str], folder: Path, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    import os

    log = (folder / f"{args[0]}.log").open("ab")
    stack.callback(log.close)
    proc = subprocess.Popen(  # noqa: S603 - the project's own command
        [sys.executable, "-m", "safeguard", *args],
        # Each part gets only the secrets it needs: the worker neither the partnership key nor
        # the session secret, the dashboard no partnership key.
        env=service_environment(args[0], {**os.environ, **env}),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    stack.callback(stop, proc)
    console.print(f"started {args[0]} (pid {proc.pid}, log {folder / f'{args[0]}.log'})")
    return proc


def _stop_infra(settings: Settings, started: list[str]) -> None:
    if started:
        infra.down(settings)
        console.print(f"stopped {', '.join(started)}")


def _follow(
    alerts: KafkaConsumer, processes: dict[str, Any], restart: Any, *, once: bool
) -> dict[str, dict[str, Any]]:
    from schemas.codec import EventCodec

    codec = EventCodec("alert")
    latest: dict[str, dict[str, Any]] = {}
    quiet_since = time.monotonic()
    try:
        while True:
            for name, proc in list(processes.items()):
                if proc.poll() == EXIT_FAULT:
                    processes[name] = restart(name)
                elif proc.poll() is not None:
                    raise DemoError(f"{name} stopped (exit {proc.returncode}); see its log")
            got = False
            for batch in alerts.poll(timeout_ms=500).values():
                for record in batch:
                    alert = codec.decode(record.value)
                    if latest.get(alert["alert_id"], {}).get("version", 0) >= alert["version"]:
                        continue
                    latest[alert["alert_id"]] = alert
                    got = True
                    _print(alert)
            if got:
                quiet_since = time.monotonic()
            elif once and latest and time.monotonic() - quiet_since > 20:
                return latest
            elif once and not latest and time.monotonic() - quiet_since > 180:
                raise DemoError("no alert within 3 minutes; see the worker's log")
    except KeyboardInterrupt:
        console.print("\nstopping ...")
        return latest


def _print(alert: dict[str, Any]) -> None:
    agencies = sorted({e["agency_type"] for e in alert["evidence"]})
    colour = COLOURS[LEVELS.index(alert["level"])]
    kind = alert["kind"].split("_")[-1]
    line = (
        f"[{colour}]{alert['level']:<8}[/] {kind:<9} {alert['child_ref'][:10]} "
        f"v{alert['version']:<2} {'+'.join(agencies)}: {alert['reasons'][0]}"
    )
    console.print(line, highlight=False, no_wrap=True, overflow="ellipsis")


def _summary(latest: dict[str, dict[str, Any]]) -> None:
    counts = Counter((a["kind"], a["level"]) for a in latest.values())
    console.print(f"\n[bold]{len(latest)} alerts[/] at {dt.datetime.now(dt.UTC):%H:%M:%S} UTC:")
    for (kind, level), n in sorted(counts.items()):
        console.print(f"  {n:>4}  {kind:<23} {level}")
