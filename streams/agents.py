"""The agents: read an event, update the child's state, ask the rules, send what they decided.

``aggregate_observations`` consumes observations keyed by ``child_ref``. Anything it cannot decode
or validate goes to the dead-letter topic with the reason and the original bytes, a counter goes
up, and the worker carries on.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
from typing import Any

from safeguard.errors import CodecError, InvalidRecordError
from schemas.catalogue import default_catalogue
from schemas.codec import EventCodec
from schemas.dead_letter import dead_letter
from schemas.validation import check_observation
from streams.app import app, settings
from streams.concern import Result, observe
from streams.evidence import ChildState
from streams.rules import RuleConfig
from streams.tables import child_to_evidence
from streams.topics import alerts_concern, deadletter, observations

log = logging.getLogger(__name__)

CATALOGUE = default_catalogue()
RULE_CONFIG = RuleConfig(
    lookback_days=settings.lookback_days,
    min_agencies=settings.concern_min_agencies,
    min_groups=settings.concern_min_groups,
    transition_window_days=settings.transition_window_days,
)
OBSERVATION_CODEC = EventCodec("observation")
ALERT_CODEC = EventCodec("alert")

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
    if step.result is not Result.RESEND:
        child_to_evidence[key] = state.to_json()
    if step.alert is not None:
        await alerts_concern.send(key=key, value=ALERT_CODEC.encode(step.alert))
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


def decode_observation(key: bytes | None, value: bytes | None) -> dict[str, Any]:
    """Decode and validate; the key must be the ``child_ref`` (it decides the partition)."""
    observation = OBSERVATION_CODEC.decode(value or b"")
    check_observation(observation, CATALOGUE)
    if key != observation["child_ref"].encode():
        # The key is not echoed: a wrong key may be a raw identifier.
        raise InvalidRecordError(
            "key: missing or not the record's child_ref; events are keyed by child_ref",
            field="key",
        )
    return observation


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
    await deadletter.send(
        key=message.key,
        value=dead_letter(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key,
            payload=message.value,
            error=error,
            consumer="worker",
            failed_at=dt.datetime.now(dt.UTC),
        ),
    )
