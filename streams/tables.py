"""Per-child state tables (plain Tables, no windowing: see ARCHITECTURE.md).

``child_to_evidence`` maps a ``child_ref`` (UTF-8 bytes) to the JSON form of a
``streams.domain.evidence.ChildState``. It is co-partitioned with the observations topic.
"""

from __future__ import annotations

from streams.app import app, settings

#: RocksDB memory per table partition, bounded so a worker holding a million children stays
#: well under 500 MB: Faust's defaults (three 64 MB write buffers and a 2 GB block cache per
#: partition) would let 8 partitions of child state grow past a gigabyte before flushing.
#: State is read once per event, so a small cache costs little; writes go to the changelog too.
ROCKSDB_OPTIONS = {
    "write_buffer_size": 8 * 1024 * 1024,
    "max_write_buffer_number": 2,
    "block_cache_size": 8 * 1024 * 1024,
}

child_to_evidence = app.Table(
    "child_to_evidence",
    default=None,
    # Faust derives the changelog's serializers from key_type/value_type and ignores a Schema's:
    # bytes keys mean "raw"; values are JSON.
    key_type=bytes,
    partitions=settings.topic_partitions,
    options=dict(ROCKSDB_OPTIONS),
)

#: child_ref -> JSON of a ``streams.domain.registrations.EducationState``.
child_to_registrations = app.Table(
    "child_to_registrations",
    default=None,
    key_type=bytes,
    partitions=settings.topic_partitions,
    options=dict(ROCKSDB_OPTIONS),
)

#: child_ref -> ISO date of the child's next pending education deadline. Only children with a
#: pending deadline are here, so the timer sweep reads a small table.
child_to_deadline = app.Table(
    "child_to_deadline",
    default=None,
    key_type=bytes,
    partitions=settings.topic_partitions,
    options=dict(ROCKSDB_OPTIONS),
)

#: child_ref -> ISO date on which the child's open concern alert may change with no new input
#: (evidence leaving the look-back, an immediate risk passing). Only children with an open
#: concern alert are here.
child_to_concern_due = app.Table(
    "child_to_concern_due",
    default=None,
    key_type=bytes,
    partitions=settings.topic_partitions,
    options=dict(ROCKSDB_OPTIONS),
)

#: family_group_ref -> recent departures of that travelling family: [child_ref, event_id, date].
family_to_departures = app.Table(
    "family_to_departures",
    default=None,
    key_type=bytes,
    partitions=settings.topic_partitions,
    options=dict(ROCKSDB_OPTIONS),
)

#: child_ref -> the statements linking it to other references (``streams.domain.identity.Node``).
#: One partition, as its topic: every link is applied in one order.
identity_graph = app.Table(
    "identity_graph",
    default=None,
    key_type=bytes,
    partitions=1,
    options=dict(ROCKSDB_OPTIONS),
)

#: blocking key -> the newest encodings that carried it (``streams.domain.matching.Entry``).
block_to_entries = app.Table(
    "block_to_entries",
    default=None,
    key_type=bytes,
    partitions=settings.topic_partitions,
    options=dict(ROCKSDB_OPTIONS),
)
