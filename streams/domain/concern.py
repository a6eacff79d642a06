"""One observation applied to one child's state: the combined-concern step, framework-free.

``observe`` updates the state and says what to publish: a new alert version when new evidence
makes a rule fire, or the current version again when the event is a duplicate (a redelivery after
a crash may have lost the first send; the resend is byte-identical, so consumers keep one copy).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from schemas.catalogue import Catalogue
from streams.domain import concern_rules as rules
from streams.domain.alerts import concern_alert
from streams.domain.config import Thresholds
from streams.domain.evidence import ChildState, Evidence, Outcome, to_millis

KIND = "combined_concern"


class Result(enum.Enum):
    NEW_VERSION = "new_version"
    RESEND = "resend"
    NO_ALERT = "no_alert"
    ADULT = "adult"
    TOO_OLD = "too_old"


@dataclass(frozen=True)
class Step:
    result: Result
    alert: dict[str, Any] | None = None
    changed: bool = True
    """Whether to write the state. A duplicate writes it again: after a crash the state may
    be in this worker's store and not yet in the changelog, and the replay puts it there."""


def observe(
    state: ChildState,
    observation: Mapping[str, Any],
    catalogue: Catalogue,
    config: Thresholds,
) -> Step:
    """Apply a decoded, validated observation to ``state``."""
    observed_at = observation["observed_at"]
    date_of_birth = observation["date_of_birth"]
    if rules.is_adult(date_of_birth, observed_at.date(), age_disputed=observation["age_disputed"]):
        return Step(Result.ADULT, changed=False)
    item = Evidence(
        event_id=observation["event_id"],
        agency_type=observation["agency"]["type"],
        agency_id=observation["agency"]["id"],
        indicator=observation["indicator"],
        group=catalogue[observation["indicator"]].group,
        observed_at=to_millis(observed_at),
        immediate_risk=observation["immediate_risk"],
        local_authority=observation["local_authority"],
    )
    outcome = state.add(item, config.lookback_days)
    if outcome is Outcome.TOO_OLD:
        return Step(Result.TOO_OLD, changed=False)
    if outcome is Outcome.ADDED and item.observed_at == state.watermark:
        state.date_of_birth = date_of_birth.isoformat() if date_of_birth else state.date_of_birth
        state.age_disputed = observation["age_disputed"]
    decision = _assess(state, catalogue, config)
    current = state.alert(KIND)
    if outcome is Outcome.DUPLICATE:
        if current.is_open and decision:
            alert = concern_alert(observation["child_ref"], KIND, decision, state)
            return Step(Result.RESEND, alert)
        return Step(Result.NO_ALERT)
    if decision is None:
        current.end()  # the evidence that made the alert has expired: the episode ends
        return Step(Result.NO_ALERT)
    current.advance()
    return Step(Result.NEW_VERSION, concern_alert(observation["child_ref"], KIND, decision, state))


def _assess(state: ChildState, catalogue: Catalogue, config: Thresholds) -> rules.Decision | None:
    dob = dt.date.fromisoformat(state.date_of_birth) if state.date_of_birth else None
    return rules.assess(
        state.evidence, catalogue, config, date_of_birth=dob, age_disputed=state.age_disputed
    )
