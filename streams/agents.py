"""The agents: read an event, update the child's state, ask the rules, send what they decided.

``aggregate_observations`` consumes observations keyed by ``child_ref``; ``track_registrations``
consumes school roll changes and the education signals about the same children;
``match_family_moves`` consumes travelling families' departures keyed by ``family_group_ref``;
``sweep_deadlines`` only emits "deadline due" signals, so each child's state changes in one place.
Anything an agent cannot decode or validate goes to the dead-letter topic with the reason and the
original bytes, a counter goes up, and the worker carries on.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
from typing import Any

from safeguard.errors import CodecError, InvalidRecordError
from schemas.catalogue import default_catalogue
from schemas.codec import EventCodec
from schemas.dead_letter import dead_letter
from schemas.validation import check_child_ref, check_observation
from streams import clock, education
from streams.app import app, settings
from streams.concern import Result, observe
from streams.evidence import ChildState
from streams.registrations import EducationState
from streams.rules import RuleConfig
from streams.schooldays import load_calendar
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

CATALOGUE = default_catalogue()
RULE_CONFIG = RuleConfig(
    lookback_days=settings.lookback_days,
    min_agencies=settings.concern_min_agencies,
    min_groups=settings.concern_min_groups,
    transition_window_days=settings.transition_window_days,
)
EDUCATION_CONFIG = education.EducationConfig(
    short_registration_max_school_days=settings.short_registration_max_school_days,
    repeated_window_days=settings.repeated_registrations_window_days,
    repeated_min_schools=settings.repeated_registrations_min_schools,
    repeated_min_local_authorities=settings.repeated_registrations_min_local_authorities,
    no_destination_school_days=settings.no_destination_school_days,
    absence_return_school_days=settings.absence_return_school_days,
    absence_deletion_school_days=settings.absence_deletion_school_days,
    family_window_days=settings.family_window_days,
)
CALENDAR = load_calendar(settings.school_calendar_file)
if settings.clock is not None:
    clock.set_clock(clock.fixed(settings.clock))
OBSERVATION_CODEC = EventCodec("observation")
REGISTRATION_CODEC = EventCodec("school_registration")
ALERT_CODEC = EventCodec("alert")
DEADLINE_DUE = b'{"type": "deadline_due"}'

#: What the worker did with each record, by outcome (``dead_letter`` included).
counters: collections.Counter[str] = collections.Counter()


@app.agent(observations)
async def aggregate_observations(stream: Any) -> None:
    async for event in stream.events():
        await process_observation(event.message)


async def process_observation(message: Any) -> None:
    """Handle one observation record (a Faust ``Message``: topic, partition, offset, key, value)."""
    try:
        observation = decode_observation(message.key, message.value)
    except CodecError as exc:
        await send_dead_letter(message, exc)
        return
    key = message.key
    state = ChildState.from_json(child_to_evidence.get(key))
    step = observe(state, observation, CATALOGUE, RULE_CONFIG)
    counters[step.result.value] += 1
    if step.changed:
        child_to_evidence[key] = state.to_json()
    if step.alert is not None:
        await alerts_concern.send(key=key, value=ALERT_CODEC.encode(step.alert, check=False))
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


@app.task  # type: ignore[untyped-decorator]  # faust ships no type information
async def follow_schools() -> None:
    while True:  # reference data must keep flowing: a failure is logged and retried
        try:
            await directory.follow(settings.kafka_servers, settings.topic_schools)
        except Exception:
            log.exception("reading %s failed; retrying in 5 s", settings.topic_schools)
            await asyncio.sleep(5)


@app.agent(registrations_and_signals)
async def track_registrations(stream: Any) -> None:
    async for event in stream.events():
        await directory.ready.wait()
        await process_registration(event.message)


async def process_registration(message: Any) -> None:
    """Apply a school roll change or an education signal to the child's registration state."""
    key = message.key
    state = EducationState.from_json(child_to_registrations.get(key))
    resend = False
    if message.topic == settings.topic_education_signals:
        signal = json.loads(message.value)
        if signal["type"] == "family_move" and signal["event_id"] not in state.family_moves:
            state.family_moves.append(signal["event_id"])
    else:
        try:
            record = decode_registration(key, message.value)
        except CodecError as exc:
            await send_dead_letter(message, exc)
            return
        item = education.record_registration(state, record, EDUCATION_CONFIG)
        resend = item is None
        if item is not None and item.family_group_ref and education.is_family_departure(item):
            departure = [record["child_ref"], item.event_id, item.date]
            await family_departures.send(
                key=item.family_group_ref.encode(), value=json.dumps(departure).encode()
            )
    result = education.step(
        state,
        key.decode(),
        clock.today(),
        CALENDAR,
        EDUCATION_CONFIG,
        directory.near_port,
        resend=resend,
    )
    child_to_registrations[key] = state.to_json()
    if result.next_due is None:
        child_to_deadline.pop(key, None)
    elif child_to_deadline.get(key) != result.next_due:
        child_to_deadline[key] = result.next_due
    for observation in result.concern_observations:
        await observations.send(key=key, value=OBSERVATION_CODEC.encode(observation))
    if result.alert is not None:
        counters["education_alert"] += 1
        await alerts_education.send(key=key, value=ALERT_CODEC.encode(result.alert, check=False))
        log.info(
            "education alert %s v%d %s for child %s",
            result.alert["alert_id"],
            result.alert["version"],
            result.alert["level"],
            key.decode(),
        )


def decode_registration(key: bytes | None, value: bytes | None) -> dict[str, Any]:
    record = REGISTRATION_CODEC.decode(value or b"")
    if not record["event_id"].strip():
        raise InvalidRecordError("event_id: '' is empty", field="event_id", value="")
    check_child_ref(record["child_ref"])
    _check_key(key, record["child_ref"])
    return record


@app.agent(family_departures)
async def match_family_moves(stream: Any) -> None:
    async for event in stream.events():
        key = event.message.key
        departures = family_to_departures.get(key) or []
        departure = json.loads(event.message.value)
        if departure not in departures:
            departures = sorted([*departures, departure], key=lambda d: d[2])[-20:]
            family_to_departures[key] = departures
        matched = education.family_members_to_notify(
            [tuple(d) for d in departures], settings.family_window_days
        )
        for child_ref, event_id in matched:
            signal = {"type": "family_move", "event_id": event_id}
            await education_signals.send(key=child_ref.encode(), value=json.dumps(signal).encode())


@app.timer(interval=settings.education_sweep_seconds)  # type: ignore[untyped-decorator]
async def sweep_deadlines_periodically() -> None:
    await sweep_deadlines()


async def sweep_deadlines() -> None:
    """Emit a "deadline due" signal for each child whose pending deadline has come.

    Runs on every worker, over active and standby partitions alike: a signal sent twice is
    harmless, because the child's own agent decides what a due deadline means.
    """
    today = clock.today().isoformat()
    due = [key for key, when in list(child_to_deadline.items()) if when and when <= today]
    for key in due:
        await education_signals.send(key=key, value=DEADLINE_DUE)


def decode_observation(key: bytes | None, value: bytes | None) -> dict[str, Any]:
    """Decode and validate; the key must be the ``child_ref`` (it decides the partition)."""
    observation = OBSERVATION_CODEC.decode(value or b"")
    check_observation(observation, CATALOGUE)
    _check_key(key, observation["child_ref"])
    return observation


def _check_key(key: bytes | None, child_ref: str) -> None:
    if key != child_ref.encode():
        # The key is not echoed: a wrong key may be a raw identifier.
        raise InvalidRecordError(
            "key: missing or not the record's child_ref; events are keyed by child_ref",
            field="key",
        )


async def send_dead_letter(message: Any, error: CodecError) -> None:
    counters["dead_letter"] += 1
    # Logs name the error and field only: values may hold personal data; the DLQ keeps them.
    log.warning(
        "dead-lettered %s[%d]@%d: %s %s",
        message.topic,
        message.partition,
        message.offset,
        type(error).__name__,
        getattr(error, "field", ""),
    )
    await deadletter.send(key=message.key, value=dead_letter(message, error, "worker"))
