from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safeguard.kernel.errors import (
    CodecError,
    CorruptBodyError,
    InvalidRecordError,
    NotSingleObjectError,
    TruncatedBodyError,
    UnknownFingerprintError,
    WrongEventError,
)
from schemas.catalogue import default_catalogue
from schemas.codec import EventCodec
from schemas.registry import load_schema
from schemas.validation import check_observation, check_registration

from .conftest import T0

# Produced by Apache Avro 1.12.0 (Java) BinaryMessageEncoder<GenericRecord> from the same
# schema files and values: the bytes any Avro implementation must agree on.
JAVA_OBSERVATION = (
    "c301"
    "a40196678ffd5dc4"  # marker, then CRC-64-AVRO of observation.v1 (little-endian)
    "0465"
    "31"  # event_id "e1"
    "8001"
    + "61"
    * 64  # child_ref: 64 x "a"
    + "3c"
    "636f6e74726f6c2e6164756c745f737065616b735f666f725f6368696c64"  # indicator
    "14"
    "68622d63617264696666"
    "02"  # agency: id "hb-cardiff", type index 1 (health)
    "80d7eb97c468"
    "80d7eb97c468"  # observed_at, reported_at: 1795858200000 ms
    "12"
    "573036303030303135"  # local_authority "W06000015"
    "00"
    "00"
    "00"
    "00"  # date_of_birth null, age_disputed, immediate_risk, source_ref null
)
JAVA_ALERT = (
    "c3014e644ac6471d4c6e08616c2d3104046331000426636f6e6365726e2e747261666669636b696e67"
    "0280d7eb97c46812573036303030303135020465310214"
    "68622d636172646966663c636f6e74726f6c2e6164756c745f737065616b735f666f725f6368696c64"
    "0680d7eb97c46800021a54776f206167656e636965732e000402060000"
)

ALERT = {
    "alert_id": "al-1",
    "version": 2,
    "child_ref": "c1",
    "kind": "combined_concern",
    "level": "high",
    "rule_id": "concern.trafficking",
    "rule_version": 1,
    "raised_at": T0,
    "local_authority": "W06000015",
    "evidence": [
        {
            "event_id": "e1",
            "agency_type": "health",
            "agency_id": "hb-cardiff",
            "indicator": "control.adult_speaks_for_child",
            "group": "control",
            "observed_at": T0,
        }
    ],
    "reasons": ["Two agencies."],
    "actions": ["report_child_at_risk", "nrm_referral"],
    "family_move": False,
}


def test_observation_bytes_match_apache_avro_java(observation: dict[str, Any]) -> None:
    codec = EventCodec("observation")
    assert codec.encode(observation).hex() == JAVA_OBSERVATION
    assert codec.decode(bytes.fromhex(JAVA_OBSERVATION)) == observation


def test_alert_bytes_match_apache_avro_java() -> None:
    codec = EventCodec("alert", version=1)  # the version the Java bytes were written with
    assert codec.encode(ALERT).hex() == JAVA_ALERT
    assert codec.encode(ALERT, check=False).hex() == JAVA_ALERT
    assert codec.decode(bytes.fromhex(JAVA_ALERT)) == ALERT


def test_a_version_1_alert_reads_as_an_open_alert_of_the_newest_version() -> None:
    assert EventCodec("alert").decode(bytes.fromhex(JAVA_ALERT)) == {
        **ALERT,
        "evidence": [{**e, "source_ref": None} for e in ALERT["evidence"]],
        "status": "open",
        "status_reason": None,
        "reopened_after_closure": False,
        "closure": None,
        "local_authorities": [],
        "linked_refs": [],
        "merged_into": None,
        "reason_codes": [],
        "status_reason_code": None,
    }


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (
            {**ALERT, "version": "2"},
            "Alert: cannot be encoded: an integer is required on field version",
        ),
        (
            {k: v for k, v in ALERT.items() if k != "level"},
            "Alert: cannot be encoded: no value and no default for level",
        ),
    ],
)
def test_unchecked_encoding_still_refuses_what_avro_cannot_write(
    record: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidRecordError) as caught:
        EventCodec("alert").encode(record, check=False)
    assert str(caught.value) == message


def test_header_is_marker_then_little_endian_crc64_of_canonical_form(tmp_path: Path) -> None:
    # The Avro specification's test suite gives CRC-64-AVRO("int") = 8247732601305521295.
    (tmp_path / "probe.v1.avsc").write_text('"int"')
    schema = load_schema(tmp_path / "probe.v1.avsc")
    assert schema.canonical == '"int"'
    assert schema.fingerprint == (8247732601305521295).to_bytes(8, "little")


def _encoded(observation: dict[str, Any]) -> bytes:
    return EventCodec("observation").encode(observation)


@pytest.mark.parametrize(
    ("mangle", "error", "message"),
    [
        (lambda b: b"", NotSingleObjectError, "fingerprint, got 0 bytes"),
        (lambda b: b"{}", NotSingleObjectError, "got 2 bytes, not starting C3 01"),
        (lambda b: b"\xc3\x01\x00", NotSingleObjectError, "fingerprint, got 3 bytes"),
        (
            lambda b: b[:2] + bytes(8) + b[10:],
            UnknownFingerprintError,
            "unknown writer schema fingerprint 0000000000000000 (CRC-64-AVRO 0x0000000000000000)",
        ),
        (lambda b: b[:-5], TruncatedBodyError, "observation.v1 body is truncated"),
        (lambda b: b[:10], TruncatedBodyError, "observation.v1 body is truncated (0 bytes)"),
        (lambda b: b + b"\x00\x01", CorruptBodyError, "body has 2 unread trailing bytes"),
        # event_id's length prefix says 2 bytes, then an invalid UTF-8 sequence follows.
        (lambda b: b[:10] + b"\x04\xff\xfe" + b[13:], CorruptBodyError, "body is corrupt"),
    ],
)
def test_bad_bytes_raise_their_own_error(
    observation: dict[str, Any], mangle: Any, error: type[CodecError], message: str
) -> None:
    with pytest.raises(error) as info:
        EventCodec("observation").decode(mangle(_encoded(observation)))
    assert message in str(info.value)


def test_another_events_bytes_are_refused() -> None:
    school = EventCodec("school").encode(
        {"school_id": "6812345", "name": "Ysgol", "local_authority": "W06000001"}
    )
    with pytest.raises(WrongEventError) as info:
        EventCodec("observation").decode(school)
    assert str(info.value) == "expected observation data, got school.v1"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            {"agency": {"id": "x", "type": "alien"}},
            "Agency.type",
            "Agency.type: 'alien' is not a valid AgencyType",
        ),
        (
            {"observed_at": "yesterday"},
            "Observation.observed_at",
            "Observation.observed_at: 'yesterday' is not a valid timestamp-millis",
        ),
        (
            {"child_ref": None},
            "Observation.child_ref",
            "Observation.child_ref: None (missing) is not a valid string",
        ),
        (
            {"reported_at": dt.datetime(2026, 1, 1)},  # noqa: DTZ001 - the naive value is the point
            "Observation.reported_at",
            "Observation.reported_at: 2026-01-01T00:00:00 has no time zone; "
            "give an aware (UTC) datetime",
        ),
    ],
)
def test_invalid_record_names_field_and_value(
    observation: dict[str, Any], change: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(InvalidRecordError) as info:
        EventCodec("observation").encode({**observation, **change})
    assert str(info.value) == message
    assert info.value.field == field


texts = st.text(min_size=1, max_size=40)
millis = st.integers(min_value=0, max_value=4_102_444_800_000).map(
    lambda ms: dt.datetime.fromtimestamp(ms // 1000, tz=dt.UTC).replace(
        microsecond=(ms % 1000) * 1000
    )
)
observations = st.fixed_dictionaries(
    {
        "event_id": texts,
        "child_ref": st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
        "indicator": texts,
        "agency": st.fixed_dictionaries(
            {
                "id": texts,
                "type": st.sampled_from(
                    [
                        "school",
                        "health",
                        "police",
                        "social_care",
                        "border_force",
                        "youth_justice",
                        "voluntary",
                        "local_authority",
                    ]
                ),
            }
        ),
        "observed_at": millis,
        "reported_at": millis,
        "local_authority": texts,
        "date_of_birth": st.none() | st.dates(dt.date(2000, 1, 1), dt.date(2030, 1, 1)),
        "age_disputed": st.booleans(),
        "immediate_risk": st.booleans(),
        "source_ref": st.none() | texts,
    }
)


@given(observations)
def test_generated_observations_round_trip(record: dict[str, Any]) -> None:
    codec = EventCodec("observation")
    assert codec.decode(codec.encode(record)) == record


@given(st.binary(max_size=300))
def test_random_bytes_raise_only_codec_errors(data: bytes) -> None:
    with pytest.raises(CodecError):
        EventCodec("observation").decode(data)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_bytes_decode_or_raise_only_codec_errors(
    observation: dict[str, Any], data: st.DataObject
) -> None:
    original = bytearray(_encoded(observation))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(10, len(original) - 1))
        original[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(10, len(original)))
    try:
        record = EventCodec("observation").decode(bytes(original[:cut]))
    except CodecError:
        return
    assert set(record) == set(observation)


def test_records_decode_as_json_compatible_dicts(observation: dict[str, Any]) -> None:
    codec = EventCodec("observation")
    decoded = codec.decode(codec.encode(observation))
    assert json.loads(json.dumps(decoded, default=str))["agency"] == {
        "id": "hb-cardiff",
        "type": "health",
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"kind": "registered", "returned_on": dt.date(2026, 1, 9)},
            "returned_on: only a continuous_absence ends with a return",
        ),
        (
            {"returned_on": dt.date(2026, 1, 2)},
            "returned_on: is before effective_date, the last school day of the absence",
        ),
    ],
)
def test_a_return_that_cannot_be_is_refused_naming_returned_on(
    change: dict[str, Any], message: str
) -> None:
    record = {
        "event_id": "a1",
        "child_ref": "c" * 64,
        "school_id": "6812345",
        "local_authority": "W06000015",
        "kind": "continuous_absence",
        "effective_date": dt.date(2026, 1, 5),
        "reported_at": dt.datetime(2026, 1, 12, 9, tzinfo=dt.UTC),
        "absence_school_days": 12,
        **change,
    }
    with pytest.raises(InvalidRecordError) as info:
        check_registration(record)
    assert (str(info.value), info.value.field) == (message, "returned_on")


@pytest.mark.parametrize(
    ("change", "message", "field"),
    [
        (
            {"agency": {"id": "p1", "type": "police"}},
            "agency: an age assessment is made by social care or the local authority",
            "agency",
        ),
        (
            {"date_of_birth": None},
            "date_of_birth: an age assessment gives the assessed date of birth",
            "date_of_birth",
        ),
    ],
)
def test_an_age_assessment_needs_its_assessor_and_its_date_of_birth(
    observation: dict[str, Any], change: dict[str, Any], message: str, field: str
) -> None:
    record = {
        **observation,
        "indicator": "docs.age_assessed",
        "agency": {"id": "sc1", "type": "social_care"},
        "date_of_birth": dt.date(2010, 1, 1),
        **change,
    }
    with pytest.raises(InvalidRecordError) as info:
        check_observation(record, default_catalogue())
    assert (str(info.value), info.value.field) == (message, field)


def test_bytes_that_are_not_avro_are_never_echoed() -> None:
    # A sender's JSON with an NHS number in it: the reason says what is wrong, not what was sent.
    sent = b'{"nhs": "9434765919"}'
    with pytest.raises(NotSingleObjectError) as info:
        EventCodec("observation").decode(sent)
    assert str(info.value) == (
        "not Avro single-object encoded: expected C3 01 and an 8-byte fingerprint, got 21 bytes, "
        "not starting C3 01"
    )
    assert sent[:10].hex(" ") not in str(info.value) and "943" not in str(info.value)
