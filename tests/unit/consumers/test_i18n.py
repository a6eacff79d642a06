"""The dashboard in Welsh: every message it can show has its Welsh, with the same placeholders."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir

from consumers.dashboard import i18n
from schemas.areas import areas
from schemas.catalogue import default_catalogue

DASHBOARD = Path(i18n.__file__).parent
KEYWORDS = {"_": None, "gettext": None, "N_": None, "Said": None}
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|\{(\w+)\}")


def messages() -> set[str]:
    found = extract_from_dir(
        DASHBOARD,
        method_map=[("**.py", "python"), ("templates/**.html", "jinja2")],
        keywords=KEYWORDS,
    )
    return {m[2] for m in found if isinstance(m[2], str) and m[2]}


def test_every_message_of_the_pages_and_the_code_has_its_welsh() -> None:
    shown = messages()
    assert len(shown) > 150
    missing = sorted(shown - set(i18n.welsh()))
    assert missing == []


def test_each_translation_keeps_the_placeholders_of_its_english() -> None:
    for english, welsh in i18n.welsh().items():
        assert sorted(PLACEHOLDER.findall(english)) == sorted(PLACEHOLDER.findall(welsh)), english


def test_the_reader_gets_their_language_and_english_is_the_fallback() -> None:
    assert i18n.choose("cy-GB,cy;q=0.9,en;q=0.5", None) == "cy"
    assert i18n.choose("fr-FR,en-GB;q=0.8", None) == "en"
    assert i18n.choose("cy", "en") == "en"  # the user's own choice wins
    assert i18n.choose(None, None) == "en"
    token = i18n.current.set("cy")
    try:
        assert i18n.gettext("Open alerts") == "Rhybuddion agored"
        said = i18n.Said("The %(part)s is behind", part=i18n.Said("stream worker"))
        assert str(said) == "The stream worker is behind"
        assert i18n.translate(i18n.Said("Acknowledged by %(who)s", who="hub-1")) == (
            "Wedi'i gydnabod gan hub-1"
        )
        assert i18n.gettext("a message with no Welsh") == "a message with no Welsh"
    finally:
        i18n.current.reset(token)
    assert i18n.gettext("Open alerts") == "Open alerts"


def test_every_indicator_and_authority_has_its_welsh_name() -> None:
    catalogue = default_catalogue()
    assert all(catalogue[c].description_cy for c in catalogue)
    assert catalogue["movement.missing_from_care"].described("cy") == (
        "Yn mynd ar goll o ofal awdurdod lleol neu o leoliad."
    )
    assert all(a.name_cy for a in areas().values())
