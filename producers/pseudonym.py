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

import hashlib
import hmac
import re
from pathlib import Path

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


class Pseudonymiser:
    """Turns identifiers into pseudonyms under the partnership key: ``child_ref`` under the key
    itself (as it always was, so the references agencies already hold stay the same), family
    references under a key derived for families (``purpose_key``)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ConfigError("the partnership key must be at least 32 bytes")
        self._key = key
        self._family_key = purpose_key(key, "family")

    def __repr__(self) -> str:
        return "Pseudonymiser(key=***)"

    def child_ref(self, namespace: str, identifier: str) -> str:
        message = f"{namespace}:{normalise(namespace, identifier)}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def family_ref(self, family: str) -> str:
        """A travelling family's reference: never equal to any child's, whatever the input."""
        message = normalise("family", family).encode()
        return hmac.new(self._family_key, message, hashlib.sha256).hexdigest()


def load_key(secret: SecretStr | None, path: Path | None) -> bytes:
    """The partnership key, from ``SAFEGUARD_PSEUDONYM_KEY`` or ``SAFEGUARD_PSEUDONYM_KEY_FILE``."""
    if secret is not None:
        return secret.get_secret_value().encode()
    if path is None:
        raise ConfigError(
            "no partnership key: set SAFEGUARD_PSEUDONYM_KEY_FILE (or SAFEGUARD_PSEUDONYM_KEY) "
            "to the key every agency in the partnership shares"
        )
    return read_key_file(path, "SAFEGUARD_PSEUDONYM_KEY_FILE")


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
