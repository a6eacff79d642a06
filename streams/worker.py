"""The worker process: every topic checked first, then Faust with the project's agents."""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

from safeguard.kernel.errors import EXIT_FAULT
from safeguard.kernel.settings import Settings
from safeguard.kernel.topics import check_topics

log = logging.getLogger(__name__)


def run(settings: Settings, loglevel: str = "info") -> None:
    """Run the worker until stopped; exits 70 for a fault that is not about one record."""
    # Every topic, Faust's changelogs included, exists with its partitions before Faust reads
    # its metadata: otherwise each agent fails for minutes on a broker new to the project.
    # The worker may not create them: the admin does (`safeguard topics create`, `infra up`).
    check_topics(settings, "worker")
    import faust
    from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
    from prometheus_client import REGISTRY

    import streams.agents  # noqa: F401 - registers the agents with the app
    from safeguard.kernel import ops
    from safeguard.kernel.logs import json_logging_config
    from streams import health
    from streams.app import app
    from streams.auth import broker_credentials

    app.conf.broker_credentials = broker_credentials(settings, "worker")
    # Bound now, so a port in use stops the worker before it joins the group.
    sock = ops.bind(settings.ops_host, settings.worker_ops_port, "worker")
    endpoints = ops.ops_app("worker", health.checks(app, settings))

    async def serve_operations_endpoints() -> None:
        await ops.serve(endpoints, sock)

    app.task(serve_operations_endpoints)
    if settings.worker_faust_metrics:
        # Faust's own sensors (messages in and out per topic, commit and send latency,
        # rebalances) join the project's metrics on the same /metrics.
        app.monitor = PrometheusMonitor(metrics=FaustMetrics.create(REGISTRY, "faust"))

    marker = Path(app.conf.appdir) / "stopped-cleanly"
    forget_state_after_an_unclean_stop(Path(app.conf.tabledir), marker)
    as_json = settings.log_format == "json"
    process = faust.Worker(
        app,
        loglevel=loglevel,
        # JSON lines only: no start-up banner on stdout either.
        quiet=as_json,
        logging_config=json_logging_config("worker", loglevel.upper()) if as_json else None,
    )
    # Faust's terminal spinner turns every logger up to DEBUG below the chosen level (so each
    # record can spin it): at -l warning every debug record would be built and dropped.
    process.spinner = None
    try:
        process.execute_from_commandline()
    except SystemExit as stop:
        if stop.code in (0, None) and getattr(app, "_crash_reason", None) is None:
            marker.write_text("")
        raise
    finally:
        # A crashed Faust service stops the worker with exit status 0: say it was a fault.
        if getattr(app, "_crash_reason", None) is not None:
            sys.stderr.write(f"error: the worker crashed: {app._crash_reason!r}\n")
            raise SystemExit(EXIT_FAULT)


def forget_state_after_an_unclean_stop(tables: Path, marker: Path) -> None:
    """Delete the local table stores unless the last run stopped cleanly.

    A worker killed, or stopped for a fault, may have written a table locally whose changelog
    record never reached the broker, while the input that caused it was not committed. Started
    on that local copy, it would handle the input again, find nothing changed, write nothing,
    and the changelog (the only copy another worker or a new disk would have) would lack the
    write for good. Rebuilt from the changelogs, the state is exactly what the broker holds,
    and the replayed input writes again whatever is missing. After a clean stop Faust has
    flushed everything, and the local stores are kept (a fast start).
    """
    clean = marker.exists()
    marker.unlink(missing_ok=True)
    if clean or not tables.exists():
        return
    log.warning(
        "the worker did not stop cleanly last time: rebuilding its state from the changelog "
        "topics instead of the local copy in %s",
        tables,
    )
    shutil.rmtree(tables)
