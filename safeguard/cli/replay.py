"""``safeguard replay``: process a topic again from a time or an offset, for one part's group.

After a fix (records that were dead-lettered, or handled by a rule since corrected) or to rebuild
the alert store, the part's consumer group is moved back, and the part, started again, processes
those records again. Every part is idempotent (event ids in the worker's state, alert ids and
versions in the store), so what was already right stays as it is. Kafka moves a group's offsets
only while the group has no member: stop the part first; the command refuses otherwise.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated

import typer

from safeguard.cli.common import console, err, friendly_errors
from safeguard.kernel.access import consumer_groups
from safeguard.kernel.clients import connection_options
from safeguard.kernel.errors import ConfigError
from safeguard.kernel.lag import plan_replay, rewind
from safeguard.kernel.settings import Settings, load_settings

#: The parts whose group a replay moves, and the command that runs each.
PARTS = {"worker": "safeguard worker", "alert-store": "safeguard alert-store"}


def groups_of(settings: Settings, part: str) -> list[tuple[str, list[str]]]:
    known = consumer_groups(settings)
    if part == "worker":
        return [(settings.app_id, known[settings.app_id])]
    return [(g, known[g]) for g in known if g != settings.app_id]


def moment(value: str) -> int:
    """An ISO 8601 time (a date alone is midnight UTC; no zone is UTC) in Unix milliseconds."""
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            "--from-time must be an ISO 8601 date or time, such as 2026-12-01T09:00:00Z"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


@friendly_errors
def replay_command(
    part: Annotated[str, typer.Argument(help=f"Whose records: {' or '.join(PARTS)}.")],
    topic: Annotated[
        list[str] | None,
        typer.Option("--topic", help="Only this topic (repeatable); default every topic it reads."),
    ] = None,
    from_time: Annotated[
        str | None, typer.Option("--from-time", help="From the first record at or after this.")
    ] = None,
    from_offset: Annotated[
        int | None, typer.Option("--from-offset", min=0, help="From this offset, per partition.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be processed again; move nothing.")
    ] = False,
) -> None:
    """Process records again from a time or offset (default: everything the topics still hold)."""
    if part not in PARTS:
        raise ConfigError(f"no such part {part[:40]!r}: choose {' or '.join(PARTS)}")
    if from_time is not None and from_offset is not None:
        raise ConfigError("give --from-time or --from-offset, not both")
    settings = load_settings()
    at = moment(from_time) if from_time is not None else None
    connection = connection_options(settings, "admin")
    total = 0
    for group, reads in groups_of(settings, part):
        chosen = reads
        if topic:
            unknown = sorted(set(topic) - set(reads))
            if unknown:
                raise ConfigError(f"the {part} does not read {', '.join(unknown)}")
            chosen = [t for t in reads if t in topic]
        lag, plan = asyncio.run(
            plan_replay(connection, group, chosen, from_time_ms=at, from_offset=from_offset)
        )
        again = sum(r.again for r in plan)
        waiting = sum(max(r.end - max(r.committed, r.target), 0) for r in plan)
        total += again
        for r in plan:
            if r.again:
                console.print(
                    f"{group} {r.topic}[{r.partition}]: from offset {r.committed} back to "
                    f"{r.target} ({r.again} again)",
                    highlight=False,
                )
        console.print(
            f"{group}: {again} records would be processed again, {waiting} more not yet processed",
            highlight=False,
        )
        if dry_run or not again:
            continue
        if lag.members:
            raise ConfigError(
                f"{group} has {lag.members} running member(s): stop the {part} "
                f"(`{PARTS[part]}`) first; Kafka moves a group only while none runs"
            )
        asyncio.run(rewind(connection, group, plan))
        err.print(f"{group}: moved back; start the {part} to process them again")
    if dry_run:
        console.print(f"dry run: nothing moved ({total} records in all)", highlight=False)
