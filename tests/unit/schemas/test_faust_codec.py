from __future__ import annotations

from typing import Any

import pytest
from faust.serializers import codecs

from safeguard.errors import NotSingleObjectError
from schemas.codec import EventCodec
from schemas.faust_codec import register_codecs


def test_every_event_gets_a_faust_codec_that_speaks_single_object_encoding(
    observation: dict[str, Any],
) -> None:
    names = register_codecs()
    assert names == [
        "avro-alert",
        "avro-alert_action",
        "avro-dead_letter",
        "avro-observation",
        "avro-school",
        "avro-school_registration",
    ]
    faust_codec = codecs.get_codec("avro-observation")
    data = faust_codec.dumps(observation)
    assert data == EventCodec("observation").encode(observation)
    assert faust_codec.loads(data) == observation


def test_faust_codec_raises_our_error_for_foreign_bytes() -> None:
    register_codecs()
    with pytest.raises(NotSingleObjectError):
        codecs.get_codec("avro-observation").loads(b'{"json": true}')
