"""The worker process: every topic checked first, then Faust with the project's agents."""

from __future__ import annotations

import sys

from safeguard.kernel.errors import EXIT_FAULT
from safeguard.kernel.settings import Settings
from safeguard.kernel.topics import ensure_topics


def run(settings: Settings, loglevel: str = "info") -> None:
    """Run the worker until stopped; exits 70 for a fault that is not about one record."""
    # Every topic, Faust's changelogs included, exists with its partitions before Faust reads
    # its metadata: otherwise each agent fails for minutes on a broker new to the project.
    ensure_topics(settings)
    import faust

    import streams.agents  # noqa: F401 - registers the agents with the app
    from streams.app import app

    process = faust.Worker(app, loglevel=loglevel)
    # Faust's terminal spinner turns every logger up to DEBUG below the chosen level (so each
    # record can spin it): at -l warning every debug record would be built and dropped.
    process.spinner = None
    try:
        process.execute_from_commandline()
    finally:
        # A crashed Faust service stops the worker with exit status 0: say it was a fault.
        if getattr(app, "_crash_reason", None) is not None:
            sys.stderr.write(f"error: the worker crashed: {app._crash_reason!r}\n")
            raise SystemExit(EXIT_FAULT)
