"""The child's whole story, for a strategy discussion: every alert and version, every piece of
evidence with its agency, date and the agency's own record reference, the school records, and
practitioners' actions, in one chronology. Pure: the rows in, the entries out."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from consumers.dashboard.i18n import N_, Said, current, word
from consumers.dashboard.views import KIND_NAMES, Names, moment, when
from schemas.catalogue import Catalogue

#: The kinds of entry, in the order they are shown at the same moment.
KINDS = ("evidence", "school", "alert", "action")
KIND_LABELS = {
    "evidence": N_("Evidence"),
    "school": N_("School record"),
    "alert": N_("Alert"),
    "action": N_("Action"),
}
#: The filter's words for each kind (plural where it needs one).
KIND_FILTERS = {
    "evidence": N_("Evidence"),
    "school": N_("School records"),
    "alert": N_("Alerts"),
    "action": N_("Actions"),
}


@dataclass(frozen=True)
class Entry:
    at: dt.datetime
    kind: str
    title: str
    detail: str = ""
    agency: str = ""
    record: str = ""
    alert_id: str = ""

    @property
    def when(self) -> str:
        return when(self.at)

    @property
    def label(self) -> str:
        return word(KIND_LABELS[self.kind])


def describe_indicator(code: str, catalogue: Catalogue) -> str:
    return catalogue[code].described(current.get()) if code in catalogue else code


def chronology(
    alerts: Sequence[Mapping[str, Any]],
    versions: Iterable[Mapping[str, Any]],
    actions: Iterable[Mapping[str, Any]],
    names: Names,
    catalogue: Catalogue,
    words: Callable[[str, list[dict[str, Any]], Any], str] = lambda text, evidence, code: text,
) -> list[Entry]:
    """Every entry of the child's story, oldest first (at one moment: evidence, then school
    records, then alerts, then actions). Evidence carried by several versions or alerts is one
    entry; ``words`` puts a stored reason in plain words, given the evidence it rests on and
    its codes (None before alert v4)."""
    kinds = {a["alert_id"]: a["kind"] for a in alerts}
    entries: list[Entry] = []
    seen: set[str] = set()
    last_level: dict[str, str] = {}
    for v in versions:
        alert_id = v["alert_id"]
        education = kinds.get(alert_id) == "missing_from_education"
        evidence = json.loads(v["evidence"])
        for e in evidence:
            if e["event_id"] in seen:
                continue
            seen.add(e["event_id"])
            at = moment(e["observed_at"])
            assert at is not None
            what = describe_indicator(e["indicator"], catalogue)
            entries.append(
                Entry(
                    at,
                    "school" if education else "evidence",
                    Said("the child's registration record") if education else what,
                    Said("Part of the pattern: %(what)s", what=what) if education else "",
                    agency=names.agency(e["agency_type"], e["agency_id"]),
                    record=e.get("source_ref") or "",
                    alert_id=alert_id,
                )
            )
        entry, code = _version_entry(
            v, word(KIND_NAMES.get(kinds.get(alert_id, ""), "")), last_level
        )
        entries.append(replace(entry, detail=words(entry.detail, evidence, code)))
    for a in actions:
        entries.append(_action_entry(a))
    order = {k: i for i, k in enumerate(KINDS)}
    return sorted(entries, key=lambda e: (e.at, order[e.kind]))


def _version_entry(
    v: Mapping[str, Any], kind: str, last_level: dict[str, str]
) -> tuple[Entry, Any]:
    """The version's entry, and the codes of the reason its detail gives."""
    alert_id, level = v["alert_id"], v["level"]
    before = last_level.get(alert_id)
    last_level[alert_id] = level
    at = moment(v["raised_at"])
    assert at is not None
    said = {"kind": kind, "level": word(level), "version": v["version"]}
    reasons = json.loads(v["reasons"])
    codes = json.loads(v.get("reason_codes") or "[]")
    status_code = json.loads(v.get("status_reason_code") or "null")
    code = None
    if v["status"] != "open":
        code = status_code
        title = Said(
            "%(kind)s alert %(status)s (version %(version)d)", status=word(v["status"]), **said
        )
        detail = v["status_reason"] or ""
    elif before is None:
        title = Said("%(kind)s alert raised: %(level)s (version %(version)d)", **said)
        detail = " ".join(reasons[:1])
        code = codes[0] if codes else None
    elif before != level:
        title = Said(
            "%(kind)s alert changed from %(before)s to %(level)s (version %(version)d)",
            before=word(before),
            **said,
        )
        detail = v["status_reason"] or ""
        code = status_code
    else:
        title = Said(
            "%(kind)s alert updated: new evidence (%(level)s) (version %(version)d)", **said
        )
        detail = ""
    return Entry(at, "alert", title, detail, alert_id=alert_id), code


_OUTCOME = re.compile(r"^([a-z_]+): (.*)$", re.S)


def _action_entry(a: Mapping[str, Any]) -> Entry:
    who = a["username"]
    detail = a["detail"] or ""
    title: str
    if a["action"] == "acknowledge":
        title = Said("Acknowledged by %(who)s", who=who)
    elif a["action"] == "assign":
        title, detail = Said("Assigned to %(whom)s by %(who)s", whom=detail, who=who), ""
    else:
        match = _OUTCOME.match(detail)
        outcome = word(match.group(1).replace("_", " ") if match else "closed")
        title = Said("Closed by %(who)s: %(outcome)s", who=who, outcome=outcome)
        detail = match.group(2) if match else detail
    return Entry(a["at"], "action", title, detail, alert_id=a["alert_id"])
