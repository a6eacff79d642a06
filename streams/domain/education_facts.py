"""What the education rules read and find: a departure's deletion ground, the context a rule
reads (and the deadlines it may schedule), and a finding."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from streams.domain.config import Thresholds
from streams.domain.registrations import EducationState, Pending, Registration
from streams.domain.rulebook import Rule
from streams.domain.said import Part
from streams.domain.schooldays import SchoolCalendar

#: The highest level an education finding takes: "high" means possible trafficking.
EDUCATION_HIGHEST = "medium"

Directory = Callable[[str], bool]
"""Whether a school id is near a port of entry (unknown schools are not)."""


@dataclass(frozen=True)
class Finding:
    """One pattern found in the child's history."""

    rule: Rule
    level: str
    indicator: str
    """The movement indicator this finding stands for in the combined-concern evidence."""
    anchor: Registration
    """The event the finding hangs on (its school and local authority)."""
    evidence: tuple[Registration, ...]
    reason: str
    family_move: bool = False
    said: tuple[Part, ...] = ()
    """The reason as codes and parameters (``streams.domain.said``)."""

    @property
    def concern_event_id(self) -> str:
        return f"edu-{self.rule.id}-{self.anchor.event_id}"


@dataclass
class Context:
    """What the rules read, and the one thing they may change: the pending deadlines."""

    state: EducationState
    today: dt.date
    calendar: SchoolCalendar
    config: Thresholds
    near_port: Directory

    def schedule(self, kind: str, event_id: str, due: dt.date) -> None:
        self.state.schedule(Pending(kind, event_id, due.isoformat()))

    def cancel(self, event_id: str, kind: str | None = None) -> None:
        self.state.pending = [
            p for p in self.state.pending if not (p.event_id == event_id and kind in (None, p.kind))
        ]


#: Every reg 8(1) deletion ground (Education (Pupil Registration) (Wales) Regulations 2010) and
#: how a departure on it is treated: ``none``, the child's education and whereabouts are known
#: and nothing is raised; ``concern``, the departure rules apply (to a named destination: the
#: child must arrive there). A departure with no ground given is a concern.
GROUNDS: dict[str | None, str] = {
    "a_attendance_order_changed": "none",  # education arranged under the attendance order
    "b_registered_elsewhere": "concern",  # arrives at the other school, or is lost in transfer
    "c_dual_registration_ended": "none",  # still on the other school's roll
    "d_educated_otherwise": "none",  # home education, the parent told the school in writing
    "e_moved_away": "concern",
    "f_not_returned_after_leave": "concern",
    "g_medically_unfit": "none",  # medically certified; the authority knows the child
    "h_continuous_absence": "concern",
    "i_detained": "none",  # detained under a court order: whereabouts known
    "j_died": "none",
    "k_left_compulsory_age": "none",  # a Year 11 leaver
    "m_permanently_excluded": "none",  # the authority arranges education after an exclusion
    "other": "concern",
    None: "concern",
}


def of_concern(departure: Registration) -> bool:
    return GROUNDS.get(departure.ground, "concern") == "concern"
