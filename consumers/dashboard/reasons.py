"""An alert's reasons in the reader's language, from their codes and parameters (alert v4).

Each code's English sentence is here, marked for the Welsh catalogue; parameters are named for
what they hold (``streams.domain.said``): indicators by what they mean, agencies and schools by
name, dates as dates. A code this dashboard does not know (a newer worker's) gives None, and
the page shows the alert's own English sentence instead, as it does for alerts before v4.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from consumers.dashboard.i18n import N_, gettext, translate
from consumers.dashboard.views import AGENCY_TYPE_NAMES, GROUP_NAMES, Names, long_date

SENTENCES = {
    "concern.immediate_risk": N_(
        "Immediate risk (%(indicators)s; reported by %(agencies)s): call the police on 999 "
        "first, then children's services, before the child can go missing."
    ),
    "concern.possible_trafficking": N_(
        "Both parts of the guide's definition of child trafficking are present: an action "
        "(%(action_indicators)s) and exploitation (%(exploitation_indicators)s). For a child no "
        "force or deception is needed and consent is irrelevant: make an NRM referral through a "
        "first responder (no consent needed) and refer to the Independent Child Trafficking "
        "Guardian service."
    ),
    "concern.duty_to_notify": N_(
        "The reporting agencies (%(agency_types)s) have the Home Office duty to notify (Modern "
        "Slavery Act 2015 s52)."
    ),
    "concern.combined": N_(
        "Indicators seen by %(agencies)s, in the groups %(groups)s, within %(days)s days. Each "
        "may hold only one piece: report the child at risk to the local authority's social "
        "services (Part 7, Social Services and Well-being (Wales) Act 2014) and share with every "
        "agency involved."
    ),
    "concern.context_guard": N_(
        "Not counted on their own: %(indicators)s. A child travelling unaccompanied or with an "
        "adult who is not their parent must not be assumed a victim on that factor alone."
    ),
    "concern.transition_at_18": N_(
        "The child turns 18 on %(date)s: plan the transition to adulthood now (immigration "
        "status, protection from traffickers, the risk of re-trafficking)."
    ),
    "concern.risk_passed.found_safe": N_(
        "The immediate risk (%(indicators)s) has passed: the child was reported found safe on "
        "%(date)s. The level is what the rest of the evidence supports."
    ),
    "concern.risk_passed.stale": N_(
        "The immediate risk (%(indicators)s) has passed: it was reported more than %(days)s "
        "days ago. The level is what the rest of the evidence supports."
    ),
    "education.short_stay": N_(
        "Registered at %(school)s on %(joined_date)s and removed on %(left_date)s after "
        "%(days)s school days (a term or longer: %(minimum)s) with no known destination."
    ),
    "education.short_stay.again": N_(
        "It is the second time within %(window)s days: the child also left %(school)s on "
        "%(date)s in the same way."
    ),
    "education.short_stay.nowhere": N_(
        "The child was on no other school roll %(days)s school days later."
    ),
    "education.no_destination": N_(
        "Left %(school)s on %(date)s with no known destination and was registered nowhere "
        "within %(days)s school days (by %(deadline_date)s)."
    ),
    "education.lost_in_transfer": N_(
        "Left %(school)s on %(date)s for %(destination_school)s and was registered at no "
        "school within %(days)s school days (by %(deadline_date)s)."
    ),
    "education.family_move.together": N_(
        "Left %(school)s on %(date)s together with siblings of a travelling family: the local "
        "authority should make its missing-education enquiries, but a travelling family's move "
        "is not on its own a sign of trafficking."
    ),
    "education.family_move.alone": N_(
        "Left %(school)s on %(date)s as the child of a travelling family, with no sibling "
        "leaving at the same time: the local authority should make its missing-education "
        "enquiries, but a travelling family's move is not on its own a sign of trafficking."
    ),
    "education.repeated_registration": N_(
        "Registered at %(schools)s schools in %(authorities)s local authority areas within "
        "%(window)s days (thresholds: %(min_schools)s schools or %(min_authorities)s local "
        "authorities; a single move is not a pattern)."
    ),
    "education.continuous_absence": N_(
        "%(days)s consecutive school days of unauthorised absence from %(school)s up to "
        "%(date)s (returned to the local authority from %(returned)s; %(deletion)s raises the "
        "level)."
    ),
    "education.port_school.raised": N_(
        "%(school)s is near a port of entry, where the guide asks for particular alertness "
        "(level raised one step)."
    ),
    "concern.ended.risk_passed": N_(
        "Ended: the immediate risk has passed (reported more than %(days)s days ago, or the "
        "child was reported found safe), and nothing else supports an alert."
    ),
    "concern.ended.lookback": N_(
        "Ended: the evidence that raised this alert is more than %(days)s days old and has left "
        "the look-back."
    ),
    "concern.withdrawn.merged": N_(
        "Withdrawn: agencies linked this reference to another of the same child; the evidence "
        "and the alert continue under that child."
    ),
    "education.ended": N_("Ended: the registration pattern no longer holds."),
    "education.withdrawn.merged": N_(
        "Withdrawn: agencies linked this reference to another of the same child; the school "
        "history and the alert continue under that child."
    ),
    "education.port_school.highest": N_(
        "%(school)s is near a port of entry, where the guide asks for particular alertness "
        "(already at its highest level)."
    ),
}


def value(name: str, items: list[str], names: Names, descriptions: Mapping[str, str]) -> str:
    """One parameter in words, by what its name says it holds."""
    if name.endswith("indicators"):
        return "; ".join(f"“{descriptions.get(c, c).rstrip('.')}”" for c in items)
    if name == "agencies":
        return ", ".join(names.agency(*a.split(":", 1)) for a in items)
    if name == "agency_types":
        return ", ".join(translate(AGENCY_TYPE_NAMES.get(t, t)) for t in items)
    if name == "groups":
        return ", ".join(translate(GROUP_NAMES.get(g, g)) for g in items)
    if name == "school" or name.endswith("_school"):
        return ", ".join(names.school(s) for s in items)
    if name == "date" or name.endswith("_date"):
        return ", ".join(long_date(dt.date.fromisoformat(d)) for d in items)
    return ", ".join(items)


def render(
    reason: Mapping[str, Any] | None, names: Names, descriptions: Mapping[str, str]
) -> str | None:
    """The reason in the reader's language; None when it has no codes or one is unknown."""
    if not reason or not reason.get("parts"):
        return None
    sentences = []
    for part in reason["parts"]:
        sentence = SENTENCES.get(part["code"])
        if sentence is None:
            return None
        params = {k: value(k, v, names, descriptions) for k, v in part["params"].items()}
        try:
            sentences.append(gettext(sentence) % params)
        except (KeyError, ValueError):  # parameters of another version of the sentence
            return None
    return " ".join(sentences)
