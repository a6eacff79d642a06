"""CLK encodings: what stays alike, what stays apart, and the linkage quality they give."""

from __future__ import annotations

import datetime as dt

import pytest

from bench.linkage import run
from safeguard.kernel.settings import Settings
from schemas.linkage import BYTES, Identity, LinkageKeys, similarity, soundex

KEYS = LinkageKeys(b"linkage-key-for-the-unit-tests-0123456789")
BORN = dt.date(2011, 4, 9)
CHILD = Identity("Yusuf", "Haddad", BORN, "M", "CF24")
THRESHOLD = Settings.model_construct().linkage_threshold


def alike(other: Identity) -> float:
    return similarity(KEYS.encode(CHILD).clk, KEYS.encode(other).clk)


def test_an_encoding_is_1024_bits_keyed_and_the_same_each_time() -> None:
    first = KEYS.encode(CHILD)
    assert len(first.clk) == BYTES == 128
    assert first == KEYS.encode(CHILD)
    other_key = LinkageKeys(b"another-partnerships-linkage-key-0123456789")
    assert other_key.encode(CHILD).clk != first.clk
    assert set(other_key.encode(CHILD).blocks).isdisjoint(first.blocks)
    assert "Yusuf" not in repr(first) and "HADDAD" not in first.clk.hex().upper()


@pytest.mark.parametrize(
    "recorded",
    [
        Identity("Yusuf", "Haddad", BORN, "M", "CF24"),
        Identity("Yusif", "Haddad", BORN, "M", "CF24"),  # another transliteration
        Identity("Yusuf", "Hadad", BORN, "M", None),  # a typing error, no postcode
        Identity("Haddad", "Yusuf", BORN, "M", "CF24"),  # the names the other way round
        Identity("Yusuf", "Haddad", dt.date(2011, 9, 4), "M", "CF24"),  # day and month swapped
        Identity("yúsuf", "HADDAD", BORN, None, "cf24"),  # accents, case, no sex recorded
    ],
)
def test_the_same_child_recorded_differently_is_proposed(recorded: Identity) -> None:
    assert alike(recorded) >= THRESHOLD
    assert set(KEYS.encode(recorded).blocks) & set(KEYS.encode(CHILD).blocks)


@pytest.mark.parametrize(
    "other",
    [
        Identity("Omar", "Haddad", BORN, "M", "CF24"),  # a twin
        Identity("Yusuf", "Haddad", dt.date(2013, 2, 17), "M", "CF24"),  # another boy, same name
        Identity("Maryam", "Haddad", BORN, "F", "CF24"),  # a twin sister
    ],
)
def test_another_child_is_not(other: Identity) -> None:
    assert alike(other) < THRESHOLD


def test_soundex_is_the_american_soundex() -> None:
    assert [soundex(w) for w in ("ROBERT", "RUPERT", "ASHCRAFT", "TYMCZAK", "PFISTER")] == [
        "R163",
        "R163",
        "A261",
        "T522",
        "P236",
    ]


def test_the_default_threshold_meets_the_linkage_targets_on_5000_children() -> None:
    result = run(5000, [THRESHOLD], seed=7)
    (quality,) = result["thresholds"]  # type: ignore[misc]
    assert quality["precision"] >= 0.99
    assert quality["recall"] >= 0.95
    assert result["comparisons"] < result["all_pairs"] / 100  # type: ignore[operator]
