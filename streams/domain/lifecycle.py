"""An alert's life: episodes, versions, status, closure and reopening, for every kind of alert.

``alert_id`` depends only on the child, the alert kind and the episode, and the version goes up
by one each time the published content changes: a resend is byte-identical, so consumers keep
one copy. The states of an episode::

    (none) --rules hold--> open --content changes--> open (next version)
      open --a practitioner closes--> open and closed (nothing published)
           --new evidence or a higher level--> open, reopened after closure
      open --evidence left the look-back, risk passed (no new input)--> ended
      open --later data removed the basis (late registration, retraction)--> withdrawn

An ended or withdrawn version repeats the last evidence with the reason; the episode is over and
the next alert for the child opens a new one (a new ``alert_id``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from schemas.catalogue import LEVELS
from streams.domain.times import to_datetime, to_millis


def alert_id(child_ref: str, kind: str, episode: int) -> str:
    digest = hashlib.sha256(f"{child_ref}|{kind}|{episode}".encode()).hexdigest()
    return f"{kind}-{digest[:24]}"


@dataclass(frozen=True)
class Content:
    """What a version says, as the rules decided it (everything but id, version and status)."""

    level: str
    rule_id: str
    rule_version: int
    raised_at: dt.datetime
    local_authority: str
    local_authorities: tuple[str, ...]
    evidence: tuple[dict[str, Any], ...]
    """Alert ``Evidence`` records, oldest first."""
    reasons: tuple[str, ...]
    actions: tuple[str, ...]
    family_move: bool = False
    status_reason: str | None = None
    linked_refs: tuple[str, ...] = ()
    """Every reference linked as this child, when there is more than one."""
    reason_codes: tuple[dict[str, Any], ...] = ()
    """Each reason as codes and parameters (alert v4; not in the digest: the words decide)."""
    status_reason_code: dict[str, Any] | None = None

    def digest(self) -> str:
        parts = [
            self.level,
            self.rule_id,
            str(self.rule_version),
            self.local_authority,
            ",".join(self.local_authorities),
            "|".join(f"{e['agency_type']}:{e['agency_id']}:{e['event_id']}" for e in self.evidence),
            "\n".join(self.reasons),
            ",".join(self.actions),
            str(self.family_move),
            self.status_reason or "",
            ",".join(self.linked_refs),
        ]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]

    def to_json(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "rule_id": self.rule_id,
            "rule_version": self.rule_version,
            "raised_at": to_millis(self.raised_at),
            "local_authority": self.local_authority,
            "local_authorities": list(self.local_authorities),
            "evidence": [
                [
                    e["event_id"],
                    e["agency_type"],
                    e["agency_id"],
                    e["indicator"],
                    e["group"],
                    to_millis(e["observed_at"]),
                    e.get("source_ref"),
                ]
                for e in self.evidence
            ],
            "family_move": self.family_move,
            "linked_refs": list(self.linked_refs),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Content:
        return cls(
            level=data["level"],
            rule_id=data["rule_id"],
            rule_version=data["rule_version"],
            raised_at=to_datetime(data["raised_at"]),
            local_authority=data["local_authority"],
            local_authorities=tuple(data["local_authorities"]),
            evidence=tuple(
                {
                    "event_id": row[0],
                    "agency_type": row[1],
                    "agency_id": row[2],
                    "indicator": row[3],
                    "group": row[4],
                    "observed_at": to_datetime(row[5]),
                    "source_ref": row[6] if len(row) > 6 else None,
                }
                for row in data["evidence"]
            ),
            reasons=(),
            actions=(),
            family_move=data["family_move"],
            linked_refs=tuple(data.get("linked_refs", ())),
        )


@dataclass(slots=True)
class AlertState:
    """The child's current alert of one kind: its episode, version and what it last said."""

    episode: int = 0
    version: int = 0
    """0 means no open alert in this episode."""
    digest: str = ""
    """Fingerprint of the published content: a new version only when it changes."""
    closure: dict[str, Any] | None = None
    """A practitioner's closure of this episode, until a new version reopens it."""
    reopens: dict[str, Any] | None = None
    """The closure the current version reopened (kept so a resend is byte-identical)."""
    last: dict[str, Any] | None = None
    """The current version's content (``Content.to_json``), for an ended or withdrawn version."""

    @property
    def is_open(self) -> bool:
        return self.version > 0

    def alert_id(self, child_ref: str, kind: str) -> str:
        return alert_id(child_ref, kind, self.episode)

    def advance(self, digest: str) -> bool:
        """A new version, unless ``digest`` says the content is what was last published."""
        if digest == self.digest:
            return False
        self.version += 1
        self.digest = digest
        return True

    def reopen_if_closed(self, content: Content) -> None:
        """After a closure, new evidence or a higher level reopens the alert (at this version)."""
        self.reopens = None
        if self.closure is None or self.last is None:
            return
        before = Content.from_json(self.last)
        known = {(e["agency_type"], e["agency_id"], e["event_id"]) for e in before.evidence}
        new_evidence = any(
            (e["agency_type"], e["agency_id"], e["event_id"]) not in known for e in content.evidence
        )
        if new_evidence or _rank(content.level) > _rank(before.level):
            self.reopens, self.closure = self.closure, None

    def publish(self, child_ref: str, kind: str, content: Content) -> dict[str, Any] | None:
        """The record of a new open version if ``content`` differs from the last one, else None."""
        if not self.advance(content.digest()):
            return None
        self.reopen_if_closed(content)
        self.last = content.to_json()
        return self.record(child_ref, kind, content)

    def record(
        self,
        child_ref: str,
        kind: str,
        content: Content,
        status: str = "open",
        merged_into: str | None = None,
    ) -> dict[str, Any]:
        """The Alert record of the current version with ``content`` (also for a resend)."""
        return {
            "alert_id": self.alert_id(child_ref, kind),
            "version": self.version,
            "child_ref": child_ref,
            "kind": kind,
            "level": content.level,
            "rule_id": content.rule_id,
            "rule_version": content.rule_version,
            "raised_at": content.raised_at,
            "local_authority": content.local_authority,
            "evidence": list(content.evidence),
            "reasons": list(content.reasons),
            "reason_codes": list(content.reason_codes),
            "status_reason_code": content.status_reason_code,
            "actions": list(content.actions),
            "family_move": content.family_move,
            "status": status,
            "status_reason": content.status_reason,
            "reopened_after_closure": status == "open" and self.reopens is not None,
            "closure": self.reopens if status == "open" else None,
            "local_authorities": list(content.local_authorities),
            "linked_refs": list(content.linked_refs),
            "merged_into": merged_into,
        }

    def finish(
        self,
        child_ref: str,
        kind: str,
        status: str,
        reason: str,
        merged_into: str | None = None,
        code: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Publish the episode's last version (``ended`` or ``withdrawn``) and end the episode;
        None when no alert is open. ``merged_into`` names the child a linked reference's alert
        continues under; ``code`` is the reason as codes and parameters, when it has them."""
        if not self.is_open or self.last is None:
            self.end()
            return None
        self.version += 1
        last = Content.from_json(self.last)
        content = Content(
            level=last.level,
            rule_id=last.rule_id,
            rule_version=last.rule_version,
            raised_at=last.raised_at,
            local_authority=last.local_authority,
            local_authorities=last.local_authorities,
            evidence=last.evidence,
            reasons=(reason,),
            reason_codes=(code,) if code is not None else (),
            actions=(),
            family_move=last.family_move,
            status_reason=reason,
            status_reason_code=code,
            linked_refs=last.linked_refs,
        )
        record = self.record(child_ref, kind, content, status, merged_into)
        self.end()
        return record

    def end(self) -> None:
        """The rules no longer hold: the episode ends, and the next alert opens a new one."""
        if self.version:
            self.episode += 1
        self.version = 0
        self.digest = ""
        self.closure = self.reopens = self.last = None

    def close(self, action: dict[str, Any], child_ref: str, kind: str) -> bool:
        """A practitioner closed this episode's alert (an ``AlertAction``); False if the action
        is about another episode, or the alert is not open."""
        if not self.is_open or action["alert_id"] != self.alert_id(child_ref, kind):
            return False
        self.closure = {
            "outcome": action.get("outcome") or "no_further_action",
            "reason": action.get("reason") or "",
            "by": action["by"],
            "at": action["at"],
            "version": action["version"],
        }
        return True

    def to_json(self) -> dict[str, Any]:
        return {
            "episode": self.episode,
            "version": self.version,
            "digest": self.digest,
            "closure": _closure_json(self.closure),
            "reopens": _closure_json(self.reopens),
            "last": self.last,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AlertState:
        return cls(
            episode=data["episode"],
            version=data["version"],
            digest=data.get("digest", ""),
            closure=_closure_from(data.get("closure")),
            reopens=_closure_from(data.get("reopens")),
            last=data.get("last"),
        )


def _rank(level: str) -> int:
    return LEVELS.index(level)


def _closure_json(closure: dict[str, Any] | None) -> dict[str, Any] | None:
    if closure is None:
        return None
    return {**closure, "at": to_millis(closure["at"])}


def _closure_from(data: dict[str, Any] | None) -> dict[str, Any] | None:
    if data is None:
        return None
    return {**data, "at": to_datetime(data["at"])}
