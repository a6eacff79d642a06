"""Every Avro schema version in ``schemas/``, indexed by event, version and fingerprint.

Files are named ``<event>.v<N>.avsc`` (``observation.v1.avsc``). Every version ever published is
kept: a reader finds the writer's schema by the fingerprint in the message and resolves it into
the newest version it knows. ``check_compatibility`` proves every pair of versions of each event
can read each other's data (full compatibility), using Apache Avro's own checker.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from itertools import permutations
from pathlib import Path
from typing import Any

import avro.compatibility
import avro.errors
import avro.schema
from fastavro import parse_schema
from fastavro.schema import fingerprint, to_parsing_canonical_form

from safeguard.kernel.errors import CompatibilityError, SchemaError

SCHEMA_DIR = Path(__file__).resolve().parent
_FILE_NAME = re.compile(r"^(?P<event>[a-z][a-z_]*)\.v(?P<version>[1-9][0-9]*)\.avsc$")


@dataclass(frozen=True)
class SchemaVersion:
    """One version of one event's schema."""

    event: str
    version: int
    path: Path
    raw: dict[str, Any] = field(repr=False)
    parsed: Any = field(repr=False)  # fastavro's parsed form: a dict, or a str for a primitive
    canonical: str = field(repr=False)
    fingerprint: bytes = field(repr=False)
    """CRC-64-AVRO of the Parsing Canonical Form, as the 8 little-endian bytes on the wire."""

    @property
    def name(self) -> str:
        return f"{self.event}.v{self.version}"


class SchemaRegistry:
    """The schema versions found in one folder."""

    def __init__(self, folder: Path = SCHEMA_DIR) -> None:
        self.folder = folder
        self._events: dict[str, list[SchemaVersion]] = {}
        self._by_fingerprint: dict[bytes, SchemaVersion] = {}
        for path in sorted(folder.glob("*.avsc")):
            self._add(load_schema(path))
        for versions in self._events.values():
            versions.sort(key=lambda v: v.version)

    def _add(self, schema: SchemaVersion) -> None:
        twin = self._by_fingerprint.get(schema.fingerprint)
        if twin is not None:
            raise SchemaError(f"{schema.path.name} is identical to {twin.path.name}")
        versions = self._events.setdefault(schema.event, [])
        if any(v.version == schema.version for v in versions):
            raise SchemaError(f"{schema.path.name}: version {schema.version} exists twice")
        versions.append(schema)
        self._by_fingerprint[schema.fingerprint] = schema

    @property
    def events(self) -> list[str]:
        return sorted(self._events)

    def versions(self, event: str) -> list[SchemaVersion]:
        try:
            return list(self._events[event])
        except KeyError:
            raise SchemaError(f"no schema for event {event!r} in {self.folder}") from None

    def latest(self, event: str) -> SchemaVersion:
        return self.versions(event)[-1]

    def by_fingerprint(self, fp: bytes) -> SchemaVersion | None:
        return self._by_fingerprint.get(fp)

    def check_compatibility(self) -> None:
        """Raise ``CompatibilityError`` unless all versions of each event read each other."""
        for event in self.events:
            for writer, reader in permutations(self.versions(event), 2):
                check_can_read(reader, writer)


def check_can_read(reader: SchemaVersion, writer: SchemaVersion) -> None:
    """Raise ``CompatibilityError``, naming the fields, unless ``reader`` reads ``writer``."""
    checker = avro.compatibility.ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]  # avro is unannotated here
    result = checker.get_compatibility(_avro(reader), _avro(writer))
    if result.compatibility is avro.compatibility.SchemaCompatibilityType.compatible:
        return
    kinds = ", ".join(sorted({kind.value for kind in result.incompatibilities}))
    fields = ", ".join(sorted(result.messages))
    where = ", ".join(sorted(result.locations))
    problems = f"{kinds}: {fields} (at {where})"
    raise CompatibilityError(
        f"{reader.name} cannot read data written with {writer.name}: {problems}"
    )


def _avro(schema: SchemaVersion) -> avro.schema.Schema:
    return avro.schema.parse(json.dumps(schema.raw))


def load_schema(path: Path) -> SchemaVersion:
    """Parse one ``.avsc`` file, checking its name and that every field has a ``doc``."""
    match = _FILE_NAME.match(path.name)
    if match is None:
        raise SchemaError(f"{path.name}: schema files are named <event>.v<N>.avsc")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        parsed = parse_schema(raw, _write_hint=False)
        canonical = to_parsing_canonical_form(raw)
        avro.schema.parse(json.dumps(raw))
    except (ValueError, avro.errors.AvroException) as exc:
        raise SchemaError(f"{path.name}: {exc}") from exc
    _require_docs(raw, path.name)
    return SchemaVersion(
        event=match["event"],
        version=int(match["version"]),
        path=path,
        raw=raw,
        parsed=parsed,
        canonical=canonical,
        fingerprint=bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO")),
    )


def _require_docs(schema: Any, file: str) -> None:
    if isinstance(schema, list):
        for branch in schema:
            _require_docs(branch, file)
    elif isinstance(schema, dict):
        if schema.get("type") == "record":
            for f in schema["fields"]:
                if not f.get("doc"):
                    raise SchemaError(f"{file}: field {schema['name']}.{f['name']} has no doc")
                _require_docs(f["type"], file)
        elif schema.get("type") == "array":
            _require_docs(schema["items"], file)


@cache
def default_registry() -> SchemaRegistry:
    """The registry of the schemas shipped in this package (loaded once)."""
    return SchemaRegistry()
