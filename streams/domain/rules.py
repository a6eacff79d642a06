"""The combined-concern rules: a child's evidence in, a decision out. No Faust, no I/O.

Each rule has an id, a version (bump it when its logic changes), the level it raises, and the
sentence of the All Wales Practice Guide (or the domain notes' reading of it) that it rests on.
``assess`` applies them all and returns the most severe decision, with every reason and action.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from schemas.catalogue import Catalogue, Component
from streams.domain.evidence import Evidence, to_datetime

LEVELS = ("low", "medium", "high", "critical")
ACTIONS = (
    "call_police_999",
    "report_child_at_risk",
    "share_with_agencies",
    "nrm_referral",
    "icta_referral",
    "home_office_duty_to_notify",
    "plan_transition_at_18",
    "missing_education_enquiries",
)
#: Specified public authorities under the Modern Slavery Act 2015 s52 duty to notify: the police
#: and local authorities (whose social services are the social_care agencies).
DUTY_TO_NOTIFY = frozenset({"police", "local_authority", "social_care"})


@dataclass(frozen=True)
class Rule:
    """One rule: what it raises and the guide's words it rests on."""

    id: str
    version: int
    level: str
    source: str


IMMEDIATE_RISK = Rule(
    "concern.immediate_risk",
    1,
    "critical",
    "Where there is immediate risk to the child, or a risk that they go missing before they are "
    "safe, call the police on 999, then children's services.",
)
POSSIBLE_TRAFFICKING = Rule(
    "concern.possible_trafficking",
    1,
    "high",
    "Child trafficking is an action (recruitment, transport, transfer, harbouring or receipt) "
    "for the purpose of exploitation; for a child no force or deception is needed and consent is "
    "irrelevant. An NRM referral of a child needs no consent and does not replace the "
    "safeguarding referral.",
)
COMBINED_CONCERN = Rule(
    "concern.combined",
    1,
    "medium",
    "Only one indicator may be identified, and different people may each hold a different "
    "piece, so any concern is reported straight away.",
)
CONTEXT_GUARD = Rule(
    "concern.context_guard",
    1,
    "low",
    "A child travelling unaccompanied, or with an adult who is not their parent, must not be "
    "assumed to be a victim on that factor alone.",
)
ADULT = Rule(
    "concern.age",
    1,
    "low",
    "The guide is for children: a person aged 18 or over is not aggregated, and an uncertain or "
    "disputed age is treated as a child until assessed (Modern Slavery Act 2015 s51).",
)
TRANSITION_AT_18 = Rule(
    "concern.transition_at_18",
    1,
    "low",
    "Plan for the child reaching 18.",
)
RULES = (IMMEDIATE_RISK, POSSIBLE_TRAFFICKING, COMBINED_CONCERN, CONTEXT_GUARD, ADULT)


@dataclass(frozen=True)
class RuleConfig:
    """The thresholds, from settings."""

    lookback_days: int = 365
    min_agencies: int = 2
    min_groups: int = 2
    transition_window_days: int = 183


@dataclass(frozen=True)
class Decision:
    """What the rules decided for one child."""

    rule: Rule
    level: str
    reasons: tuple[str, ...]
    actions: tuple[str, ...]


def assess(
    evidence: Sequence[Evidence],
    catalogue: Catalogue,
    config: RuleConfig,
    *,
    date_of_birth: dt.date | None = None,
    age_disputed: bool = False,
) -> Decision | None:
    """The most severe decision the child's evidence supports, or None (no alert)."""
    counted = [e for e in evidence if not catalogue[e.indicator].is_context]
    fired: list[tuple[Rule, str, set[str]]] = []

    urgent = [e for e in evidence if e.immediate_risk or catalogue[e.indicator].immediate_risk]
    if urgent:
        fired.append((IMMEDIATE_RISK, _immediate_reason(urgent), {"call_police_999"}))

    action = [e for e in counted if catalogue[e.indicator].component is Component.ACTION]
    exploitation = [
        e for e in counted if catalogue[e.indicator].component is Component.EXPLOITATION
    ]
    if action and exploitation:
        notify = {e.agency_type for e in counted} & DUTY_TO_NOTIFY
        extra = {"nrm_referral", "icta_referral"}
        if notify:
            extra.add("home_office_duty_to_notify")
        fired.append(
            (POSSIBLE_TRAFFICKING, _trafficking_reason(action, exploitation, notify), extra)
        )

    agencies = sorted({(e.agency_type, e.agency_id) for e in counted})
    groups = sorted({e.group for e in counted})
    if len(agencies) >= config.min_agencies or len(groups) >= config.min_groups:
        fired.append((COMBINED_CONCERN, _combined_reason(agencies, groups, config), set()))

    if not fired:
        return None
    reasons = [reason for _, reason, _ in fired]
    actions = {"report_child_at_risk", "share_with_agencies"}.union(*(a for _, _, a in fired))
    context = sorted({e.indicator for e in evidence} - {e.indicator for e in counted})
    if context:
        reasons.append(_context_reason(context))
    turns_18 = _eighteenth_birthday(date_of_birth) if not age_disputed else None
    latest = to_datetime(max(e.observed_at for e in evidence)).date()
    if turns_18 and latest <= turns_18 <= latest + dt.timedelta(config.transition_window_days):
        actions.add("plan_transition_at_18")
        reasons.append(
            f"The child turns 18 on {turns_18.isoformat()}: plan the transition to adulthood now "
            "(immigration status, protection from traffickers, the risk of re-trafficking)."
        )
    top = fired[0][0]
    return Decision(top, top.level, tuple(reasons), tuple(a for a in ACTIONS if a in actions))


def is_adult(date_of_birth: dt.date | None, on: dt.date, *, age_disputed: bool) -> bool:
    """True only if the person was 18 or over on ``on`` and their age is known and undisputed."""
    if date_of_birth is None or age_disputed:
        return False
    eighteenth = _eighteenth_birthday(date_of_birth)
    return eighteenth is not None and on >= eighteenth


def _eighteenth_birthday(date_of_birth: dt.date | None) -> dt.date | None:
    if date_of_birth is None:
        return None
    try:
        return date_of_birth.replace(year=date_of_birth.year + 18)
    except ValueError:  # born on 29 February: the birthday falls on 1 March
        return dt.date(date_of_birth.year + 18, 3, 1)


def _codes(items: Sequence[Evidence]) -> str:
    return ", ".join(sorted({e.indicator for e in items}))


def _immediate_reason(urgent: Sequence[Evidence]) -> str:
    flagged = sorted({f"{e.agency_type} {e.agency_id}" for e in urgent})
    return (
        f"Immediate risk ({_codes(urgent)}; reported by {', '.join(flagged)}): call the police "
        "on 999 first, then children's services, before the child can go missing."
    )


def _trafficking_reason(
    action: Sequence[Evidence], exploitation: Sequence[Evidence], notify: set[str]
) -> str:
    reason = (
        f"Both parts of the guide's definition of child trafficking are present: an action "
        f"({_codes(action)}) and exploitation ({_codes(exploitation)}). For a child no force or "
        "deception is needed and consent is irrelevant: make an NRM referral through a first "
        "responder (no consent needed) and refer to the Independent Child Trafficking Guardian "
        "service."
    )
    if notify:
        reason += (
            f" The reporting {' and '.join(sorted(notify))} agencies have the Home Office duty "
            "to notify (Modern Slavery Act 2015 s52)."
        )
    return reason


def _combined_reason(
    agencies: Sequence[tuple[str, str]], groups: Sequence[str], config: RuleConfig
) -> str:
    names = ", ".join(f"{kind} {agency_id}" for kind, agency_id in agencies)
    return (
        f"{len(agencies)} {'agency' if len(agencies) == 1 else 'agencies'} ({names}) saw "
        f"indicators in {len(groups)} {'group' if len(groups) == 1 else 'groups'} "
        f"({', '.join(groups)}) within {config.lookback_days} days. Each may hold only one "
        "piece: report the child at risk to the local authority's social services (Part 7, "
        "Social Services and Well-being (Wales) Act 2014) and share with every agency involved."
    )


def _context_reason(codes: Sequence[str]) -> str:
    return (
        f"Not counted on their own: {', '.join(codes)}. A child travelling unaccompanied or with "
        "an adult who is not their parent must not be assumed a victim on that factor alone."
    )
