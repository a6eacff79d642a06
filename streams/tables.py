"""Per-child state tables (plain Tables, no windowing: see ARCHITECTURE.md).

``child_to_evidence`` maps a ``child_ref`` (UTF-8 bytes) to the JSON form of a
``streams.evidence.ChildState``. It is co-partitioned with the observations topic.
"""

from __future__ import annotations

import faust

from streams.app import app, settings

child_to_evidence = app.Table(
    "child_to_evidence",
    default=None,
    schema=faust.Schema(key_serializer="raw", value_serializer="json"),
    partitions=settings.topic_partitions,
)
