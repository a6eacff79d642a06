"""The combined-concern rules: a child's evidence in, a decision out. No Faust, no I/O.

``CONCERN`` lists the rules that raise an alert, most severe first; ``NOTES`` the rules that only
add to an alert another rule raised. Each rule has an id, a version (bump it when its logic
changes), the level it raises, and the sentence of the All Wales Practice Guide (or the domain
notes' reading of it) that it rests on. ``assess`` folds both books over the child's evidence.

A new rule is a function registered in a book::

    @CONCERN.rule("concern.example", 1, "medium", "The guide's sentence.")
    def example(facts: Facts, config: Thresholds) -> Fired | None:
        return Fired("Why, in words a practitioner acts on.") if ... else None
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from schemas.catalogue import ACTIONS, Catalogue, Component
from streams.domain import said
from streams.domain.config import Thresholds
from streams.domain.evidence import Evidence, to_datetime
from streams.domain.facts import (
    ALWAYS,
    DUTY_TO_NOTIFY,
    FOUND_SAFE,
    Decision,
    Facts,
    Fired,
    live_urgent,
    stale_urgent,
)
from streams.domain.rulebook import Rule, RuleBook
from streams.domain.said import part, reason

__all__ = ["FOUND_SAFE", "Decision", "Facts", "Fired", "assess", "decide", "stale_urgent"]

Check = Callable[[Facts, Thresholds], "Fired | None"]
CONCERN: RuleBook[Check] = RuleBook("combined concern")
NOTES: RuleBook[Check] = RuleBook("combined concern notes")

ADULT = Rule(
    "concern.age",
    2,
    "low",
    "The guide is for children: a person aged 18 or over is not aggregated, and an uncertain or "
    "disputed age is treated as a child until an age assessment (Modern Slavery Act 2015 s51).",
)
"""Not in a book: it decides whether an observation is aggregated at all (``is_adult``)."""


@CONCERN.rule(
    "concern.immediate_risk",
    1,
    "critical",
    "Where there is immediate risk to the child, or a risk that they go missing before they are "
    "safe, call the police on 999, then children's services.",
)
def immediate_risk(facts: Facts, config: Thresholds) -> Fired | None:
    urgent = live_urgent(facts, config)
    if not urgent:
        return None
    flagged = sorted({f"{e.agency_type} {e.agency_id}" for e in urgent})
    return Fired(
        f"Immediate risk ({_codes(urgent)}; reported by {', '.join(flagged)}): call the police "
        "on 999 first, then children's services, before the child can go missing.",
        frozenset({"call_police_999"}),
        said=(
            part(
                "concern.immediate_risk",
                indicators=_code_list(urgent),
                agencies=said.agencies(urgent),
            ),
        ),
    )


@CONCERN.rule(
    "concern.possible_trafficking",
    1,
    "high",
    "Child trafficking is an action (recruitment, transport, transfer, harbouring or receipt) "
    "for the purpose of exploitation; for a child no force or deception is needed and consent is "
    "irrelevant. An NRM referral of a child needs no consent and does not replace the "
    "safeguarding referral.",
)
def possible_trafficking(facts: Facts, config: Thresholds) -> Fired | None:
    action = facts.component(Component.ACTION)
    exploitation = facts.component(Component.EXPLOITATION)
    if not (action and exploitation):
        return None
    notify = {e.agency_type for e in facts.counted} & DUTY_TO_NOTIFY
    reason = (
        f"Both parts of the guide's definition of child trafficking are present: an action "
        f"({_codes(action)}) and exploitation ({_codes(exploitation)}). For a child no force or "
        "deception is needed and consent is irrelevant: make an NRM referral through a first "
        "responder (no consent needed) and refer to the Independent Child Trafficking Guardian "
        "service."
    )
    actions = {"nrm_referral", "icta_referral"}
    parts = [
        part(
            "concern.possible_trafficking",
            action_indicators=_code_list(action),
            exploitation_indicators=_code_list(exploitation),
        )
    ]
    if notify:
        actions.add("home_office_duty_to_notify")
        reason += (
            f" The reporting {' and '.join(sorted(notify))} agencies have the Home Office duty "
            "to notify (Modern Slavery Act 2015 s52)."
        )
        parts.append(part("concern.duty_to_notify", agency_types=sorted(notify)))
    return Fired(reason, frozenset(actions), said=tuple(parts))


@CONCERN.rule(
    "concern.combined",
    1,
    "medium",
    "Only one indicator may be identified, and different people may each hold a different "
    "piece, so any concern is reported straight away.",
)
def combined(facts: Facts, config: Thresholds) -> Fired | None:
    agencies = sorted({(e.agency_type, e.agency_id) for e in facts.counted})
    groups = sorted({facts.group(e) for e in facts.counted})
    if len(agencies) < config.concern_min_agencies and len(groups) < config.concern_min_groups:
        return None
    names = ", ".join(f"{kind} {agency_id}" for kind, agency_id in agencies)
    return Fired(
        f"{len(agencies)} {'agency' if len(agencies) == 1 else 'agencies'} ({names}) saw "
        f"indicators in {len(groups)} {'group' if len(groups) == 1 else 'groups'} "
        f"({', '.join(groups)}) within {config.lookback_days} days. Each may hold only one "
        "piece: report the child at risk to the local authority's social services (Part 7, "
        "Social Services and Well-being (Wales) Act 2014) and share with every agency involved.",
        said=(
            part(
                "concern.combined",
                agencies=[f"{kind}:{agency_id}" for kind, agency_id in agencies],
                groups=groups,
                days=config.lookback_days,
            ),
        ),
    )


@NOTES.rule(
    "concern.context_guard",
    1,
    "low",
    "A child travelling unaccompanied, or with an adult who is not their parent, must not be "
    "assumed to be a victim on that factor alone.",
)
def context_guard(facts: Facts, config: Thresholds) -> Fired | None:
    context = sorted(
        {e.indicator for e in facts.evidence} - {e.indicator for e in facts.counted} - {FOUND_SAFE}
    )
    if not context:
        return None
    return Fired(
        f"Not counted on their own: {', '.join(context)}. A child travelling unaccompanied or "
        "with an adult who is not their parent must not be assumed a victim on that factor alone.",
        said=(part("concern.context_guard", indicators=context),),
    )


@NOTES.rule("concern.transition_at_18", 1, "low", "Plan for the child reaching 18.")
def transition_at_18(facts: Facts, config: Thresholds) -> Fired | None:
    turns_18 = None if facts.age_disputed else _eighteenth_birthday(facts.date_of_birth)
    latest = to_datetime(max(e.observed_at for e in facts.evidence)).date()
    window = dt.timedelta(config.transition_window_days)
    if not turns_18 or not latest <= turns_18 <= latest + window:
        return None
    return Fired(
        f"The child turns 18 on {turns_18.isoformat()}: plan the transition to adulthood now "
        "(immigration status, protection from traffickers, the risk of re-trafficking).",
        frozenset({"plan_transition_at_18"}),
        said=(part("concern.transition_at_18", date=turns_18.isoformat()),),
    )


@NOTES.rule(
    "concern.risk_passed",
    1,
    "low",
    "Where there is immediate risk, call the police on 999: once the child is safe, or the "
    "report is days old, the alert asks for what the rest of the evidence supports.",
)
def risk_passed(facts: Facts, config: Thresholds) -> Fired | None:
    stale = stale_urgent(facts, config)
    if not stale or live_urgent(facts, config):
        return None
    newest = max(stale, key=lambda e: e.observed_at)
    safe = facts.found_safe_at()
    found_safe = safe is not None and safe >= newest.observed_at
    why = (
        f"the child was reported found safe on {to_datetime(safe).date().isoformat()}"
        if safe is not None and found_safe
        else f"it was reported more than {config.immediate_risk_days} days ago"
    )
    code = part(
        "concern.risk_passed.found_safe" if found_safe else "concern.risk_passed.stale",
        indicators=_code_list(stale),
        **(
            {"date": to_datetime(safe).date().isoformat()}
            if safe is not None and found_safe
            else {"days": config.immediate_risk_days}
        ),
    )
    return Fired(
        f"The immediate risk ({_codes(stale)}) has passed: {why}. The level is what the rest of "
        "the evidence supports.",
        changes_status=True,
        said=(code,),
    )


def decide(facts: Facts, config: Thresholds) -> Decision | None:
    """The most severe decision the facts support, or None (no alert)."""
    fired = [(e.rule, out) for e in CONCERN if (out := e.check(facts, config)) is not None]
    if not fired:
        return None
    fired += [(e.rule, out) for e in NOTES if (out := e.check(facts, config)) is not None]
    actions = ALWAYS.union(*(out.actions for _, out in fired))
    top = fired[0][0]
    return Decision(
        top,
        top.level,
        tuple(out.reason for _, out in fired),
        tuple(a for a in ACTIONS if a in actions),
        tuple(rule for rule, _ in fired),
        next((out.reason for _, out in fired if out.changes_status), None),
        tuple(reason(*out.said) for _, out in fired),
        next((reason(*out.said) for _, out in fired if out.changes_status), None),
    )


def assess(
    evidence: Sequence[Evidence],
    catalogue: Catalogue,
    config: Thresholds,
    *,
    date_of_birth: dt.date | None = None,
    age_disputed: bool = False,
) -> Decision | None:
    """The most severe decision the child's evidence supports, or None (no alert); windows are
    measured back from the newest evidence."""
    return decide(Facts.of(evidence, catalogue, date_of_birth, age_disputed), config)


def is_adult(date_of_birth: dt.date | None, on: dt.date, *, age_disputed: bool) -> bool:
    """True only if the person was 18 or over on ``on`` and their age is known and undisputed
    (rule ``ADULT``)."""
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


def _code_list(items: Sequence[Evidence]) -> list[str]:
    return sorted({e.indicator for e in items})
