"""Alert records: deterministic ids and versions, so a resend is byte-identical.

``alert_id`` depends only on the child, the alert kind and the episode; the version goes up by one
each time the published content would change. ``raised_at`` is the newest evidence's event time,
never the wall clock, so reprocessing the same input gives the same bytes.
"""

from __future__ import annotations

import hashlib
from typing import Any

from streams.domain.evidence import ChildState, to_datetime
from streams.domain.rules import Decision


def alert_id(child_ref: str, kind: str, episode: int) -> str:
    digest = hashlib.sha256(f"{child_ref}|{kind}|{episode}".encode()).hexdigest()
    return f"{kind}-{digest[:24]}"


def build_alert(child_ref: str, kind: str, decision: Decision, state: ChildState) -> dict[str, Any]:
    """The Alert record for the child's current alert of ``kind`` (its episode and version)."""
    current = state.alert(kind)
    latest = state.evidence[-1]
    return {
        "alert_id": alert_id(child_ref, kind, current.episode),
        "version": current.version,
        "child_ref": child_ref,
        "kind": kind,
        "level": decision.level,
        "rule_id": decision.rule.id,
        "rule_version": decision.rule.version,
        "raised_at": to_datetime(max(e.observed_at for e in state.evidence)),
        "local_authority": latest.local_authority,
        "evidence": [e.to_alert() for e in state.evidence],
        "reasons": list(decision.reasons),
        "actions": list(decision.actions),
        "family_move": False,
    }
