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

from safeguard.kernel.errors import CodecError, InvalidRecordError, TooOldError
from schemas.codec import EventCodec
from streams import decode
from streams.app import settings
from streams.domain import clock, concern, education, erasure, identity
from streams.domain.config import Thresholds
from streams.domain.erasure import Erased
from streams.domain.evidence import ChildState
from streams.domain.lifecycle import AlertState
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
    identity_graph,
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
    done, marker, raw = through_erasure(
        message, effects, child_to_evidence, child_to_concern_due, concern_alerts
    )
    if done:
        return
    # After an erasure, new information starts a new state.
    state = ChildState(alerts=marker.alerts()) if marker else ChildState.from_json(raw)
    me = key.decode() if key else ""
    topic, value, origin = message.topic, message.value, me
    version = state.membership.version
    payloads: dict[str, dict[str, Any]] = {}
    if topic == settings.topic_concern_signals:
        signal = decode.concern_signal(key, value)
        if signal["type"] == "forward":  # a linked reference's record, sent on to this child
            topic, value, origin, version = forwarded(signal)
            if topic != settings.topic_observations:
                raise InvalidRecordError("topic: not a topic the concern forwards", field="topic")
    if topic == settings.topic_concern_signals:
        earlier = concern.catch_up(state, me, clock.now(), CATALOGUE, THRESHOLDS)
        if signal["type"] == "deadline_due":
            step = earlier
        elif signal["type"] == "identity":
            now, payloads = concern.on_identity(state, me, signal, CATALOGUE, THRESHOLDS)
            step = concern.after(earlier, now, state, CATALOGUE, THRESHOLDS)
        elif signal["type"] == "absorb":
            now, payloads = concern.on_absorb(state, me, signal, CATALOGUE, THRESHOLDS)
            step = concern.after(earlier, now, state, CATALOGUE, THRESHOLDS)
        else:
            step = concern.after(
                earlier,
                concern.on_school_authority(
                    state, me, signal["local_authority"], CATALOGUE, THRESHOLDS
                ),
                state,
                CATALOGUE,
                THRESHOLDS,
            )
    elif topic == settings.topic_alert_actions:
        action = decode.action(key, value)
        if not action["alert_id"].startswith(f"{concern.KIND}-"):
            return  # the registration handler's
        earlier = concern.catch_up(state, me, clock.now(), CATALOGUE, THRESHOLDS)
        closed = concern.on_action(state, me, action, CATALOGUE, THRESHOLDS)
        step = concern.after(earlier, closed, state, CATALOGUE, THRESHOLDS)
    else:
        event, record = decode.observation(origin.encode(), value)
        to = state.membership.route(me, origin, version)
        if to is not None:  # linked into another reference of the same child
            forward = decode.forward(topic, value, origin, state.membership.version)
            effects.send(concern_signals, to.encode(), forward)
            return
        earlier = concern.catch_up(state, me, clock.now(), CATALOGUE, THRESHOLDS)
        if event == "retraction":
            step = concern.retract(state, me, record, CATALOGUE, THRESHOLDS)
        else:
            step = concern.observe(state, record, CATALOGUE, THRESHOLDS, me)
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
    send_on(effects, concern_signals, me, state.membership.version, payloads)
    for alert in step.alerts:
        effects.alert(alerts_concern, key, alert, ALERT_CODEC.encode(alert, check=False))
        _log_alert(alert, step.result.value)
    if step.changed or payloads:
        effects.write(child_to_evidence, key, state.to_json())
        if effects.read(child_to_concern_due, key) != step.next_due:
            effects.write(child_to_concern_due, key, step.next_due)


def concern_alerts(data: dict[str, Any]) -> dict[str, AlertState]:
    return ChildState.from_json(data).alerts


def education_alerts(data: dict[str, Any]) -> dict[str, AlertState]:
    return {education.KIND: EducationState.from_json(data).alert}


def through_erasure(
    message: Any, effects: Effects, table: Any, due: Any, alerts_of: Any
) -> tuple[bool, Erased | None, Any]:
    """What an erasure decides for this record in ``table`` (``streams.domain.erasure``), and
    the table's value (read once per record): ``done`` when the record is done with (it is an
    erasure, the marker's expiry, or a record the erasure stands against); the marker when the
    reference was erased and the record is new information."""
    key = message.key
    raw = effects.read(table, key)
    marker = Erased.from_json(raw)
    if message.topic == settings.topic_erasures:
        record = decode.erasure(key, message.value)
        alerts = alerts_of(raw) if raw and marker is None else {}
        marker = erasure.erase(alerts, record["erased_at"], marker)
        effects.write(table, key, marker.to_json())
        effects.write(due, key, marker.expires_on(settings.source_retention_days))
        counters["erased"] += 1
        log.info("erasure %s applied at %s", record["event_id"], where(message))
        return True, None, None
    if marker is None:
        return False, None, raw
    if message.value == DEADLINE_DUE:  # the day the marker goes, or a sweep's leftover
        if clock.today().isoformat() >= marker.expires_on(settings.source_retention_days):
            effects.write(table, key, None)
            effects.write(due, key, None)
            counters["erasure_expired"] += 1
        return True, None, None
    if marker.stands_against(sent_at(message)):
        counters["erased_dropped"] += 1
        log.info("record of an erased reference dropped at %s", where(message))
        return True, None, None
    return False, marker, None


def sent_at(message: Any) -> int:
    """When the record was sent (its Kafka timestamp, ms)."""
    return round(float(message.timestamp) * 1000)


def forwarded(signal: dict[str, Any]) -> tuple[str, bytes, str, int]:
    """A forward signal's record: its topic, value, the reference it was about, and the
    version of the forwarding reference's view."""
    return signal["topic"], signal["value"], signal["origin"], signal["version"]


def send_on(
    effects: Effects, topic: Any, me: str, version: int, payloads: dict[str, dict[str, Any]]
) -> None:
    """What belongs under other references of the same child, sent to each."""
    for to, payload in sorted(payloads.items()):
        signal = {"type": "absorb", "version": version, "origin": me, "payload": payload}
        effects.send(topic, to.encode(), json.dumps(signal).encode())


def handle_registration(message: Any, effects: Effects) -> None:
    """Apply a school roll change, a retraction, an education signal or a practitioner's
    action to the child's registration state."""
    key = message.key
    done, marker, raw = through_erasure(
        message, effects, child_to_registrations, child_to_deadline, education_alerts
    )
    if done:
        return
    if marker is not None:  # new information after an erasure: a new state
        state = EducationState(alert=marker.alerts().get(education.KIND, AlertState()))
    else:
        state = EducationState.from_json(raw)
    me = key.decode() if key else ""
    topic, value, origin = message.topic, message.value, me
    version = state.membership.version
    if topic == settings.topic_education_signals:
        signal = decode.signal(key, value)
        if signal["type"] == "forward":  # a linked reference's record, sent on to this child
            topic, value, origin, version = forwarded(signal)
            if topic == settings.topic_education_signals:
                signal = decode.signal(origin.encode(), value)
            elif topic != settings.topic_school_registrations:
                raise InvalidRecordError("topic: not a topic education forwards", field="topic")
    if topic == settings.topic_education_signals:
        if signal["type"] in ("identity", "absorb"):
            step_identity(state, me, signal, effects)
            return
        if signal["type"] == "family_move":
            to = state.membership.route(me, origin, version)
            if to is not None:
                forward = decode.forward(topic, value, origin, state.membership.version)
                effects.send(education_signals, to.encode(), forward)
                return
            if signal["event_id"] not in state.family_moves:
                state.family_moves.append(signal["event_id"])
        step_education(state, key, effects, resend=False)
        return
    if topic == settings.topic_alert_actions:
        try:
            action = decode.action(key, value)
        except CodecError:
            return  # the concern handler dead-letters it: one dead letter per record
        closes = action["action"] == "close" and action["alert_id"].startswith(education.KIND)
        if closes and state.alert.close(action, me, education.KIND):
            effects.write(child_to_registrations, key, state.to_json())
        return
    event, record = decode.registration(origin.encode(), value)
    to = state.membership.route(me, origin, version)
    if to is not None:  # linked into another reference of the same child
        forward = decode.forward(topic, value, origin, state.membership.version)
        effects.send(education_signals, to.encode(), forward)
        return
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
    item = record_registration(state, record, THRESHOLDS, me)
    if item is not None and item.family_group_ref and is_family_departure(item):
        departure = [me, item.event_id, item.date]
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
    publish_education(state, key, effects, result)
    effects.write(child_to_registrations, key, state.to_json())
    if resend or effects.read(child_to_deadline, key) != result.next_due:
        effects.write(child_to_deadline, key, result.next_due)


def publish_education(
    state: EducationState, key: bytes, effects: Effects, result: education.EducationStep
) -> None:
    """The education step's outputs: observations for the concern, the authority, the alert."""
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
        effects.alert(
            alerts_education, key, result.alert, ALERT_CODEC.encode(result.alert, check=False)
        )
        _log_alert(result.alert, "education")


def step_identity(state: EducationState, me: str, signal: dict[str, Any], effects: Effects) -> None:
    """Where the child's school history belongs among linked references, and what follows."""
    handler = education.on_identity if signal["type"] == "identity" else education.on_absorb
    result, payloads = handler(
        state, me, signal, clock.today(), CALENDAR, THRESHOLDS, directory.near_port
    )
    send_on(effects, education_signals, me, state.membership.version, payloads)
    key = me.encode()
    if result is not None:
        publish_education(state, key, effects, result)
    effects.write(child_to_registrations, key, state.to_json())
    next_due = state.next_due()
    if effects.read(child_to_deadline, key) != next_due:
        effects.write(child_to_deadline, key, next_due)


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


def handle_link(message: Any, effects: Effects) -> None:
    """An agency's statement that two references are the same child, or its withdrawal: the
    graph changes, and every reference whose group changed is told its group (both agents).

    The groups' version is the link's offset (plus one) on its one-partition topic: it goes up
    with every link, and a link handled again after a crash tells the same version, so the
    references' views are the same whatever the faults.
    """
    link = decode.link(message.key, message.value)
    version = message.offset + 1

    def read(ref: str) -> identity.Node:
        return identity.Node.from_json(effects.read(identity_graph, ref.encode()))

    change = identity.apply_statement(read, version, link)
    for group in change.groups:
        signal = json.dumps(group.to_signal()).encode()
        effects.send(concern_signals, group.ref.encode(), signal)
        effects.send(education_signals, group.ref.encode(), signal)
    for ref, node in change.nodes.items():
        effects.write(identity_graph, ref.encode(), node.to_json())
    log.info(
        "identity link %s (%s, %s): %d references told their group (version %d)",
        link["event_id"],
        "withdrawn" if link["withdrawn"] else "stated",
        link["basis"],
        len(change.groups),
        version,
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
    # The alert id, never the child's reference: logs hold no identifier of a child.
    log.info(
        "%s alert %s v%d %s %s (%s)",
        alert["kind"],
        alert["alert_id"],
        alert["version"],
        alert["level"],
        alert["status"],
        why,
    )
