"""The agents: read an event, update the child's state, ask the rules, send what they decided.

``aggregate_observations`` consumes observations keyed by ``child_ref``; ``track_registrations``
consumes school roll changes and the education signals about the same children;
``match_family_moves`` consumes travelling families' departures keyed by ``family_group_ref``;
``sweep_deadlines`` only emits "deadline due" signals, so each child's state changes in one place.
Each handler only decides (``streams.guard.Effects``); ``streams.guard`` applies the decision
(outputs on the broker first, then the state), dead-letters a record that cannot be handled and
stops the worker for a fault that is not about the record.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from schemas.codec import EventCodec
from streams import decode, watchdog
from streams.app import app, settings
from streams.domain import clock, education
from streams.domain.concern import Result, observe
from streams.domain.config import Thresholds
from streams.domain.evidence import ChildState
from streams.domain.registrations import EducationState, is_family_departure, record_registration
from streams.domain.schooldays import load_calendar
from streams.guard import Effects, Failures, Guard, apply, counters, where
from streams.schools import directory
from streams.tables import (
    child_to_deadline,
    child_to_evidence,
    child_to_registrations,
    family_to_departures,
)
from streams.topics import (
    alerts_concern,
    alerts_education,
    deadletter,
    education_signals,
    family_departures,
    observations,
    registrations_and_signals,
)

log = logging.getLogger(__name__)

CATALOGUE = decode.CATALOGUE
THRESHOLDS = Thresholds.from_settings(settings)
CALENDAR = load_calendar(settings.school_calendar_file)
if settings.clock is not None:
    clock.set_clock(clock.fixed(settings.clock))
OBSERVATION_CODEC = EventCodec("observation")
ALERT_CODEC = EventCodec("alert")
DEADLINE_DUE = b'{"type": "deadline_due"}'

sweeps = Failures("sweep_deadlines", settings.worker_retry_seconds)


GUARD = dict(
    deadletter=deadletter,
    retry_seconds=settings.worker_retry_seconds,
    failure_limit=settings.worker_failure_limit,
)


def handle_observation(message: Any, effects: Effects) -> None:
    """One observation record (a Faust ``Message``: topic, partition, offset, key, value)."""
    observation = decode.observation(message.key, message.value)
    key = message.key
    state = ChildState.from_json(effects.read(child_to_evidence, key))
    step = observe(state, observation, CATALOGUE, THRESHOLDS)
    counters[step.result.value] += 1
    if step.alert is not None:
        effects.send(alerts_concern, key, ALERT_CODEC.encode(step.alert, check=False))
        log.info(
            "alert %s v%d %s for child %s (%s)",
            step.alert["alert_id"],
            step.alert["version"],
            step.alert["level"],
            observation["child_ref"],
            step.result.value,
        )
    elif step.result is Result.ADULT:
        log.info("observation %s not aggregated: 18 or over", observation["event_id"])
    if step.changed:
        effects.write(child_to_evidence, key, state.to_json())


@app.agent(observations)
async def aggregate_observations(stream: Any) -> None:
    await Guard("aggregate_observations", handle_observation, **GUARD).run(stream)


@app.task  # type: ignore[untyped-decorator]  # faust ships no type information
async def follow_schools() -> None:
    while True:  # reference data must keep flowing: a failure is logged and retried
        try:
            await directory.follow(settings.kafka_servers, settings.topic_schools)
        except Exception:
            log.exception("reading %s failed; retrying in 5 s", settings.topic_schools)
            await asyncio.sleep(5)


@app.task  # type: ignore[untyped-decorator]  # faust ships no type information
async def watch_progress() -> None:
    sources = {
        settings.topic_observations,
        settings.topic_school_registrations,
        settings.topic_education_signals,
        settings.topic_family_departures,
    }
    while True:  # the watchdog must keep watching: a failure to start is logged and retried
        try:
            await watchdog.watch(
                app, settings.app_id, settings.kafka_servers, sources, settings.worker_stall_seconds
            )
        except Exception:
            log.exception("the progress watchdog failed; starting it again in 5 s")
            await asyncio.sleep(5)


@app.agent(registrations_and_signals)
async def track_registrations(stream: Any) -> None:
    await directory.ready.wait()
    await Guard("track_registrations", handle_registration, **GUARD).run(stream)


def handle_registration(message: Any, effects: Effects) -> None:
    """Apply a school roll change or an education signal to the child's registration state."""
    key = message.key
    state = EducationState.from_json(effects.read(child_to_registrations, key))
    if message.topic == settings.topic_education_signals:
        signal = decode.signal(key, message.value)
        if signal["type"] == "family_move" and signal["event_id"] not in state.family_moves:
            state.family_moves.append(signal["event_id"])
        step_education(state, key, effects, resend=False)
        return
    record = decode.registration(key, message.value)
    # A family move is signalled only after the departure was handled, so it comes first in a
    # run with no fault; after a crash the signal can be read before the departure is redone.
    # Then the departure is handled as it was before the signal, and the signal after it, so
    # the alert versions are those of a run with no fault.
    early = record["event_id"] in state.family_moves and not state.holds(
        record["school_id"], record["event_id"]
    )
    if early:
        state.family_moves.remove(record["event_id"])
    item = record_registration(state, record, THRESHOLDS)
    if item is not None and item.family_group_ref and is_family_departure(item):
        departure = [record["child_ref"], item.event_id, item.date]
        effects.send(
            family_departures, item.family_group_ref.encode(), json.dumps(departure).encode()
        )
    # A duplicate: its outputs were on their topics before its state was written.
    step_education(state, key, effects, resend=item is None and not early)
    if early:
        state.family_moves.append(record["event_id"])
        step_education(state, key, effects, resend=False)


def step_education(state: EducationState, key: bytes, effects: Effects, *, resend: bool) -> None:
    """Re-evaluate the child's education findings; decide the alert, observations and state."""
    result = education.step(
        state,
        key.decode(),
        clock.today(),
        CALENDAR,
        THRESHOLDS,
        directory.near_port,
        resend=resend,
    )
    for observation in result.concern_observations:
        effects.send(observations, key, OBSERVATION_CODEC.encode(observation))
    if result.alert is not None:
        counters["education_alert"] += 1
        effects.send(alerts_education, key, ALERT_CODEC.encode(result.alert, check=False))
        log.info(
            "education alert %s v%d %s for child %s",
            result.alert["alert_id"],
            result.alert["version"],
            result.alert["level"],
            key.decode(),
        )
    effects.write(child_to_registrations, key, state.to_json())
    if resend or effects.read(child_to_deadline, key) != result.next_due:
        effects.write(child_to_deadline, key, result.next_due)


def handle_departure(message: Any, effects: Effects) -> None:
    """A travelling family's departure: tell each child whose sibling left in the same window."""
    key = message.key
    departure = decode.departure(key, message.value)
    departures = effects.read(family_to_departures, key) or []
    if departure not in departures:
        departures = sorted([*departures, departure], key=lambda d: d[2])[-20:]
    matched = education.family_members_to_notify(
        [tuple(d) for d in departures], THRESHOLDS.family_window_days
    )
    for child_ref, event_id in matched:
        signal = {"type": "family_move", "event_id": event_id}
        effects.send(education_signals, child_ref.encode(), json.dumps(signal).encode())
    effects.write(family_to_departures, key, departures)
    log.info(
        "family %s: %d departures known, %d children told of a family move (%s)",
        key.decode(errors="replace")[:16],
        len(departures),
        len(matched),
        where(message),
    )


@app.agent(family_departures)
async def match_family_moves(stream: Any) -> None:
    await Guard("match_family_moves", handle_departure, **GUARD).run(stream)


@app.timer(interval=settings.education_sweep_seconds)  # type: ignore[untyped-decorator]
async def sweep_deadlines_periodically() -> None:
    await sweep_deadlines()


async def sweep_deadlines() -> None:
    """Emit a "deadline due" signal for each child whose pending deadline has come.

    Runs on every worker, over active and standby partitions alike: a signal sent twice is
    harmless, because the child's own agent decides what a due deadline means. A sweep that
    fails is tried again at the next tick; one that keeps failing stops the worker.
    """
    today = clock.today().isoformat()
    due = [key for key, when in list(child_to_deadline.items()) if when and when <= today]
    effects = Effects()
    for key in due:
        effects.send(education_signals, key, DEADLINE_DUE)
    try:
        await apply(effects)
    except Exception as exc:
        sweeps.fail(exc)
    else:
        sweeps.succeed()
