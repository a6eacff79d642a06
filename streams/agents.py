"""The agents and timers of the Faust app; what each does with a record is ``streams.handlers``.

``aggregate_observations`` consumes observations (and retractions of them), the concern signals
and practitioners' actions, keyed by ``child_ref``; ``track_registrations`` consumes school roll
changes (and retractions), the education signals and the same actions; ``match_family_moves``
consumes travelling families' departures keyed by ``family_group_ref``; ``resolve_identities``
consumes agencies' identity links (one partition) and tells each reference its group;
``spread_encodings`` sends each agency's encoding of a child to its blocks and
``match_in_blocks`` compares it there, proposing links for a practitioner;
``sweep_deadlines`` only
emits "deadline due" signals, so each child's state changes in one place.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from safeguard.kernel.access import consumer_groups
from safeguard.kernel.clients import connection_options
from streams import watchdog
from streams.app import app, settings
from streams.domain import clock
from streams.guard import Failures, Guard, apply
from streams.handlers import (
    due_signals,
    handle_departure,
    handle_link,
    handle_observation,
    handle_registration,
)
from streams.matching import handle_block, handle_encoding
from streams.schools import directory
from streams.topics import (
    deadletter,
    encoding_blocks,
    family_departures,
    identity_encodings,
    identity_links,
    observations_and_signals,
    registrations_and_signals,
)

log = logging.getLogger(__name__)

sweeps = Failures("sweep_deadlines", settings.worker_retry_seconds)
GUARD = dict(
    deadletter=deadletter,
    retry_seconds=settings.worker_retry_seconds,
    failure_limit=settings.worker_failure_limit,
    group=settings.app_id,
)


@app.agent(observations_and_signals)
async def aggregate_observations(stream: Any) -> None:
    await Guard("aggregate_observations", handle_observation, **GUARD).run(stream)


@app.task  # type: ignore[untyped-decorator]  # faust ships no type information
async def follow_schools() -> None:
    while True:  # reference data must keep flowing: a failure is logged and retried
        try:
            await directory.follow(connection_options(settings, "worker"), settings.topic_schools)
        except Exception:
            log.exception("reading %s failed; retrying in 5 s", settings.topic_schools)
            await asyncio.sleep(5)


@app.task  # type: ignore[untyped-decorator]  # faust ships no type information
async def watch_progress() -> None:
    sources = set(consumer_groups(settings)[settings.app_id])
    while True:  # the watchdog must keep watching: a failure to start is logged and retried
        try:
            await watchdog.watch(
                app,
                settings.app_id,
                connection_options(settings, "worker"),
                sources,
                settings.worker_stall_seconds,
            )
        except Exception:
            log.exception("the progress watchdog failed; starting it again in 5 s")
            await asyncio.sleep(5)


@app.agent(registrations_and_signals)
async def track_registrations(stream: Any) -> None:
    await directory.ready.wait()
    await Guard("track_registrations", handle_registration, **GUARD).run(stream)


@app.agent(family_departures)
async def match_family_moves(stream: Any) -> None:
    await Guard("match_family_moves", handle_departure, **GUARD).run(stream)


@app.agent(identity_links)
async def resolve_identities(stream: Any) -> None:
    await Guard("resolve_identities", handle_link, **GUARD).run(stream)


@app.agent(identity_encodings)
async def spread_encodings(stream: Any) -> None:
    await Guard("spread_encodings", handle_encoding, **GUARD).run(stream)


@app.agent(encoding_blocks)
async def match_in_blocks(stream: Any) -> None:
    await Guard("match_in_blocks", handle_block, **GUARD).run(stream)


@app.timer(interval=settings.education_sweep_seconds)  # type: ignore[untyped-decorator]
async def sweep_deadlines_periodically() -> None:
    await sweep_deadlines()


async def sweep_deadlines() -> None:
    """Emit a "deadline due" signal for each child whose pending deadline has come.

    Runs on every worker, over active and standby partitions alike: a signal sent twice is
    harmless, because the child's own agent decides what a due deadline means. A sweep that
    fails is tried again at the next tick; one that keeps failing stops the worker.
    """
    effects = due_signals(clock.today().isoformat())
    try:
        await apply(effects)
    except Exception as exc:
        sweeps.fail(exc)
    else:
        sweeps.succeed()
