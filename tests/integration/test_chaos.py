"""The worker killed with SIGKILL in every phase produces exactly what a fault-free run does.

A smaller version of ``make chaos`` (``bench.chaos``): 200 children and 6 kills, instead of
20,000 and 15.
"""

from __future__ import annotations

from pathlib import Path

from bench.chaos import chaos
from bench.chaos_outputs import FAILURES
from safeguard.kernel.settings import Settings


def test_a_worker_killed_again_and_again_gives_what_a_fault_free_run_gives(
    kafka: Settings, tmp_path: Path
) -> None:
    figures = chaos(kafka, children=200, kills=6, seed=11, folder=tmp_path)
    assert {name: figures[name] for name in FAILURES} == dict.fromkeys(FAILURES, 0), figures
    assert figures["kills"] == 6
    # What was compared, from the fault-free run of this seed's scenario: alert versions of
    # both kinds, family and concern signals, movement observations and the tables' keys.
    assert [figures[k] for k in ("versions_expected", "signals_expected")] == [77, 138], figures
    assert [figures[k] for k in ("movements_expected", "state_keys")] == [27, 419], figures
