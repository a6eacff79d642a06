"""The worker's handlers with no broker: topics as queues, tables as dicts."""

from __future__ import annotations

import collections
import random
from types import SimpleNamespace
from typing import Any

import pytest

from safeguard.kernel.topics import TABLES
from streams import handlers, matching, topics
from streams.app import settings
from streams.domain import clock
from streams.guard import Effects


class World:
    """Topics as queues, tables as dicts, and the handlers that read them."""

    def __init__(
        self, monkeypatch: pytest.MonkeyPatch, shuffle: random.Random | None = None
    ) -> None:
        self.tables: dict[str, dict[bytes, Any]] = {}
        self.names: dict[int, str] = {}
        for name in TABLES:  # each a dict, where the module that handles it reads it
            self.tables[name] = {}
            module = matching if hasattr(matching, name) else handlers
            monkeypatch.setattr(module, name, self.tables[name])
        self.handlers = {
            "observations": handlers.handle_observation,
            "concern_signals": handlers.handle_observation,
            "registrations": handlers.handle_registration,
            "education_signals": handlers.handle_registration,
            "family_departures": handlers.handle_departure,
            "identity_links": handlers.handle_link,
            "identity_encodings": matching.handle_encoding,
            "encoding_blocks": matching.handle_block,
            # Read by both agents, each erasing its own state.
            "erasures": (handlers.handle_observation, handlers.handle_registration),
        }
        self.topics = {
            "observations": topics.observations,
            "education_signals": topics.education_signals,
            "family_departures": topics.family_departures,
            "concern_signals": topics.concern_signals,
            "alerts_concern": topics.alerts_concern,
            "alerts_education": topics.alerts_education,
            "deadletter": topics.deadletter,
            "encoding_blocks": topics.encoding_blocks,
            "identity_proposals": topics.identity_proposals,
        }
        self.names = {id(topic): name for name, topic in self.topics.items()}
        self.queue: collections.deque[tuple[str, bytes, bytes, float]] = collections.deque()
        self.published: list[tuple[str, bytes | None, bytes]] = []
        self.handled: list[tuple[str, bytes, bytes]] = []
        self.offset = 0
        self.shuffle = shuffle
        """With a random source, records of different keys are read in a random order (each
        key's records stay in order, as in a partition): other partitions run at other speeds."""

    def feed(self, topic: str, key: bytes, value: bytes, sent_at: float | None = None) -> None:
        """Send a record (at ``sent_at``, a POSIX time; now by the clock unless given)."""
        self.queue.append((topic, key, value, _sent(sent_at)))
        self.drain()

    def drain(self) -> None:
        while self.queue:
            topic, key, value, sent_at = self._next()
            self.offset += 1
            real = {
                "registrations": settings.topic_school_registrations,
                "education_signals": settings.topic_education_signals,
                "concern_signals": settings.topic_concern_signals,
                "observations": settings.topic_observations,
                "identity_links": settings.topic_identity_links,
                "erasures": settings.topic_erasures,
            }.get(topic, topic)
            message = SimpleNamespace(
                topic=real,
                partition=0,
                offset=self.offset,
                key=key,
                value=value,
                timestamp=sent_at,
            )
            handlers = self.handlers[topic]
            for handler in handlers if isinstance(handlers, tuple) else (handlers,):
                self._apply(handler, message)
            self.handled.append((topic, key, value))

    def _apply(self, handler: Any, message: Any) -> None:
        effects = Effects()
        handler(message, effects)
        for target, out_key, out_value in effects.sends:
            name = self.names[id(target)]
            assert name != "deadletter", "the scenario is valid: nothing is dead-lettered"
            self.published.append((name, out_key, out_value))
            if name in self.handlers:
                assert out_key is not None
                self.queue.append((name, out_key, out_value, _sent(None)))
        for table, at, written in effects.writes:
            if written is None:
                table.pop(at, None)
            else:
                table[at] = written

    def _next(self) -> tuple[str, bytes, bytes, float]:
        if self.shuffle is None:
            return self.queue.popleft()
        heads: dict[tuple[str, bytes], int] = {}
        for at, (topic, key, _, _) in enumerate(self.queue):
            heads.setdefault((topic, key), at)
        at = self.shuffle.choice(sorted(heads.values()))
        record = self.queue[at]
        del self.queue[at]
        return record

    def sweep(self) -> None:
        today = clock.today().isoformat()
        for table, topic in (
            ("child_to_deadline", "education_signals"),
            ("child_to_concern_due", "concern_signals"),
        ):
            due = sorted(k for k, when in self.tables[table].items() if when and when <= today)
            for key in due:
                self.feed(topic, key, handlers.DEADLINE_DUE)


def _sent(at: float | None) -> float:
    return clock.now().timestamp() if at is None else at
