"""The worker's readiness: the broker answers, every agent runs, and its partitions are its own.

Served with its liveness and metrics on ``SAFEGUARD_WORKER_OPS_PORT`` (``safeguard.kernel.ops``).
Ready means: the broker answers a metadata request; no agent has crashed; the consumer has an
assignment and is not rebalancing; and the tables are recovered from their changelogs (until
then the worker processes nothing, however healthy it looks).
"""

from __future__ import annotations

from typing import Any

from safeguard.kernel.ops import BrokerCheck, Check, NotReady
from safeguard.kernel.settings import Settings


def checks(app: Any, settings: Settings) -> dict[str, Check]:
    """The worker's readiness checks, by name."""

    async def agents() -> None:
        if getattr(app, "_crash_reason", None) is not None:
            raise NotReady("the worker crashed and is stopping")
        down = sorted(
            name.rsplit(".", 1)[-1]
            for name, agent in app.agents.items()
            if not agent.started or agent.crashed
        )
        if down:
            raise NotReady(f"agents not running: {', '.join(down)}")

    async def assignment() -> None:
        consumer = getattr(app, "_consumer", None)
        if consumer is None or not app.started:
            raise NotReady("the worker is starting")
        if app.rebalancing:
            raise NotReady("the consumer group is rebalancing")
        if not app.tables.recovery.completed.is_set():
            raise NotReady("the tables are being recovered from their changelogs")
        if not app.flow_control.is_active():
            raise NotReady("the consumer is paused (rebalance or recovery)")
        if not consumer.assignment():
            raise NotReady(
                "this worker has no partitions (waiting for an assignment, or more workers "
                "than partitions)"
            )

    return {"broker": BrokerCheck(settings, "worker"), "agents": agents, "assignment": assignment}
