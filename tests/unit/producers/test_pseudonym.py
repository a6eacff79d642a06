from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from producers.pseudonym import (
    KeyRing,
    Pseudonymiser,
    load_key,
    load_linkage_key,
    normalise,
    rotation_link,
)
from safeguard.kernel.errors import ConfigError, InvalidRecordError
from safeguard.kernel.settings import Settings

KEY = b"k" * 32


@pytest.mark.parametrize(
    ("namespace", "value", "normalised"),
    [
        ("nhs", "943 476 5919", "9434765919"),  # the NHS's own published example
        ("nhs", "943-476-5919", "9434765919"),
        ("nhs", "4010232137", "4010232137"),
        ("upn", "e660123412001", "E660123412001"),  # Welsh LA 660 (Isle of Anglesey)
        ("upn", "b801200005001", "B801200005001"),  # python-stdnum's documented example
        ("police", "  cr/123/26 ", "CR/123/26"),
    ],
)
def test_valid_identifiers_normalise(namespace: str, value: str, normalised: str) -> None:
    assert normalise(namespace, value) == normalised


@pytest.mark.parametrize(
    ("namespace", "value", "message"),
    [
        ("nhs", "9434765918", "identifier: the NHS number's check digit is wrong"),
        ("nhs", "943476591", "identifier: an NHS number has 10 digits"),
        ("nhs", "94347659AB", "identifier: an NHS number has 10 digits"),
        ("upn", "A801200005001", "identifier: the UPN's check letter is wrong"),
        ("upn", "E66012341200", "identifier: a UPN is a letter, 11 digits and a digit or letter"),
        # A last letter no UPN has: refused as a bad row, never an error of the whole import.
        (
            "upn",
            "A12345678901I",
            "identifier: not a UPN (its last character is not one a UPN can end with)",
        ),
        ("police", "   ", "identifier: is empty"),
        (
            "Police Ref",
            "x",
            "identifier_namespace: 'Police Ref' is not lowercase letters, digits and _",
        ),
    ],
)
def test_invalid_identifiers_are_refused_without_echoing_them(
    namespace: str, value: str, message: str
) -> None:
    with pytest.raises(InvalidRecordError) as info:
        normalise(namespace, value)
    assert str(info.value) == message
    assert value.strip() not in str(info.value) or not value.strip()


def test_the_same_child_gets_the_same_pseudonym_from_two_agencies() -> None:
    pseudonyms = Pseudonymiser(KEY)
    health = pseudonyms.child_ref("nhs", "943 476 5919")
    police = pseudonyms.child_ref("nhs", "9434765919")
    assert health == police
    assert len(health) == 64 and "9434765919" not in health


def test_namespaces_and_keys_separate_pseudonyms() -> None:
    assert Pseudonymiser(KEY).child_ref("police", "123") != Pseudonymiser(KEY).child_ref(
        "home_office", "123"
    )
    assert Pseudonymiser(KEY).child_ref("police", "123") != Pseudonymiser(b"j" * 32).child_ref(
        "police", "123"
    )


def test_a_short_key_is_refused_and_never_shown() -> None:
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        Pseudonymiser(b"short")
    assert "k" * 32 not in repr(Pseudonymiser(KEY))


def test_a_family_reference_is_never_a_childs_reference() -> None:
    """Families have a key of their own: an identifier sent as a child's, even under the
    namespace "family", never gives a travelling family's reference."""
    pseudonyms = Pseudonymiser(KEY)
    family = pseudonyms.family_ref("household-17")
    assert family == Pseudonymiser(KEY).family_ref("  HOUSEHOLD-17 ")
    assert family not in {
        pseudonyms.child_ref("family", "household-17"),
        pseudonyms.child_ref("police", "household-17"),
    }
    assert family != Pseudonymiser(b"j" * 32).family_ref("household-17")


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_key_file_others_may_read_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "partnership.key"
    path.write_bytes(KEY)
    path.chmod(mode)
    with pytest.raises(ConfigError) as refused:
        load_key(None, path)
    assert str(refused.value) == (
        f"SAFEGUARD_PSEUDONYM_KEY_FILE={path} may be read by others (mode {mode:04o}): a key "
        f"file is its owner's only; chmod 600 {path}"
    )
    assert KEY.decode() not in str(refused.value)
    path.chmod(0o600)
    assert load_key(None, path) == KeyRing.single(KEY)


def test_a_linkage_key_file_others_may_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "linkage.key"
    path.write_bytes(b"l" * 40)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match=r"SAFEGUARD_LINKAGE_KEY_FILE=.* may be read by others"):
        load_linkage_key(Settings(linkage_key_file=path))


OLD, NEW = b"o" * 32, b"n" * 32


def ring_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "partnership.key"
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_a_key_ring_makes_references_under_the_current_key_and_links_the_retiring_ones(
    tmp_path: Path,
) -> None:
    path = ring_file(tmp_path, '{"current": "2027", "keys": {"2026": "' + "o" * 32 + '", '
                     '"2027": "' + "n" * 32 + '"}}')  # fmt: skip
    ring = load_key(None, path)
    assert (ring.current_id, ring.current, ring.retiring()) == ("2027", NEW, {"2026": OLD})
    assert "o" * 32 not in repr(ring) and "n" * 32 not in repr(ring)
    pseudonyms = Pseudonymiser(ring)
    ref = pseudonyms.child_ref("nhs", "943 476 5919")
    assert ref == Pseudonymiser(NEW).child_ref("nhs", "9434765919")
    old = Pseudonymiser(OLD).child_ref("nhs", "9434765919")
    (rotation,) = pseudonyms.take_rotations()
    assert (rotation.old_ref, rotation.new_ref, rotation.old_id, rotation.new_id) == (
        old,
        ref,
        "2026",
        "2027",
    )
    link = rotation_link(rotation, dt.datetime(2027, 1, 4, tzinfo=dt.UTC))
    assert (link["ref_a"], link["ref_b"], link["basis"], link["source_ref"]) == (
        old,
        ref,
        "shared_record",
        "key-rotation 2026 to 2027",
    )
    # Until it is on the broker, the rotation is found again; once linked, not again.
    pseudonyms.child_ref("nhs", "9434765919")
    again = pseudonyms.take_rotations()
    assert again == [rotation]
    pseudonyms.linked(again)
    pseudonyms.child_ref("nhs", "9434765919")
    assert pseudonyms.take_rotations() == []
    # One key alone: nothing to rotate, the same references as ever.
    single = Pseudonymiser(load_key(None, ring_file(tmp_path, "o" * 32)))
    assert single.child_ref("nhs", "9434765919") == old
    assert single.take_rotations() == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"current": "b", "keys": {"a": "' + "s" * 32 + '"}}', "the current key id is not"),
        ('{"keys": {"a": "' + "s" * 32 + '"}}', 'a key ring is {"current": ID'),
        ('{"current": "a b", "keys": {"a b": "' + "s" * 32 + '"}}', "a key id is 1-32 letters"),
    ],
)
def test_a_bad_key_ring_is_refused_without_its_keys(
    tmp_path: Path, text: str, message: str
) -> None:
    path = ring_file(tmp_path, text)
    with pytest.raises(ConfigError) as refused:
        load_key(None, path)
    assert str(refused.value).startswith(f"{path}: {message}")
    assert "s" * 32 not in str(refused.value)


def test_every_key_of_a_ring_must_be_long_enough(tmp_path: Path) -> None:
    ring = load_key(None, ring_file(tmp_path, '{"current": "a", "keys": {"a": "short"}}'))
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        Pseudonymiser(ring)
