"""Missing-from-education rules: a child's registration history in, findings out.

Three books, folded by ``evaluate`` in this order:

* ``DEPARTURES``: rules about one departure with no known destination, for each such departure
  in date order (a departure confirmed as a travelling family's move is judged by
  ``family_move`` alone, and one still waiting for its siblings by none);
* ``HISTORY``: rules over the whole registration history;
* ``ADJUSTMENTS``: rules that change a finding another rule made.

Each rule has an id, a version, a level and the guide's words, like the combined-concern rules
(thresholds from section 2.6 of the domain notes, as settings). Deadlines still to come are
scheduled through the ``Context``; "today" is a parameter (the worker's injectable clock).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace

from schemas.catalogue import LEVELS
from streams.domain.config import Thresholds
from streams.domain.education_facts import (
    EDUCATION_HIGHEST,
    GROUNDS,
    Context,
    Directory,
    Finding,
    of_concern,
)
from streams.domain.registrations import EducationState, Registration
from streams.domain.rulebook import RuleBook
from streams.domain.said import part
from streams.domain.schooldays import SchoolCalendar

__all__ = ["GROUNDS", "Context", "Directory", "Finding", "evaluate"]

DepartureCheck = Callable[[Context, Registration], "Finding | None"]
HistoryCheck = Callable[[Context], "Finding | None"]
AdjustCheck = Callable[[Context, Finding], Finding]
DEPARTURES: RuleBook[DepartureCheck] = RuleBook("education, per departure")
HISTORY: RuleBook[HistoryCheck] = RuleBook("education, over the history")
ADJUSTMENTS: RuleBook[AdjustCheck] = RuleBook("education, adjustments")


@DEPARTURES.rule(
    "education.short_stay",
    2,
    "low",
    "Children trafficked into the country may be registered at a school for a term or longer, "
    "before being moved to another part of the UK or abroad. This pattern of registration and "
    "de-registration may be an indicator that a child has been trafficked.",
)
def short_stay(ctx: Context, departure: Registration) -> Finding | None:
    """Registered for a term or longer, then gone with no known destination: medium at once when
    it has happened before within the repeated-registration window (a pattern, whether or not
    the child turned up on another roll in between); low once, if the child is on no other roll
    by the no-destination deadline."""
    stay = _stay(ctx, departure)
    minimum = ctx.config.registration_then_removal_min_school_days
    if stay is None or stay[1] < minimum:
        return None
    joined, length = stay
    horizon = departure.day - dt.timedelta(days=ctx.config.repeated_registrations_window_days)
    earlier = [
        r
        for r in ctx.state.registrations
        if r.kind == "deregistered"
        and horizon <= r.day < departure.day
        and r.destination is None
        and of_concern(r)
        and (_stay(ctx, r) or (None, 0))[1] >= minimum
    ]
    days = ctx.config.no_destination_school_days
    deadline = ctx.calendar.add_school_days(departure.day, days, departure.local_authority)
    if not earlier and waiting(ctx, departure, "no_destination", deadline):
        return None
    found = (
        f"Registered at school {departure.school_id} on {joined.date} and removed on "
        f"{departure.date} after {length} school days (a term or longer: {minimum}) with no "
        "known destination"
    )
    parts = [
        part(
            "education.short_stay",
            school=departure.school_id,
            joined_date=joined.date,
            left_date=departure.date,
            days=length,
            minimum=minimum,
        )
    ]
    if earlier:
        before = earlier[-1]
        found += (
            f", the second time within {ctx.config.repeated_registrations_window_days} days: "
            f"the child also left school {before.school_id} on {before.date} in the same way."
        )
        parts.append(
            part(
                "education.short_stay.again",
                window=ctx.config.repeated_registrations_window_days,
                school=before.school_id,
                date=before.date,
            )
        )
    else:
        found += f", and on no other roll {days} school days later."
        parts.append(part("education.short_stay.nowhere", days=days))
    return Finding(
        short_stay.rule,
        "medium" if earlier else short_stay.rule.level,
        "movement.short_school_registration_then_removed",
        departure,
        (*earlier[-1:], joined, departure),
        found,
        said=tuple(parts),
    )


def _stay(ctx: Context, departure: Registration) -> tuple[Registration, int] | None:
    """The registration a departure ended, and its length in school days."""
    joined = [
        r
        for r in ctx.state.registrations
        if r.kind == "registered"
        and r.school_id == departure.school_id
        and r.date <= departure.date
    ]
    if not joined:
        return None
    days = ctx.calendar.school_days_between(
        joined[-1].day, departure.day, departure.local_authority
    )
    return joined[-1], days


@DEPARTURES.rule(
    "education.no_destination",
    1,
    "medium",
    "A pupil who leaves with no known destination and appears on no other roll is a child "
    "missing education, whom the local authority must try to find.",
)
def no_destination(ctx: Context, departure: Registration) -> Finding | None:
    days = ctx.config.no_destination_school_days
    deadline = ctx.calendar.add_school_days(departure.day, days, departure.local_authority)
    if waiting(ctx, departure, "no_destination", deadline):
        return None
    return Finding(
        no_destination.rule,
        no_destination.rule.level,
        "movement.unknown_destination_on_leaving",
        departure,
        (departure,),
        f"Left school {departure.school_id} on {departure.date} with no known destination and "
        f"was registered nowhere within {days} school days (by {deadline.isoformat()}).",
        said=(
            part(
                "education.no_destination",
                school=departure.school_id,
                date=departure.date,
                days=days,
                deadline_date=deadline.isoformat(),
            ),
        ),
    )


@DEPARTURES.rule(
    "education.lost_in_transfer",
    1,
    "medium",
    "A pupil who leaves for a named school and does not arrive there is a child missing "
    "education: the authority must try to find the child.",
)
def lost_in_transfer(ctx: Context, departure: Registration) -> Finding | None:
    destination = departure.destination
    if destination is None:
        return None
    days = ctx.config.no_destination_school_days
    deadline = ctx.calendar.add_school_days(departure.day, days, departure.local_authority)
    if waiting(ctx, departure, "lost_in_transfer", deadline):  # arriving anywhere will do
        return None
    return Finding(
        lost_in_transfer.rule,
        lost_in_transfer.rule.level,
        "movement.unknown_destination_on_leaving",
        departure,
        (departure,),
        f"Left school {departure.school_id} on {departure.date} for school {destination} and "
        f"was registered at no school within {days} school days (by {deadline.isoformat()}).",
        said=(
            part(
                "education.lost_in_transfer",
                school=departure.school_id,
                date=departure.date,
                destination_school=destination,
                days=days,
                deadline_date=deadline.isoformat(),
            ),
        ),
    )


def waiting(ctx: Context, departure: Registration, kind: str, deadline: dt.date) -> bool:
    """Whether the deadline ``kind`` of a departure raises nothing now: a registration in time
    cancels it, and until it has passed it is scheduled (the sweep signals its day)."""
    if registered_again(ctx, departure, deadline):
        ctx.cancel(departure.event_id, kind)
        return True
    if ctx.today <= deadline:
        ctx.schedule(kind, departure.event_id, deadline + dt.timedelta(days=1))
        return True
    return False


def registered_again(ctx: Context, departure: Registration, deadline: dt.date) -> bool:
    """Registered at any school, the one the child left included, after leaving and by the
    deadline (the same school counts only from the next day: its own earlier registration on
    the day of leaving is not a return)."""
    return any(
        r.kind == "registered"
        and departure.day <= r.day <= deadline
        and (r.school_id != departure.school_id or r.day > departure.day)
        for r in ctx.state.registrations
    )


@DEPARTURES.rule(
    "education.family_move",
    2,
    "low",
    "Not all children who go missing from education have been victims of trafficking: children "
    "from communities that move around (Gypsy, Roma, traveller or migrant families) may "
    "collectively go missing from school.",
)
def family_move(ctx: Context, departure: Registration) -> Finding | None:
    """A departure confirmed as siblings leaving together, or a travelling family's child who
    left alone once the window for siblings has passed: the authority's enquiry, at low."""
    together = departure.event_id in ctx.state.family_moves
    waiting_for_siblings = any(
        p.kind == "family_window"
        and p.event_id == departure.event_id
        and p.due > ctx.today.isoformat()
        for p in ctx.state.pending
    )
    if not together and not (departure.family_travelling and not waiting_for_siblings):
        return None
    ctx.cancel(departure.event_id)
    how = (
        "together with siblings of a travelling family"
        if together
        else "as the child of a travelling family, with no sibling leaving at the same time"
    )
    return Finding(
        family_move.rule,
        family_move.rule.level,
        "movement.unknown_destination_on_leaving",
        departure,
        (departure,),
        f"Left school {departure.school_id} on {departure.date} {how}: the local authority "
        "should make its missing-education enquiries, but a travelling family's move is not on "
        "its own a sign of trafficking.",
        family_move=True,
        said=(
            part(
                "education.family_move.together" if together else "education.family_move.alone",
                school=departure.school_id,
                date=departure.date,
            ),
        ),
    )


@HISTORY.rule(
    "education.repeated_registration",
    1,
    "medium",
    "A pattern of registration and de-registration; highly mobile children get lost between "
    "schools and local authorities.",
)
def repeated_registration(ctx: Context) -> Finding | None:
    config = ctx.config
    joined = [r for r in ctx.state.registrations if r.kind == "registered"]
    if not joined:
        return None
    window = config.repeated_registrations_window_days
    horizon = (joined[-1].day - dt.timedelta(days=window)).isoformat()
    recent = [r for r in joined if r.date >= horizon]
    schools = sorted({r.school_id for r in recent})
    authorities = sorted({r.local_authority for r in recent})
    many_schools = len(schools) >= config.repeated_registrations_min_schools
    if not many_schools and len(authorities) < config.repeated_registrations_min_local_authorities:
        return None
    return Finding(
        repeated_registration.rule,
        "medium" if many_schools else "low",
        "movement.repeated_school_registrations",
        # The earliest registration anchors the finding, so later registrations extend the
        # same finding (one movement observation) instead of adding one per registration.
        recent[0],
        tuple(recent),
        f"Registered at {len(schools)} schools in {len(authorities)} local "
        f"{'authority' if len(authorities) == 1 else 'authorities'} within {window} days "
        f"(thresholds: {config.repeated_registrations_min_schools} schools or "
        f"{config.repeated_registrations_min_local_authorities} local authorities; a single move "
        "is not a pattern).",
        said=(
            part(
                "education.repeated_registration",
                schools=len(schools),
                authorities=len(authorities),
                window=window,
                min_schools=config.repeated_registrations_min_schools,
                min_authorities=config.repeated_registrations_min_local_authorities,
            ),
        ),
    )


@HISTORY.rule(
    "education.continuous_absence",
    1,
    "low",
    "Schools in Wales return to the local authority every pupil with 10 or more continuous "
    "school days of unauthorised absence (Pupil Registration (Wales) Regulations 2010 reg 12); "
    "20 days is a ground for deletion after joint enquiries.",
)
def continuous_absence(ctx: Context) -> Finding | None:
    registrations = ctx.state.registrations
    if not registrations or registrations[-1].kind != "continuous_absence":
        return None
    latest = registrations[-1]
    if latest.returned_on is not None:
        return None  # the pupil came back: the absence is over
    days = latest.absence_days or 0
    returned = ctx.config.absence_return_school_days
    deletion = ctx.config.absence_deletion_school_days
    if days < returned:
        return None
    return Finding(
        continuous_absence.rule,
        "medium" if days >= deletion else "low",
        "movement.unexplained_prolonged_absence",
        latest,
        (latest,),
        f"{days} consecutive school days of unauthorised absence from school "
        f"{latest.school_id} up to {latest.date} (returned to the local authority from "
        f"{returned}; {deletion} raises the level).",
        said=(
            part(
                "education.continuous_absence",
                days=days,
                school=latest.school_id,
                date=latest.date,
                returned=returned,
                deletion=deletion,
            ),
        ),
    )


@ADJUSTMENTS.rule(
    "education.port_school",
    1,
    "low",
    "Schools near ports of entry are a particular concern, but every school must be alert.",
)
def port_school(ctx: Context, finding: Finding) -> Finding:
    if finding.family_move or not ctx.near_port(finding.anchor.school_id):
        return finding
    # High means possible trafficking: only that rule raises it, so the step stops at medium.
    raised = LEVELS[min(LEVELS.index(finding.level) + 1, LEVELS.index(EDUCATION_HIGHEST))]
    step = "level raised one step" if raised != finding.level else "already at its highest level"
    return replace(
        finding,
        level=raised,
        reason=f"{finding.reason} School {finding.anchor.school_id} is near a port of entry, "
        f"where the guide asks for particular alertness ({step}).",
        said=(
            *finding.said,
            part(
                "education.port_school.raised"
                if raised != finding.level
                else "education.port_school.highest",
                school=finding.anchor.school_id,
            ),
        ),
    )


def evaluate(
    state: EducationState,
    today: dt.date,
    calendar: SchoolCalendar,
    config: Thresholds,
    near_port: Directory,
) -> list[Finding]:
    """Every finding that holds today; also schedules the deadlines still to come."""
    ctx = Context(state, today, calendar, config, near_port)
    held = {
        p.event_id for p in state.pending if p.kind == "family_window" and p.due > today.isoformat()
    }
    found: list[Finding] = []
    departures = [r for r in state.registrations if r.kind == "deregistered" and of_concern(r)]
    for departure in departures:
        if departure.destination is not None:
            transfer = lost_in_transfer.check(ctx, departure)
            found.extend([transfer] if transfer is not None else [])
            continue
        family = family_move.check(ctx, departure)
        if family is not None:
            found.append(family)
        elif departure.event_id not in held:
            found.extend(
                finding
                for entry in DEPARTURES
                if entry not in (family_move, lost_in_transfer)
                and (finding := entry.check(ctx, departure)) is not None
            )
    found.extend(f for entry in HISTORY if (f := entry.check(ctx)) is not None)
    for adjustment in ADJUSTMENTS:
        found = [adjustment.check(ctx, f) for f in found]
    return found
