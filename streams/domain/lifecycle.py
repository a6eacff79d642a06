"""An alert's episodes and versions: one lifecycle for every kind of alert.

``alert_id`` depends only on the child, the alert kind and the episode, and the version goes up
by one each time the published content would change: a resend is byte-identical, so consumers
keep one copy. An episode ends when the rules stop holding; the next alert opens a new one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


def alert_id(child_ref: str, kind: str, episode: int) -> str:
    digest = hashlib.sha256(f"{child_ref}|{kind}|{episode}".encode()).hexdigest()
    return f"{kind}-{digest[:24]}"


@dataclass(slots=True)
class AlertState:
    """The child's current alert of one kind: its episode and its latest published version."""

    episode: int = 0
    version: int = 0
    """0 means no open alert in this episode."""
    digest: str = ""
    """Fingerprint of the published content, where a version is decided by content."""

    @property
    def is_open(self) -> bool:
        return self.version > 0

    def advance(self, digest: str | None = None) -> bool:
        """A new version, unless ``digest`` says the content is what was last published."""
        if digest is not None and digest == self.digest:
            return False
        self.version += 1
        if digest is not None:
            self.digest = digest
        return True

    def end(self) -> None:
        """The rules no longer hold: the episode ends, and the next alert opens a new one."""
        if self.version:
            self.episode += 1
            self.version = 0
            self.digest = ""

    def alert_id(self, child_ref: str, kind: str) -> str:
        return alert_id(child_ref, kind, self.episode)
