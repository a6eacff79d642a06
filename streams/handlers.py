"""What each agent does with one record: decode it, apply it to the child's state, decide.

Each handler only decides (``streams.guard.Effects``): records to send and table writes;
``streams.guard`` applies the decision (outputs on the broker first, then the state),
dead-letters a record that cannot be handled and stops the worker for a fault that is not
about the record.

The concern handler reads observations and agencies' retractions of them (one topic, so a
retraction is always read after what it retracts), the concern signals (a deadline came, the
child's school authority changed) and practitioners' actions. The registration handler reads
roll changes and schools' retractions of them, the education signals and the same actions.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from safeguard.kernel.errors import CodecError, TooOldError
from schemas.codec import EventCodec
from streams import decode
from streams.app import settings
from streams.domain import clock, concern, education
from streams.domain.config import Thresholds
from streams.domain.evidence import ChildState
from streams.domain.registrations import EducationState, is_family_departure, record_registration
from streams.domain.schooldays import load_calendar
from streams.guard import Effects, counters, where
from streams.schools import directory
from streams.tables import (
    child_to_concern_due,
    child_to_deadline,
    child_to_evidence,
    child_to_registrations,
    family_to_departures,
)
from streams.topics import (
    alerts_concern,
    alerts_education,
    concern_signals,
    education_signals,
    family_departures,
    observations,
)

log = logging.getLogger(__name__)

CATALOGUE = decode.CATALOGUE
THRESHOLDS = Thresholds.from_settings(settings)
CALENDAR = load_calendar(settings.school_calendar_file)
if settings.clock is not None:
    clock.set_clock(clock.fixed(settings.clock))
OBSERVATION_CODEC = EventCodec("observation")
RETRACTION_CODEC = EventCodec("retraction")
ALERT_CODEC = EventCodec("alert")
DEADLINE_DUE = b'{"type": "deadline_due"}'


def handle_observation(message: Any, effects: Effects) -> None:
    """One record for the combined concern (a Faust ``Message``: topic, key, value...)."""
    key = message.key
    state = ChildState.from_json(effects.read(child_to_evidence, key))
    child_ref = key.decode() if key else ""
    if message.topic == settings.topic_concern_signals:
        signal = decode.concern_signal(key, message.value)
        earlier = concern.catch_up(state, child_ref, clock.now(), CATALOGUE, THRESHOLDS)
        if signal["type"] == "deadline_due":
            step = earlier
        else:
            step = concern.after(
                earlier,
                concern.on_school_authority(
                    state, child_ref, signal["local_authority"], CATALOGUE, THRESHOLDS
                ),
                state,
                CATALOGUE,
                THRESHOLDS,
            )
    elif message.topic == settings.topic_alert_actions:
        action = decode.action(key, message.value)
        if not action["alert_id"].startswith(f"{concern.KIND}-"):
            return  # the registration handler's
        earlier = concern.catch_up(state, child_ref, clock.now(), CATALOGUE, THRESHOLDS)
        closed = concern.on_action(state, child_ref, action, CATALOGUE, THRESHOLDS)
        step = concern.after(earlier, closed, state, CATALOGUE, THRESHOLDS)
    else:
        event, record = decode.observation(key, message.value)
        earlier = concern.catch_up(state, child_ref, clock.now(), CATALOGUE, THRESHOLDS)
        if event == "retraction":
            step = concern.retract(state, child_ref, record, CATALOGUE, THRESHOLDS)
        else:
            step = concern.observe(state, record, CATALOGUE, THRESHOLDS)
            if step.result is concern.Result.TOO_OLD:
                raise TooOldError(
                    f"observed_at: {record['observed_at'].date().isoformat()} is more than "
                    f"{THRESHOLDS.lookback_days} days before the child's newest evidence or "
                    "today: outside the look-back, it cannot count",
                    field="observed_at",
                )
            if step.result is concern.Result.ADULT:
                log.info("observation %s not aggregated: 18 or over", record["event_id"])
        step = concern.after(earlier, step, state, CATALOGUE, THRESHOLDS)
    counters[step.result.value] += 1
    for alert in step.alerts:
        effects.send(alerts_concern, key, ALERT_CODEC.encode(alert, check=False))
        _log_alert(alert, step.result.value)
    if step.changed:
        effects.write(child_to_evidence, key, state.to_json())
        if effects.read(child_to_concern_due, key) != step.next_due:
            effects.write(child_to_concern_due, key, step.next_due)


def handle_registration(message: Any, effects: Effects) -> None:
    """Apply a school roll change, a retraction, an education signal or a practitioner's
    action to the child's registration state."""
    key = message.key
    state = EducationState.from_json(effects.read(child_to_registrations, key))
    if message.topic == settings.topic_education_signals:
        signal = decode.signal(key, message.value)
        if signal["type"] == "family_move" and signal["event_id"] not in state.family_moves:
            state.family_moves.append(signal["event_id"])
        step_education(state, key, effects, resend=False)
        return
    if message.topic == settings.topic_alert_actions:
        try:
            action = decode.action(key, message.value)
        except CodecError:
            return  # the concern handler dead-letters it: one dead letter per record
        closes = action["action"] == "close" and action["alert_id"].startswith(education.KIND)
        if closes and state.alert.close(action, key.decode(), education.KIND):
            effects.write(child_to_registrations, key, state.to_json())
        return
    event, record = decode.registration(key, message.value)
    if event == "retraction":
        school, agency = record["agency"]["id"], record["agency"]
        # Only the school that sent a registration event can take it back.
        removed = state.retract(school, record["retracts"]) if agency["type"] == "school" else None
        because: str | None = None
        if removed is not None:
            because = (
                f"school {school} retracted its {removed.kind} event of {removed.date} "
                f"({record['reason']})."
            )
        step_education(state, key, effects, resend=False, because=because)
        return
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
    because = (
        f"school {record['school_id']} reported the child {record['kind']} on "
        f"{record['effective_date'].isoformat()}."
    )
    ending = None
    if record.get("returned_on") is not None:
        # A return ends the absence; it does not take back that the absence happened.
        because, ending = (
            None,
            (
                f"school {record['school_id']} reported the child back at school on "
                f"{record['returned_on'].isoformat()} after {record['absence_school_days']} school "
                "days' absence."
            ),
        )
    # A duplicate: its outputs were on their topics before its state was written.
    step_education(
        state, key, effects, resend=item is None and not early, because=because, ending=ending
    )
    if early:
        state.family_moves.append(record["event_id"])
        step_education(state, key, effects, resend=False)


def step_education(
    state: EducationState,
    key: bytes,
    effects: Effects,
    *,
    resend: bool,
    because: str | None = None,
    ending: str | None = None,
) -> None:
    """Re-evaluate the child's education findings; decide the alert, observations and state."""
    result = education.step(
        state,
        key.decode(),
        clock.today(),
        CALENDAR,
        THRESHOLDS,
        directory.near_port,
        resend=resend,
        because=because,
        ending=ending,
    )
    for observation in result.concern_observations:
        effects.send(observations, key, OBSERVATION_CODEC.encode(observation))
    for retraction in result.retractions:
        effects.send(observations, key, RETRACTION_CODEC.encode(retraction))
    if result.authority != state.authority_sent:
        state.authority_sent = result.authority
        signal = {"type": "school_authority", "local_authority": result.authority}
        effects.send(concern_signals, key, json.dumps(signal).encode())
    if result.alert is not None:
        counters["education_alert"] += 1
        effects.send(alerts_education, key, ALERT_CODEC.encode(result.alert, check=False))
        _log_alert(result.alert, "education")
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


def due_signals(today: str) -> Effects:
    """A "deadline due" signal for each child whose pending deadline (education or concern)
    has come."""
    effects = Effects()
    tables = ((child_to_deadline, education_signals), (child_to_concern_due, concern_signals))
    for table, topic in tables:
        for key, when in list(table.items()):
            if when and when <= today:
                effects.send(topic, key, DEADLINE_DUE)
    return effects


def _log_alert(alert: dict[str, Any], why: str) -> None:
    log.info(
        "%s alert %s v%d %s %s for child %s (%s)",
        alert["kind"],
        alert["alert_id"],
        alert["version"],
        alert["level"],
        alert["status"],
        alert["child_ref"],
        why,
    )
