"""The combined-concern step: one input applied to one child's state, framework-free.

Each input (an observation, a retraction, a practitioner's closure, a deadline that came, the
child's school authority) updates the state, and ``settle`` says what to publish, through the
alert lifecycle (``lifecycle.py``): a new version when what the alert says changed, the last
version of the episode (``ended`` or ``withdrawn``) when the rules stop holding, or the current
version again when an observation is a duplicate (a redelivery after a crash may have lost the
first send; the resend is byte-identical, so consumers keep one copy).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from schemas.catalogue import Catalogue
from schemas.validation import AGE_ASSESSED
from streams.domain import concern_rules as rules
from streams.domain.alerts import concern_content
from streams.domain.config import Thresholds
from streams.domain.evidence import (
    MS_PER_DAY,
    ChildState,
    Evidence,
    Outcome,
    to_datetime,
    to_millis,
)
from streams.domain.said import part, reason

KIND = "combined_concern"
#: Reported by any agency, this indicator disputes the child's age as the flag does.
AGE_DISPUTED = "docs.age_uncertain_or_disputed"


class Result(enum.Enum):
    NEW_VERSION = "new_version"
    RESEND = "resend"
    NO_ALERT = "no_alert"
    ADULT = "adult"
    TOO_OLD = "too_old"
    ENDED = "ended"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class Step:
    result: Result
    alerts: tuple[dict[str, Any], ...] = ()
    """What to publish, in order (time catching up may add a version before the input's)."""
    changed: bool = True
    """Whether to write the state. A duplicate writes it again: after a crash the state may
    be in this worker's store and not yet in the changelog, and the replay puts it there."""
    next_due: str | None = None
    """ISO date on which the alert may change with no new input (evidence leaving the
    look-back, an immediate risk passing); None when no alert is open."""

    @property
    def alert(self) -> dict[str, Any] | None:
        """The last alert record to publish, if any."""
        return self.alerts[-1] if self.alerts else None


def _step(result: Result, record: dict[str, Any] | None, **more: Any) -> Step:
    return Step(result, (record,) if record is not None else (), **more)


def observe(
    state: ChildState,
    observation: Mapping[str, Any],
    catalogue: Catalogue,
    config: Thresholds,
    me: str | None = None,
) -> Step:
    """Apply a decoded, validated observation to ``state``, the state of ``me`` (the
    observation's own reference, or the child it was linked into)."""
    observed_at = observation["observed_at"]
    date_of_birth = observation["date_of_birth"]
    child_ref = me or observation["child_ref"]
    # Once any agency disputes the child's age, the child stays a child (false documents are
    # common) until an age assessment gives the assessed date of birth; evidence about a child
    # with an open alert who turns 18 is kept for the transition.
    assessed = observation["indicator"] == AGE_ASSESSED
    disputed = not assessed and (
        observation["age_disputed"]
        or observation["indicator"] == AGE_DISPUTED
        or state.age_disputed
    )
    known = state.date_of_birth
    born = date_of_birth or (dt.date.fromisoformat(known) if known else None)
    adult = rules.is_adult(born, observed_at.date(), age_disputed=disputed)
    if adult and not state.alert(KIND).is_open:
        if assessed:  # assessed as an adult: the dispute is over, and later reports are not kept
            state.age_disputed, state.date_of_birth = False, date_of_birth.isoformat()
        return Step(Result.ADULT, changed=assessed)
    item = Evidence(
        event_id=observation["event_id"],
        agency_type=observation["agency"]["type"],
        agency_id=observation["agency"]["id"],
        indicator=observation["indicator"],
        group=catalogue[observation["indicator"]].group,
        observed_at=to_millis(observed_at),
        immediate_risk=observation["immediate_risk"],
        local_authority=observation["local_authority"],
        origin="" if observation["child_ref"] == child_ref else observation["child_ref"],
        source_ref=observation["source_ref"],
    )
    outcome = state.add(item, config.lookback_days)
    if outcome is Outcome.TOO_OLD:
        return Step(Result.TOO_OLD, changed=False)
    if outcome is Outcome.ADDED and (assessed or item.observed_at == state.watermark):
        state.date_of_birth = date_of_birth.isoformat() if date_of_birth else state.date_of_birth
    state.age_disputed = disputed
    if outcome is Outcome.DUPLICATE:
        return _resend(state, child_ref, catalogue, config)
    return settle(state, child_ref, catalogue, config, withdrawn=None)


def retract(
    state: ChildState,
    child_ref: str,
    retraction: Mapping[str, Any],
    catalogue: Catalogue,
    config: Thresholds,
) -> Step:
    """An agency retracts one of its own observations: it leaves the evidence, for good."""
    agency = retraction["agency"]
    removed = state.retract((agency["type"], agency["id"], retraction["retracts"]))
    if removed is None:  # not this child's, or not this agency's: nothing to withdraw
        return Step(Result.NO_ALERT, next_due=next_due(state, catalogue, config))
    why = (
        f"{agency['type']} {agency['id']} retracted its {removed.indicator} of "
        f"{to_datetime(removed.observed_at).date().isoformat()} ({retraction['reason']})."
    )
    return settle(state, child_ref, catalogue, config, withdrawn=why)


def catch_up(
    state: ChildState, child_ref: str, now: dt.datetime, catalogue: Catalogue, config: Thresholds
) -> Step:
    """Time passed. On or after the day the open alert may change with no new input (evidence
    leaving the look-back, an immediate risk passing), publish what follows.

    Every input to the child calls this first, and the sweep's deadline signal is this alone,
    with the same condition, so the versions are the same whichever of the two is read first.
    """
    due = next_due(state, catalogue, config)
    state.clock = max(state.clock, to_millis(now))
    if due is None or due > now.date().isoformat():
        return Step(Result.NO_ALERT, changed=False, next_due=due)
    state.expire(config.lookback_days)
    return settle(state, child_ref, catalogue, config, withdrawn=None)


def after(
    earlier: Step, step: Step, state: ChildState, catalogue: Catalogue, config: Thresholds
) -> Step:
    """``step`` preceded by what catching up with the clock published."""
    if not earlier.changed:
        return step
    return Step(
        step.result,
        earlier.alerts + step.alerts,
        changed=True,
        next_due=next_due(state, catalogue, config),
    )


def on_school_authority(
    state: ChildState,
    child_ref: str,
    authority: str | None,
    catalogue: Catalogue,
    config: Thresholds,
) -> Step:
    """The child's current school is in ``authority`` (None: the child has no school now): the
    alert belongs to that authority from now on."""
    if state.school_authority == authority:
        return Step(Result.NO_ALERT, changed=False)
    state.school_authority = authority
    return settle(state, child_ref, catalogue, config, withdrawn=None)


def on_action(
    state: ChildState,
    child_ref: str,
    action: Mapping[str, Any],
    catalogue: Catalogue,
    config: Thresholds,
) -> Step:
    """A practitioner's action on the alert; only a closure changes what the worker does."""
    if action["action"] != "close" or not state.alert(KIND).close(dict(action), child_ref, KIND):
        return Step(Result.NO_ALERT, changed=False)
    return Step(Result.NO_ALERT, next_due=next_due(state, catalogue, config))


def on_identity(
    state: ChildState,
    me: str,
    signal: Mapping[str, Any],
    catalogue: Catalogue,
    config: Thresholds,
) -> tuple[Step, dict[str, dict[str, Any]]]:
    """The identity agent says where ``me`` stands among the references linked as one child.

    Returns the step and the evidence to send to other references. Merged into another
    reference, ``me`` sends it everything and its alert ends, naming the child it continues
    under; as a group's canonical reference it keeps what is its group's and sends the rest
    back (a link was withdrawn), and its alert is re-assessed on what stays.
    """
    if not state.membership.is_newer(signal["version"]):
        return Step(Result.NO_ALERT, changed=False, next_due=next_due(state, catalogue, config)), {}
    state.membership.learn(me, dict(signal))
    payloads = state.take_out(me)
    merged = state.membership.canonical
    if merged is not None:
        why = (
            "Withdrawn: agencies linked this reference to another of the same child; the "
            "evidence and the alert continue under that child."
        )
        record = state.alert(KIND).finish(
            me,
            KIND,
            "withdrawn",
            why,
            merged_into=merged,
            code=reason(part("concern.withdrawn.merged")),
        )
        return _step(Result.WITHDRAWN if record else Result.NO_ALERT, record), payloads
    withdrawn = None
    if payloads:
        withdrawn = (
            "A link between two references of this child was withdrawn: what was known under "
            "the other reference is no longer counted here."
        )
    return settle(state, me, catalogue, config, withdrawn=withdrawn), payloads


def on_absorb(
    state: ChildState,
    me: str,
    signal: Mapping[str, Any],
    catalogue: Catalogue,
    config: Thresholds,
) -> tuple[Step, dict[str, dict[str, Any]]]:
    """Evidence of a reference linked as this child arrives: assess it with the rest. What
    does not belong here by this reference's own (newer) view is sent on."""
    state.absorb(me, dict(signal["payload"]), config.lookback_days)
    payloads = {} if state.membership.is_newer(signal["version"]) else state.take_out(me)
    return settle(state, me, catalogue, config, withdrawn=None), payloads


def settle(
    state: ChildState,
    child_ref: str,
    catalogue: Catalogue,
    config: Thresholds,
    *,
    withdrawn: str | None,
) -> Step:
    """Publish what follows from the state: a new version, or the episode's end.

    ``withdrawn`` says which input removed evidence (the alert is then withdrawn, not ended, if
    the rules stop holding).
    """
    current = state.alert(KIND)
    decision = _assess(state, catalogue, config)
    if decision is None:
        if withdrawn is not None:
            why = f"Withdrawn: {withdrawn} Nothing left supports an alert."
            record = current.finish(child_ref, KIND, "withdrawn", why)
            return _step(Result.WITHDRAWN if record else Result.NO_ALERT, record)
        why, code = _end_reason(state, catalogue, config)
        record = current.finish(child_ref, KIND, "ended", why, code=code)
        return _step(Result.ENDED if record else Result.NO_ALERT, record)
    content = concern_content(decision, state, withdrawn)
    record = current.publish(child_ref, KIND, content)
    result = Result.NEW_VERSION if record else Result.NO_ALERT
    return _step(result, record, next_due=next_due(state, catalogue, config))


def _resend(state: ChildState, child_ref: str, catalogue: Catalogue, config: Thresholds) -> Step:
    current = state.alert(KIND)
    decision = _assess(state, catalogue, config)
    if not current.is_open or decision is None:
        return Step(Result.NO_ALERT, next_due=next_due(state, catalogue, config))
    content = concern_content(decision, state, None)
    if content.digest() != current.digest:  # the current version said something else
        return Step(Result.NO_ALERT, next_due=next_due(state, catalogue, config))
    return _step(
        Result.RESEND,
        current.record(child_ref, KIND, content),
        next_due=next_due(state, catalogue, config),
    )


def next_due(state: ChildState, catalogue: Catalogue, config: Thresholds) -> str | None:
    """The day after the next moment the open alert may change with no new input."""
    if not state.alert(KIND).is_open:
        return None
    moments = [e.observed_at + config.lookback_days * MS_PER_DAY for e in state.evidence]
    moments += [
        e.observed_at + config.immediate_risk_days * MS_PER_DAY
        for e in state.evidence
        if e.immediate_risk or catalogue[e.indicator].immediate_risk
    ]
    future = [m for m in moments if m >= state.now]
    if not future:
        return None
    return (to_datetime(min(future)).date() + dt.timedelta(days=1)).isoformat()


def _end_reason(
    state: ChildState, catalogue: Catalogue, config: Thresholds
) -> tuple[str, dict[str, Any]]:
    if rules.stale_urgent(_facts(state, catalogue), config):
        return (
            f"Ended: the immediate risk has passed (reported more than "
            f"{config.immediate_risk_days} days ago, or the child was reported found safe), and "
            "nothing else supports an alert.",
            reason(part("concern.ended.risk_passed", days=config.immediate_risk_days)),
        )
    return (
        f"Ended: the evidence that raised this alert is more than {config.lookback_days} days "
        "old and has left the look-back.",
        reason(part("concern.ended.lookback", days=config.lookback_days)),
    )


def _facts(state: ChildState, catalogue: Catalogue) -> rules.Facts:
    dob = dt.date.fromisoformat(state.date_of_birth) if state.date_of_birth else None
    return rules.Facts.of(state.evidence, catalogue, dob, state.age_disputed, state.now)


def _assess(state: ChildState, catalogue: Catalogue, config: Thresholds) -> rules.Decision | None:
    if not state.evidence:
        return None
    return rules.decide(_facts(state, catalogue), config)
