"""The project's topics, as Faust sees them, and their creation through Kafka's admin API.

Every topic carries raw bytes in Avro single-object encoding, keyed by the UTF-8 ``child_ref``
(the school reference topic is keyed by ``school_id``). Agents decode values themselves so that
undecodable bytes reach the dead-letter topic whole instead of being dropped by the framework.
Their creation (Faust's own topics included) is ``safeguard.kernel.topics``: the worker creates and
checks every topic before any agent runs.
"""

from __future__ import annotations

from streams.app import app, settings


def _topic(name: str):  # type: ignore[no-untyped-def]  # faust's Topic is untyped
    return app.topic(name, key_serializer="raw", value_serializer="raw")


observations = _topic(settings.topic_observations)
school_registrations = _topic(settings.topic_school_registrations)
alerts_concern = _topic(settings.topic_alerts_concern)
alerts_education = _topic(settings.topic_alerts_education)
deadletter = _topic(settings.topic_deadletter)
education_signals = _topic(settings.topic_education_signals)
family_departures = _topic(settings.topic_family_departures)
concern_signals = _topic(settings.topic_concern_signals)
identity_links = _topic(settings.topic_identity_links)
identity_encodings = _topic(settings.topic_identity_encodings)
encoding_blocks = _topic(settings.topic_encoding_blocks)
identity_proposals = _topic(settings.topic_identity_proposals)
#: One stream for the registration agent: roll changes and the signals about the same children
#: (both keyed by child_ref and co-partitioned), so every change to a child's registration state
#: happens in one place, on the partition's owner.
registrations_and_signals = app.topic(
    settings.topic_school_registrations,
    settings.topic_education_signals,
    settings.topic_alert_actions,
    settings.topic_erasures,
    key_serializer="raw",
    value_serializer="raw",
)
#: The same for the combined concern: observations and their retractions, the concern signals
#: and practitioners' actions (each agent takes the actions on its own kind of alert). Both
#: read the erasures, each erasing its own state of the child.
observations_and_signals = app.topic(
    settings.topic_observations,
    settings.topic_concern_signals,
    settings.topic_alert_actions,
    settings.topic_erasures,
    key_serializer="raw",
    value_serializer="raw",
)
