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
