"""How every agent handles one record, so that nothing is marked done that was not done.

A handler reads the record and the tables and records what it decided in ``Effects``: records to
send and table writes. ``handle`` then applies them in this order: send every record, wait until
the broker has each one (``acks=all``), and only then write the tables. Faust acknowledges the
record only after that. So a state that holds an
event (in RocksDB or its changelog) always means that event's outputs are on their topics, and a
crash at any point before that leaves nothing that the replay of the record does not redo.

What goes wrong is sorted by whether it depends on the record:

- the handler raises (a bad value, an unexpected shape, a rule that raises): the record goes to
  the dead-letter topic with the agent, the error class and a message without personal data, and
  the agent goes on. If ``worker_failure_limit`` records in a row fail with an error that is not
  a known bad-input error, the fault is not in the records: the worker stops;
- sending, waiting or writing fails (broker, table): tried again with backoff for
  ``worker_retry_seconds``, then the worker stops with exit code 70 and a clear message, without
  acknowledging the record, so its offset is never committed and the next start redoes it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from safeguard.kernel import metrics
from safeguard.kernel.errors import EXIT_FAULT, CodecError, SafeguardError
from safeguard.kernel.logs import record_fields
from schemas.dead_letter import dead_letter

log = logging.getLogger(__name__)


#: What the worker did with each record, by outcome (``dead_letter`` included).
counters: collections.Counter[str] = collections.Counter()


class HandlerError(SafeguardError):
    """A handler raised an error of a kind no bad input is expected to cause."""


@dataclass
class Effects:
    """What handling one record decided: records to send, then table writes."""

    sends: list[tuple[Any, bytes | None, bytes]] = field(default_factory=list)
    writes: list[tuple[Any, bytes, Any]] = field(default_factory=list)
    #: (kind, level) of each alert version among the sends, counted once they are sent.
    alerts: list[tuple[str, str]] = field(default_factory=list)
    #: Why the record was dead-lettered (the error's class), if it was.
    rejected: str | None = None

    def send(self, topic: Any, key: bytes | None, value: bytes) -> None:
        self.sends.append((topic, key, value))

    def alert(self, topic: Any, key: bytes, alert: dict[str, Any], encoded: bytes) -> None:
        """Send an alert version (``encoded``), counted by its kind and level once sent."""
        self.send(topic, key, encoded)
        self.alerts.append((str(alert["kind"]), str(alert["level"])))

    def write(self, table: Any, key: bytes, value: Any) -> None:
        """Set ``table[key]`` to ``value``; ``None`` removes the key."""
        self.writes.append((table, key, value))

    def read(self, table: Any, key: bytes) -> Any:
        """``table[key]`` as the writes decided so far leave it."""
        for written, at, value in reversed(self.writes):
            if written is table and at == key:
                return value
        return table.get(key)


Handler = Callable[[Any, Effects], None]


@dataclass
class Guard:
    """Runs one agent's handler over its records with the rules above."""

    agent: str
    handler: Handler
    deadletter: Any
    retry_seconds: float = 60.0
    failure_limit: int = 20
    group: str = ""
    unexpected_in_a_row: int = 0

    def __post_init__(self) -> None:
        # Shown at 0 from the start, so an alert on its rise needs no "absent" special case.
        metrics.agent_crashes.labels(self.agent)

    async def run(self, stream: Any) -> None:
        """The agent's loop: a fault that escapes it stops the worker, never only the agent.

        One record at a time: Faust acknowledges a record when the next is asked for, so only
        after ``handle`` returned, and the record is Faust's current event, whose partition
        its table writes go to. (Batches through Faust's ``take_events``, one wait for the
        broker per batch, were measured faster but lost records in ``make chaos``.)
        """
        try:
            async for event in stream.events():
                await self.handle(event.message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            fatal(f"agent {self.agent} failed outside a record: {type(exc).__name__}", exc)

    async def handle(self, message: Any) -> None:
        """Handle one record; return only when it is done (or dead-lettered) and durable."""
        deadline = time.monotonic() + self.retry_seconds
        delay = 0.2
        while True:
            effects = Effects()
            try:
                self.handler(message, effects)
            except Exception as exc:
                effects = self.reject(message, exc)
            else:
                self.unexpected_in_a_row = 0
            try:
                await apply(effects)
            except Exception as exc:
                if time.monotonic() + delay > deadline:
                    fatal(
                        f"agent {self.agent} could not complete {where(message)} for "
                        f"{self.retry_seconds:.0f}s: {type(exc).__name__}",
                        exc,
                    )
                log.warning(
                    "agent %s: %s at %s; retrying in %.1fs",
                    self.agent,
                    type(exc).__name__,
                    where(message),
                    delay,
                    extra=record_fields(message),
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            else:
                self.count(message, effects)
                return

    def count(self, message: Any, effects: Effects) -> None:
        """The metrics of a record now done: counted once, after its effects are durable."""
        outcome = "done" if effects.rejected is None else "dead_letter"
        metrics.record_done(self.group, message.topic, getattr(message, "timestamp", None), outcome)
        if effects.rejected is not None:
            metrics.dead_letters.labels(effects.rejected).inc()
        if effects.rejected == HandlerError.__name__:  # the handler's own fault
            metrics.agent_crashes.labels(self.agent).inc()
        for kind, level in effects.alerts:
            metrics.alerts_raised.labels(kind, level).inc()

    def reject(self, message: Any, exc: Exception) -> Effects:
        """The effects of a record that cannot be handled: one dead letter, nothing else."""
        if isinstance(exc, CodecError):
            error: SafeguardError = exc
        else:
            self.unexpected_in_a_row += 1
            if self.unexpected_in_a_row >= self.failure_limit:
                fatal(
                    f"agent {self.agent}: {self.failure_limit} records in a row failed with "
                    f"unexpected errors, the last {type(exc).__name__}: the fault is not in "
                    "the records",
                    exc,
                )
            # The message is withheld: an exception's text may quote a value of the record.
            error = HandlerError(f"{type(exc).__name__} raised in {_origin(exc)}")
            log.error(
                "agent %s: %s at %s",
                self.agent,
                error,
                where(message),
                exc_info=exc,
                extra=record_fields(message),
            )
        counters["dead_letter"] += 1
        # Logs name the error and field only: values may hold personal data; the DLQ keeps them.
        log.warning(
            "dead-lettered %s: %s %s",
            where(message),
            type(error).__name__,
            getattr(error, "field", ""),
            extra=record_fields(message),
        )
        effects = Effects(rejected=type(error).__name__)
        effects.send(
            self.deadletter, message.key, dead_letter(message, error, f"worker.{self.agent}")
        )
        return effects


@dataclass
class Failures:
    """A periodic job's failures in a row: logged, and fatal once they outlast the retry time."""

    job: str
    retry_seconds: float
    since: float | None = None

    def fail(self, exc: Exception) -> None:
        now = time.monotonic()
        self.since = self.since if self.since is not None else now
        if now - self.since > self.retry_seconds:
            fatal(f"{self.job} kept failing for {self.retry_seconds:.0f}s", exc)
        log.warning("%s failed (%s); trying again at the next tick", self.job, type(exc).__name__)

    def succeed(self) -> None:
        self.since = None


async def apply(effects: Effects) -> None:
    """Send, wait until every record is on the broker, then write the tables."""
    pending = [await topic.send(key=key, value=value) for topic, key, value in effects.sends]
    for fut in pending:
        await fut
    for table, key, value in effects.writes:
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value


def fatal(reason: str, exc: BaseException | None = None) -> None:
    """Stop the worker now, with exit code 70, committing nothing more."""
    log.critical("stopping the worker: %s", reason, exc_info=exc)
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stderr.flush()
    # Not sys.exit: Faust would stop gracefully and commit the offsets acknowledged so far,
    # and an exception here would only end this agent. What is not committed is redone.
    os._exit(EXIT_FAULT)


def where(message: Any) -> str:
    """``topic[partition]@offset`` of a record, for logs."""
    return f"{message.topic}[{message.partition}]@{message.offset}"


def _origin(exc: BaseException) -> str:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return "the handler"
    code = tb.tb_frame.f_code
    return f"{code.co_name} ({os.path.basename(code.co_filename)}:{tb.tb_lineno})"
