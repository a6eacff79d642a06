"""An alert's reasons worded from their codes (alert v4), in English and in Welsh."""

from __future__ import annotations

import re
from pathlib import Path

from consumers.dashboard import i18n
from consumers.dashboard.reasons import SENTENCES, render
from consumers.dashboard.views import Names
from schemas.catalogue import default_catalogue
from streams.domain.said import part, reason

STREAMS = Path(__file__).resolve().parents[3] / "streams"
NAMES = Names(
    {"sw": {"name": "South Wales Police", "contact": None}},
    {"6614001": "Ysgol Uwchradd Caergybi"},
)


def descriptions(language: str) -> dict[str, str]:
    catalogue = default_catalogue()
    return {code: catalogue[code].described(language) for code in catalogue}


def test_every_code_the_rules_say_has_a_sentence() -> None:
    sources = [path.read_text() for path in STREAMS.rglob("*.py")]
    # The first argument of part(), and the variants chosen before it (code.kind.variant).
    named = {c for text in sources for c in re.findall(r'part\(\s*"([a-z_.0-9]+)"', text)}
    variants = {
        c for text in sources for c in re.findall(r'"((?:concern|education)\.\w+\.\w+)"', text)
    }
    assert (named | variants) - set(SENTENCES) == set()
    assert len(named | variants) >= 15


def test_a_reason_is_worded_with_names_in_the_readers_language() -> None:
    immediate = reason(
        part(
            "concern.immediate_risk",
            indicators=["movement.missing_from_care"],
            agencies=["police:sw"],
        )
    )
    port = reason(
        part("education.no_destination", school="6614001", date="2026-12-16", days=10,
             deadline_date="2027-01-13"),
        part("education.port_school.raised", school="6614001"),
    )  # fmt: skip
    assert render(immediate, NAMES, descriptions("en")) == (
        "Immediate risk (“Goes missing from local authority care or a placement”; reported by "
        "South Wales Police): call the police on 999 first, then children's services, before the "
        "child can go missing."
    )
    assert render(port, NAMES, descriptions("en")) == (
        "Left Ysgol Uwchradd Caergybi on 16 December 2026 with no known destination and was "
        "registered nowhere within 10 school days (by 13 January 2027). Ysgol Uwchradd Caergybi "
        "is near a port of entry, where the guide asks for particular alertness (level raised "
        "one step)."
    )
    token = i18n.current.set("cy")
    try:
        assert render(immediate, NAMES, descriptions("cy")) == (
            "Risg uniongyrchol (“Yn mynd ar goll o ofal awdurdod lleol neu o leoliad”; adroddwyd "
            "gan South Wales Police): ffoniwch yr heddlu ar 999 yn gyntaf, yna'r gwasanaethau "
            "plant, cyn i'r plentyn allu mynd ar goll."
        )
        assert "13 Ionawr 2027" in (render(port, NAMES, descriptions("cy")) or "")
    finally:
        i18n.current.reset(token)


def test_a_reason_without_codes_or_with_an_unknown_one_is_left_to_its_english() -> None:
    assert render(None, NAMES, {}) is None
    assert render(reason(), NAMES, {}) is None
    assert render(reason(part("concern.from_a_newer_worker", x=1)), NAMES, {}) is None
    # A sentence whose parameters another version gave differently: the English instead.
    assert render(reason(part("concern.transition_at_18", when="x")), NAMES, {}) is None
