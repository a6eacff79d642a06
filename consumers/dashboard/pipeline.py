"""The dashboard's view of the pipeline behind it: is anything stopping alerts from reaching it?

An empty list looks the same on a quiet day and on a day the worker is down. Every
``CHECK_SECONDS`` the dashboard asks the broker (``safeguard.kernel.lag``, as the dashboard
principal, which may describe the groups but read no record) whether the worker and the alert
store have members, and how many records wait for them. Anything wrong, or a check that cannot
be made or is out of date, is a problem, shown in a banner on every page and in place of "No open
alerts"; so the page says "all clear" only when it knows.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from consumers.dashboard.i18n import Said, translate
from safeguard.kernel.access import consumer_groups
from safeguard.kernel.clients import connection_options
from safeguard.kernel.lag import GroupLag, group_lags
from safeguard.kernel.settings import Settings

log = logging.getLogger(__name__)

#: How often the broker is asked; a view older than ``STALE_AFTER`` is not believed.
CHECK_SECONDS = 5.0
STALE_AFTER = 4 * CHECK_SECONDS + 10


@dataclass(frozen=True)
class PipelineView:
    """What the dashboard knows of the pipeline: problems, in sentences for a practitioner."""

    known: bool
    problems: tuple[str, ...]
    checked_at: dt.datetime | None = None
    waiting: dict[str, int] = field(default_factory=dict)

    @property
    def all_clear(self) -> bool:
        return self.known and not self.problems

    def as_json(self) -> dict[str, Any]:
        """For the live feed, in the reader's language."""
        return {
            "all_clear": self.all_clear,
            "known": self.known,
            "problems": [translate(p) for p in self.problems],
            "checked_at": self.checked_at.isoformat() if self.checked_at else None,
            "waiting": self.waiting,
        }


NOT_YET = PipelineView(False, (Said("The state of the pipeline has not been checked yet."),))


def judge(lags: list[GroupLag], settings: Settings, now: dt.datetime) -> PipelineView:
    """The problems ``lags`` show: a part with no member, or more than
    ``dashboard_lag_warning`` records waiting for it."""
    parts = {
        settings.app_id: Said("stream worker"),
        f"{settings.app_id}-alert-store": Said("alert store"),
        f"{settings.app_id}-proposal-store": Said("alert store's proposal reader"),
        f"{settings.app_id}-school-store": Said("alert store's school reader"),
    }
    problems: list[str] = []
    waiting = {}
    for lag in lags:
        part = parts.get(lag.group, lag.group)
        waiting[str(part)] = lag.total
        if lag.members == 0:
            problems.append(
                Said(
                    "The %(part)s is not running (%(records)s waiting for it): alerts may be "
                    "missing or out of date.",
                    part=part,
                    records=records(lag.total),
                )
            )
        elif lag.total > settings.dashboard_lag_warning:
            problems.append(
                Said(
                    "The %(part)s is behind: %(records)s are waiting for it, so recent "
                    "information may not be in these alerts yet.",
                    part=part,
                    records=records(lag.total),
                )
            )
    return PipelineView(True, tuple(problems), now, waiting)


def records(n: int) -> Said:
    return Said("1 record") if n == 1 else Said("%(n)d records", n=n)


class PipelineWatch:
    """Checks the pipeline every ``CHECK_SECONDS`` while ``run`` runs; ``view`` is the latest."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._view = NOT_YET
        self.checks = 0

    @property
    def view(self) -> PipelineView:
        seen = self._view.checked_at
        now = dt.datetime.now(dt.UTC)
        if seen is not None and (now - seen).total_seconds() > STALE_AFTER:
            return PipelineView(
                False,
                (
                    Said(
                        "The state of the pipeline is not known: it was last checked at "
                        "%(time)s UTC.",
                        time=f"{seen:%H:%M:%S}",
                    ),
                ),
                seen,
            )
        return self._view

    async def check(self) -> PipelineView:
        """Ask the broker once; a failure is itself the view (the state is not known)."""
        now = dt.datetime.now(dt.UTC)
        try:
            lags = await group_lags(
                connection_options(self.settings, "dashboard"),
                consumer_groups(self.settings),
                wait=CHECK_SECONDS,
            )
        except Exception as exc:
            log.warning("could not check the pipeline: %s", type(exc).__name__)
            self._view = PipelineView(
                False,
                (
                    Said(
                        "The state of the pipeline is not known: the broker did not answer "
                        "(%(error)s), so alerts may be missing or out of date.",
                        error=type(exc).__name__,
                    ),
                ),
                now,
            )
        else:
            self._view = judge(lags, self.settings, now)
        self.checks += 1
        return self._view

    async def run(self) -> None:
        while True:
            await self.check()
            await asyncio.sleep(CHECK_SECONDS)
