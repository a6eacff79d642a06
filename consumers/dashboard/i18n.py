"""The dashboard in Welsh and English: the reader's language for this request, and the Welsh
catalogue (``locale/cy/LC_MESSAGES/messages.po``, read with Babel; the English text is the key).

Every page, message and name is marked for translation (``_`` in templates and code); the
indicator descriptions, guidance and area names keep their Welsh beside the English in their own
files. The Welsh text needs review by a Welsh-speaking practitioner before live use.
"""

from __future__ import annotations

from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

LANGUAGES = ("en", "cy")
LANGUAGE_NAMES = {"en": "English", "cy": "Cymraeg"}
CATALOGUE = Path(__file__).parent / "locale" / "cy" / "LC_MESSAGES" / "messages.po"

#: The language of the request being served (set per request by ``Language`` middleware).
current: ContextVar[str] = ContextVar("language", default="en")


@cache
def welsh() -> dict[str, str]:
    """Every translated message of the Welsh catalogue (an empty or fuzzy one is left out, so
    the English shows)."""
    with CATALOGUE.open("rb") as f:
        catalogue = read_po(f, locale="cy")
    return {
        str(m.id): str(m.string)
        for m in catalogue
        if m.id and isinstance(m.id, str) and m.string and not m.fuzzy
    }


def gettext(message: str) -> str:
    if current.get() == "cy":
        return welsh().get(message, message)
    return message


def ngettext(singular: str, plural: str, n: int) -> str:
    # The catalogue keys plural forms by their English singular; Welsh counted nouns stay
    # singular after a numeral, so one form serves.
    return gettext(singular if n == 1 else plural)


_ = gettext


def choose(accept_language: str | None, chosen: str | None) -> str:
    """The user's own choice, else the browser's first preference of Welsh or English."""
    if chosen in LANGUAGES:
        return chosen
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return "en"


class Said(str):
    """English words that remember their message and parameters, so that they can be said
    again in the reader's language (``translate``) after being made elsewhere."""

    msgid: str
    params: dict[str, object]

    def __new__(cls, msgid: str, **params: object) -> Said:
        said = super().__new__(cls, msgid % params if params else msgid)
        said.msgid = msgid
        said.params = params
        return said


def word(value: str) -> Said:
    """A word or phrase known only at run time (a level, a status, a name from a table): said
    again in the reader's language if the catalogue has it."""
    return Said(value)


def translate(text: str) -> str:
    """``text`` in the reader's language: a ``Said`` with its parameters translated too."""
    if isinstance(text, Said):
        params = {k: translate(v) if isinstance(v, str) else v for k, v in text.params.items()}
        return gettext(text.msgid) % params if params else gettext(text.msgid)
    return gettext(text)


def N_(message: str) -> str:
    """Marks ``message`` for the catalogue where it is defined; translated where it is shown."""
    return message


#: Codes the pages show as words (levels, statuses, outcomes), so the catalogue has each.
WORDS = (
    N_("critical"),
    N_("high"),
    N_("medium"),
    N_("low"),
    N_("open"),
    N_("acknowledged"),
    N_("assigned"),
    N_("closed"),
    N_("reopened"),
    N_("ended"),
    N_("withdrawn"),
    N_("no further action"),
    N_("referred part 7"),
    N_("strategy discussion"),
    N_("section 47 enquiry"),
    N_("nrm referral made"),
    N_("guardian allocated"),
    N_("found safe"),
    N_("transferred to another authority"),
)
