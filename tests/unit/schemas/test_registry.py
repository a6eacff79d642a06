from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from safeguard.kernel.errors import CompatibilityError, SchemaError
from schemas.codec import EventCodec
from schemas.registry import SCHEMA_DIR, SchemaRegistry, default_registry, load_schema

EVENTS = [
    "alert",
    "alert_action",
    "child_encoding",
    "dead_letter",
    "erasure",
    "identity_link",
    "link_proposal",
    "observation",
    "retraction",
    "school",
    "school_registration",
]


def test_shipped_schemas_are_all_found_and_fully_compatible() -> None:
    registry = default_registry()
    assert registry.events == EVENTS
    registry.check_compatibility()


def _with_observation_v2(tmp_path: Path, new_field: dict[str, Any]) -> SchemaRegistry:
    shutil.copy(SCHEMA_DIR / "observation.v1.avsc", tmp_path)
    raw = json.loads((SCHEMA_DIR / "observation.v1.avsc").read_text())
    raw["fields"].append(new_field)
    (tmp_path / "observation.v2.avsc").write_text(json.dumps(raw))
    return SchemaRegistry(tmp_path)


def test_old_and_new_versions_read_each_other(tmp_path: Path, observation: dict[str, Any]) -> None:
    registry = _with_observation_v2(
        tmp_path,
        {"name": "channel", "type": "string", "default": "api", "doc": "How it arrived."},
    )
    registry.check_compatibility()
    v1, v2 = registry.versions("observation")
    old_bytes = EventCodec("observation").encode(observation)  # written with the shipped v1
    assert old_bytes[2:10] == v1.fingerprint
    assert EventCodec("observation", registry).decode(old_bytes) == {
        **observation,
        "channel": "api",
    }
    new_bytes = EventCodec("observation", registry).encode({**observation, "channel": "csv"})
    assert new_bytes[2:10] == v2.fingerprint


def test_a_field_added_without_default_is_a_breaking_change_named(tmp_path: Path) -> None:
    registry = _with_observation_v2(
        tmp_path, {"name": "channel", "type": "string", "doc": "How it arrived."}
    )
    with pytest.raises(CompatibilityError) as info:
        registry.check_compatibility()
    assert str(info.value) == (
        "observation.v2 cannot read data written with observation.v1: "
        "reader_field_missing_default_value: channel (at /fields/11)"
    )


def test_a_field_without_doc_is_refused(tmp_path: Path) -> None:
    raw = {"type": "record", "name": "X", "fields": [{"name": "a", "type": "int"}]}
    (tmp_path / "x.v1.avsc").write_text(json.dumps(raw))
    with pytest.raises(SchemaError, match=r"^x\.v1\.avsc: field X\.a has no doc$"):
        load_schema(tmp_path / "x.v1.avsc")


def test_a_badly_named_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "observation.avsc").write_text('"int"')
    with pytest.raises(SchemaError, match=r"^observation\.avsc: schema files are named"):
        SchemaRegistry(tmp_path)


def test_an_unknown_event_is_named() -> None:
    with pytest.raises(SchemaError, match="no schema for event 'referral'"):
        EventCodec("referral")
