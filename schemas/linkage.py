"""Privacy-preserving record linkage: cryptographic long-term keys (CLKs) of a child's name, date
of birth, sex and postcode district, and how two are compared.

An agency that knows a child without an identifier another agency shares (or beside one)
encodes what it knows into a CLK with the partnership's *linkage* key, and publishes the CLK;
the values never leave the agency, and the pipeline, which never holds the linkage key, only
compares CLKs. The scheme is the published one (Schnell, Bachteler and Reiher, "Privacy-preserving
record linkage using Bloom filters", BMC Medical Informatics and Decision Making 9:41, 2009, as
extended to whole records by Schnell, Bachteler and Reiher 2011 and used by clkhash), with these
parameters, version ``clk-v1``:

- **Filter**: 1,024 bits (128 bytes).
- **Tokens** (after normalisation: accents removed, upper case, letters only, name parts split):
  every name part's bigrams, padded (``_MO``... is ``_M``, ``MO``, ``O_``), all parts together and
  in no order, so a reordered name encodes the same; the first name's parts again, as their own
  field, so twins (same surname, birth date and postcode) stay apart; the birth year, the day and
  month as a pair in either order (a day-month swap keeps it) and each alone; the sex; the
  postcode area and district.
- **Hashing**: each token of field *f* sets ``k_f`` bits, at ``(h1 + i * h2) mod 1024`` for
  ``i < k_f`` (double hashing, Kirsch and Mitzenmacher 2006), where ``h1`` and ``h2`` are
  HMAC-SHA256 of ``f`` and the token under two keys derived from the linkage key. ``k``: name
  bigrams 10, first-name bigrams 12, year 20, day-month pair 20, day and month 8 each, sex 12,
  postcode area 6 and district 10.
- **Similarity**: the Dice coefficient of the two filters' set bits, ``2|A∧B| / (|A| + |B|)``.
- **Blocking**: keyed blocking keys (HMAC-SHA256 under a key derived from the linkage key, 16
  hex digits): the birth date with day and month in either order; each name part's Soundex code
  with the birth year; and the Soundex codes of the first given and first family name, in
  either order. Two CLKs are compared only when they share a blocking key, so the comparisons
  stay far below all pairs; a child whose birth date is wrong is still found through the names,
  and one whose name is transliterated differently through the birth date.

What the encodings cannot hide is documented in the README (frequency attacks on Bloom filters
are known; the linkage key is what keeps a dictionary attack out of reach).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

SCHEME = "clk-v1"
BITS = 1024
BYTES = BITS // 8
#: Each field's segment of the filter: (first bit, bits), and the bits each token sets.
SEGMENTS = {
    "given": (0, 256),
    "family": (256, 256),
    "dob": (512, 256),
    "sex": (768, 64),
    "postcode": (832, 192),
}
K = {"given": 8, "family": 8, "sex": 16, "postcode": 20}
#: Bits per token of the birth date: the year, the date with day and month in either order, and
#: the exact date (a day-month swap keeps three quarters of the agreement, the year alone a
#: quarter).
K_DOB = {"Y": 10, "P": 20, "F": 10}
#: How much each field's agreement counts; a field missing on either side is left out.
WEIGHTS = {"name": 0.55, "dob": 0.35, "sex": 0.05, "postcode": 0.05}
#: Within the name, the given names count more than the family name: twins share the latter.
GIVEN_SHARE = 0.6
_NOT_LETTERS = re.compile(r"[^A-Z ]+")
_POSTCODE_DISTRICT = re.compile(r"^([A-Z]{1,2})([0-9][0-9A-Z]?)$")


@dataclass(frozen=True)
class Identity:
    """What an agency knows of a child, which never leaves it: only its CLK does."""

    first_names: str
    surname: str
    date_of_birth: dt.date | None
    sex: str | None
    """``F``, ``M`` or None when not recorded."""
    postcode_district: str | None
    """The outward code only (``CF24``), never the full postcode."""


@dataclass(frozen=True)
class Encoding:
    clk: bytes
    blocks: tuple[str, ...]


class LinkageKeys:
    """The keys derived from the partnership's linkage key (at least 32 bytes)."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("the linkage key must be at least 32 bytes")
        self._h1 = _derive(secret, b"clk-v1 h1")
        self._h2 = _derive(secret, b"clk-v1 h2")
        self._block = _derive(secret, b"clk-v1 blocking")

    def __repr__(self) -> str:
        return "LinkageKeys(***)"

    def encode(self, identity: Identity) -> Encoding:
        bits = 0
        for field, token in tokens(identity):
            first, size = SEGMENTS[field]
            # Given and family names hash alike, so names recorded the other way round compare.
            label = "name" if field in ("given", "family") else field
            data = f"{label}\x1f{token}".encode()
            h1 = int.from_bytes(hmac.new(self._h1, data, hashlib.sha256).digest(), "big")
            h2 = int.from_bytes(hmac.new(self._h2, data, hashlib.sha256).digest(), "big")
            k = K_DOB[token[0]] if field == "dob" else K[field]
            for i in range(k):
                bits |= 1 << (first + (h1 + i * h2) % size)
        return Encoding(bits.to_bytes(BYTES, "big"), self.blocks(identity))

    def blocks(self, identity: Identity) -> tuple[str, ...]:
        raw = set()
        born = identity.date_of_birth
        year = born.year if born is not None else "?"
        if born is not None:
            low, high = sorted((born.day, born.month))
            raw.add(f"dob:{born.year}:{low}:{high}")
        given, family = _parts(identity.first_names), _parts(identity.surname)
        for part in given + family:
            raw.add(f"name-year:{soundex(part)}:{year}")
        if given and family:
            pair = sorted((soundex(given[0]), soundex(family[0])))
            raw.add(f"names:{pair[0]}:{pair[1]}")
        return tuple(
            sorted(hmac.new(self._block, b.encode(), hashlib.sha256).hexdigest()[:16] for b in raw)
        )


def _derive(secret: bytes, label: bytes) -> bytes:
    return hmac.new(secret, label, hashlib.sha256).digest()


def normalise(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).upper()
    return " ".join(_NOT_LETTERS.sub(" ", plain.replace("-", " ").replace("'", "")).split())


def _parts(text: str) -> list[str]:
    return normalise(text).split()


def _bigrams(part: str) -> list[str]:
    padded = f"_{part}_"
    return [padded[i : i + 2] for i in range(len(padded) - 1)]


def tokens(identity: Identity) -> Iterable[tuple[str, str]]:
    """The (field, token) pairs of ``identity``, as ``clk-v1`` hashes them."""
    for field, names in (("given", identity.first_names), ("family", identity.surname)):
        for part in _parts(names):
            for gram in _bigrams(part):
                yield field, gram
    born = identity.date_of_birth
    if born is not None:
        low, high = sorted((born.day, born.month))
        yield "dob", f"Y{born.year}"
        yield "dob", f"P{born.year}-{low:02d}-{high:02d}"
        yield "dob", f"F{born.isoformat()}"
    if identity.sex:
        yield "sex", identity.sex.upper()[:1]
    district = "".join((identity.postcode_district or "").upper().split())
    match = _POSTCODE_DISTRICT.match(district)
    if match:
        yield "postcode", f"A{match.group(1)}"
        yield "postcode", f"D{district}"


def soundex(word: str) -> str:
    """American Soundex of one upper-case name part (``ROBERT`` is ``R163``)."""
    codes = {
        **dict.fromkeys("BFPV", "1"),
        **dict.fromkeys("CGJKQSXZ", "2"),
        **dict.fromkeys("DT", "3"),
        "L": "4",
        **dict.fromkeys("MN", "5"),
        "R": "6",
    }
    if not word:
        return "0000"
    out, last = word[0], codes.get(word[0], "")
    for char in word[1:]:
        code = codes.get(char, "")
        if code and code != last:
            out += code
        if char not in "HW":
            last = code
    return (out + "000")[:4]


def _dice(x: int, y: int) -> float | None:
    """Dice coefficient of two segments' set bits; None when either is empty (not recorded)."""
    nx, ny = x.bit_count(), y.bit_count()
    if not nx or not ny:
        return None
    return 2 * (x & y).bit_count() / (nx + ny)


def segments(clk: bytes) -> dict[str, int]:
    """Each field's segment of a CLK, as an integer (parse once, compare many times)."""
    value = int.from_bytes(clk, "big")
    return {
        field: (value >> first) & ((1 << size) - 1) for field, (first, size) in SEGMENTS.items()
    }


def similarity(a: bytes | dict[str, int], b: bytes | dict[str, int]) -> float:
    """How alike two CLKs are, from 0 to 1: each field's Dice coefficient, weighted
    (``WEIGHTS``), fields missing on either side left out. Names are compared as recorded and
    with given and family names crossed (one agency may have recorded them the other way round),
    and the better of the two counts."""
    x = a if isinstance(a, dict) else segments(a)
    y = b if isinstance(b, dict) else segments(b)
    given, family = _dice(x["given"], y["given"]), _dice(x["family"], y["family"])
    crossed = (_dice(x["given"], y["family"]), _dice(x["family"], y["given"]))
    scores: dict[str, float | None] = {
        "name": max(_name(given, family), _name(*crossed)),
        "dob": _dice(x["dob"], y["dob"]),
        "sex": _dice(x["sex"], y["sex"]),
        "postcode": _dice(x["postcode"], y["postcode"]),
    }
    present = {field: score for field, score in scores.items() if score is not None}
    total = sum(WEIGHTS[field] for field in present)
    return sum(WEIGHTS[field] * score for field, score in present.items()) / total if total else 0.0


def _name(given: float | None, family: float | None) -> float:
    return GIVEN_SHARE * (given or 0.0) + (1 - GIVEN_SHARE) * (family or 0.0)
