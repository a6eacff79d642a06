"""Pseudonymous ``child_ref``: HMAC-SHA256 of a normalised, namespaced identifier.

The same child seen by two agencies with the same identifier gets the same ``child_ref``; without
the partnership key nobody can get from the pseudonym back to the identifier, or test a guess.
Raw identifiers are normalised and checked here and go no further: never to Kafka, never to a log,
never into an error message.

Namespaces:

* ``nhs`` — NHS number: 10 digits (spaces and hyphens allowed), modulus-11 check digit
  (python-stdnum's ``stdnum.gb.nhs``).
* ``upn`` — Unique Pupil Number: a check letter, 11 digits and a final digit or letter, checked
  with the DfE weights 2..13 modulo 23 (``stdnum.gb.upn.calc_check_digit``). stdnum's own
  ``validate`` is not used: it accepts only English local-authority numbers, and Welsh pupils'
  UPNs carry Welsh ones (660-681).
* anything else (``police``, ``home_office``, ``social_care``, ``family``...) — an opaque
  reference, compared after trimming and upper-casing.
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from stdnum.exceptions import InvalidChecksum, ValidationError
from stdnum.gb import nhs, upn

from safeguard.kernel.errors import ConfigError, InvalidRecordError
from safeguard.kernel.settings import Settings

_NAMESPACE = re.compile(r"^[a-z][a-z0-9_]{1,31}$")


def normalise_nhs_number(value: str) -> str:
    try:
        return str(nhs.validate(value))
    except InvalidChecksum:
        raise InvalidRecordError(
            "identifier: the NHS number's check digit is wrong", field="identifier"
        ) from None
    except ValidationError:
        raise InvalidRecordError(
            "identifier: an NHS number has 10 digits", field="identifier"
        ) from None


def normalise_upn(value: str) -> str:
    upn = re.sub(r"\s", "", value).upper()
    if not re.fullmatch(r"[A-Z]\d{11}[0-9A-Z]", upn):
        raise InvalidRecordError(
            "identifier: a UPN is a letter, 11 digits and a digit or letter", field="identifier"
        )
    try:
        expected = upn_check_letter(upn[1:])
    except (ValueError, ValidationError):  # a letter no UPN has in its last place
        raise InvalidRecordError(
            "identifier: not a UPN (its last character is not one a UPN can end with)",
            field="identifier",
        ) from None
    if upn[0] != expected:
        raise InvalidRecordError("identifier: the UPN's check letter is wrong", field="identifier")
    return upn


def upn_check_letter(body: str) -> str:
    """The check letter for the 12 characters after it."""
    return str(upn.calc_check_digit(body))


def normalise(namespace: str, value: str) -> str:
    if not _NAMESPACE.match(namespace):
        raise InvalidRecordError(
            f"identifier_namespace: {namespace!r} is not lowercase letters, digits and _",
            field="identifier_namespace",
            value=namespace,
        )
    if namespace == "nhs":
        return normalise_nhs_number(value)
    if namespace == "upn":
        return normalise_upn(value)
    opaque = " ".join(value.split()).upper()
    if not opaque:
        raise InvalidRecordError("identifier: is empty", field="identifier")
    return opaque


def purpose_key(key: bytes, purpose: str) -> bytes:
    """A key of its own for one purpose, derived from the partnership key (HMAC-SHA256 of the
    purpose's label): references made for one purpose cannot be matched against another's."""
    return hmac.new(key, f"safeguard-stream/{purpose}/v1".encode(), hashlib.sha256).digest()


_KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")


@dataclass(frozen=True)
class KeyRing:
    """The partnership's pseudonym keys by id: the current one, and those being retired.

    A key file holds one key (its id is ``1``), or a JSON ring
    ``{"current": "2027", "keys": {"2026": "...", "2027": "..."}}`` while a key is rotated
    (README, "Rotating the partnership key"): references are made under the current key, and
    each identifier seen is also linked from its reference under every retiring key.
    """

    current_id: str
    keys: dict[str, bytes]

    @classmethod
    def single(cls, key: bytes) -> KeyRing:
        return cls("1", {"1": key})

    @classmethod
    def parse(cls, data: bytes, source: str) -> KeyRing:
        """A ring from a key file's bytes; ``ConfigError`` naming ``source``, never a key."""
        if not data.lstrip().startswith(b"{"):
            return cls.single(data.strip())
        try:
            raw = json.loads(data)
            ring = cls(raw["current"], {k: v.encode() for k, v in raw["keys"].items()})
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ConfigError(
                f'{source}: a key ring is {{"current": ID, "keys": {{ID: KEY, ...}}}}'
            ) from None
        if ring.current_id not in ring.keys:
            raise ConfigError(f"{source}: the current key id is not among the ring's keys")
        if not all(isinstance(k, str) and _KEY_ID.match(k) for k in ring.keys):
            raise ConfigError(f"{source}: a key id is 1-32 letters, digits, '.', '_' or '-'")
        return ring

    @property
    def current(self) -> bytes:
        return self.keys[self.current_id]

    def retiring(self) -> dict[str, bytes]:
        return {k: v for k, v in self.keys.items() if k != self.current_id}

    def __repr__(self) -> str:
        return f"KeyRing(current={self.current_id!r}, ids={sorted(self.keys)!r}, keys=***)"


@dataclass(frozen=True)
class Rotation:
    """One child's reference under a retiring key and under the current one."""

    old_ref: str
    new_ref: str
    old_id: str
    new_id: str


class Pseudonymiser:
    """Turns identifiers into pseudonyms under the partnership key: ``child_ref`` under the key
    itself (as it always was, so the references agencies already hold stay the same), family
    references under a key derived for families (``purpose_key``). With a ring of keys, under
    the current one, remembering the rotations to link (``take_rotations``)."""

    def __init__(self, key: bytes | KeyRing) -> None:
        ring = key if isinstance(key, KeyRing) else KeyRing.single(key)
        if any(len(k) < 32 for k in ring.keys.values()):
            raise ConfigError("the partnership key must be at least 32 bytes")
        self._key = ring.current
        self._family_key = purpose_key(ring.current, "family")
        self.key_id = ring.current_id
        self._retiring = ring.retiring()
        self._rotations: list[Rotation] = []
        self._linked: collections.OrderedDict[str, None] = collections.OrderedDict()

    def __repr__(self) -> str:
        return "Pseudonymiser(key=***)"

    def child_ref(self, namespace: str, identifier: str) -> str:
        message = f"{namespace}:{normalise(namespace, identifier)}".encode()
        ref = hmac.new(self._key, message, hashlib.sha256).hexdigest()
        for key_id, key in self._retiring.items():
            old = hmac.new(key, message, hashlib.sha256).hexdigest()
            if old not in self._linked:
                self._rotations.append(Rotation(old, ref, key_id, self.key_id))
        return ref

    def take_rotations(self) -> list[Rotation]:
        """The rotations found since the last call, not yet linked; ``linked`` once sent."""
        found, self._rotations = self._rotations, []
        return list({r.old_ref: r for r in found}.values())

    def linked(self, rotations: list[Rotation]) -> None:
        """Remember that these links are on the broker (the newest ``_LINKED_REMEMBERED``; a
        link sent again changes nothing in the worker, it only costs a record)."""
        for rotation in rotations:
            self._linked[rotation.old_ref] = None
            self._linked.move_to_end(rotation.old_ref)
        while len(self._linked) > _LINKED_REMEMBERED:
            self._linked.popitem(last=False)

    def family_ref(self, family: str) -> str:
        """A travelling family's reference: never equal to any child's, whatever the input."""
        message = normalise("family", family).encode()
        return hmac.new(self._family_key, message, hashlib.sha256).hexdigest()


_LINKED_REMEMBERED = 100_000


def rotation_link(rotation: Rotation, now: dt.datetime) -> dict[str, Any]:
    """The identity link that joins a child's reference under a retiring key to its reference
    under the current one (an ``identity_link`` record)."""
    return {
        "event_id": hashlib.sha256(
            f"key-rotation:{rotation.old_ref}:{rotation.new_ref}".encode()
        ).hexdigest()[:32],
        "ref_a": rotation.old_ref,
        "ref_b": rotation.new_ref,
        "basis": "shared_record",
        "agency": {"id": ROTATION_AGENCY, "type": "local_authority"},
        "stated_at": now,
        "withdrawn": False,
        "source_ref": f"key-rotation {rotation.old_id} to {rotation.new_id}",
    }


#: The agency an identity link made by a key rotation names: the partnership's own service.
ROTATION_AGENCY = "partnership-key-rotation"


def load_key(secret: SecretStr | None, path: Path | None) -> KeyRing:
    """The partnership's keys, from ``SAFEGUARD_PSEUDONYM_KEY`` or its ``_FILE``."""
    if secret is not None:
        return KeyRing.parse(secret.get_secret_value().encode(), "SAFEGUARD_PSEUDONYM_KEY")
    if path is None:
        raise ConfigError(
            "no partnership key: set SAFEGUARD_PSEUDONYM_KEY_FILE (or SAFEGUARD_PSEUDONYM_KEY) "
            "to the key of the partnership's pseudonymisation service"
        )
    return KeyRing.parse(read_key_file(path, "SAFEGUARD_PSEUDONYM_KEY_FILE"), str(path))


def read_key_file(path: Path, variable: str) -> bytes:
    """A key from its file; ``ConfigError`` when others than its owner may read or write it."""
    try:
        mode = path.stat().st_mode
        if mode & 0o077:
            raise ConfigError(
                f"{variable}={path} may be read by others (mode {mode & 0o777:04o}): a key "
                f"file is its owner's only; chmod 600 {path}"
            )
        return path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"{variable}={path}: {exc.strerror}") from exc


def load_linkage_key(settings: Settings) -> bytes:
    """The linkage key for CLK encodings, from ``SAFEGUARD_LINKAGE_KEY_FILE`` (or
    ``SAFEGUARD_LINKAGE_KEY``): another key than the pseudonym key, held by encoding agencies."""
    if settings.linkage_key is not None:
        key = settings.linkage_key.get_secret_value().encode()
    elif settings.linkage_key_file is not None:
        key = read_key_file(settings.linkage_key_file, "SAFEGUARD_LINKAGE_KEY_FILE")
    else:
        raise ConfigError(
            "no linkage key: set SAFEGUARD_LINKAGE_KEY_FILE (or SAFEGUARD_LINKAGE_KEY) to the key "
            "the agencies that encode share"
        )
    if len(key) < 32:
        raise ConfigError("the linkage key must be at least 32 bytes")
    return key
