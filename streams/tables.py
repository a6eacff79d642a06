"""Per-child state tables (plain Tables, no windowing: see ARCHITECTURE.md).

``child_to_evidence`` maps a ``child_ref`` (UTF-8 bytes) to the JSON form of a
``streams.evidence.ChildState``. It is co-partitioned with the observations topic.
"""

from __future__ import annotations

from streams.app import app, settings

child_to_evidence = app.Table(
    "child_to_evidence",
    default=None,
    # Faust derives the changelog's serializers from key_type/value_type and ignores a Schema's:
    # bytes keys mean "raw"; values are JSON.
    key_type=bytes,
    partitions=settings.topic_partitions,
)

#: child_ref -> JSON of a ``streams.registrations.EducationState``.
child_to_registrations = app.Table(
    "child_to_registrations", default=None, key_type=bytes, partitions=settings.topic_partitions
)

#: child_ref -> ISO date of the child's next pending education deadline. Only children with a
#: pending deadline are here, so the timer sweep reads a small table.
child_to_deadline = app.Table(
    "child_to_deadline", default=None, key_type=bytes, partitions=settings.topic_partitions
)

#: family_group_ref -> recent departures of that travelling family: [child_ref, event_id, date].
family_to_departures = app.Table(
    "family_to_departures", default=None, key_type=bytes, partitions=settings.topic_partitions
)
