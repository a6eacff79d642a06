"""Faust codecs over the single-object codec, so Faust topics read and write our Avro events.

``register_codecs()`` registers one codec per event as ``avro-<event>`` (``avro-observation``,
``avro-alert``, ...); a topic then names it: ``app.topic(name, value_serializer="avro-alert")``.
Values are plain dicts in the newest schema version. Decoding errors are ``CodecError``
subclasses, which Faust wraps in its own ``ValueDecodeError`` with ours as the cause.
"""

from __future__ import annotations

from typing import Any

from faust.serializers import codecs

from schemas.codec import EventCodec
from schemas.registry import default_registry


class AvroEventCodec(codecs.Codec):
    """A Faust codec for one event type."""

    def __init__(self, *args: Any, event: str, **kwargs: Any) -> None:
        super().__init__(*args, event=event, **kwargs)
        self.codec = EventCodec(event)

    def _dumps(self, obj: Any) -> bytes:
        return self.codec.encode(obj)

    def _loads(self, s: bytes) -> Any:
        return self.codec.decode(s)


def codec_name(event: str) -> str:
    return f"avro-{event}"


def register_codecs() -> list[str]:
    """Register ``avro-<event>`` for every event in ``schemas/``; return the names."""
    names = []
    for event in default_registry().events:
        codecs.register(codec_name(event), AvroEventCodec(event=event))
        names.append(codec_name(event))
    return names
