"""The layering holds at run time too: only the worker builds the Faust app."""

from __future__ import annotations

import subprocess
import sys


def test_the_command_line_producers_and_consumers_never_build_the_faust_app() -> None:
    probe = (
        "import sys\n"
        "import consumers.alert_store, consumers.dashboard.app, producers.intake\n"
        "import producers.imports, safeguard.cli, safeguard.kernel.topics\n"
        "print(sorted(m for m in ('faust', 'streams.app') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
