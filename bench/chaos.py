"""Fault injection: a generated scenario through a worker killed with SIGKILL again and again.

    make chaos                                   # 20,000 children, 15 kills
    python -m bench.chaos --children 300 --kills 3

Runs the same scenario twice against the local broker, each run with its own topics, consumer
group and state folder: once with no fault, and once with the worker killed with SIGKILL
``--kills`` times at random moments, spread over three phases (school registrations, then
observations and social care's identity links, then the education deadlines, reached by
restarting the worker with a later clock),
and restarted after each kill. Each phase ends when every input topic is consumed and stays so. Like
docker compose, the harness starts the worker again when it stops itself for a fault (exit code
70, for example its progress watchdog), and counts those restarts (``fault_exits``).

Then it compares, between the two runs: every alert version (``alert_id``, ``version``) and its
bytes on both alert topics; every dead letter; every internal signal (family departures, family
moves, identity groups; deadline signals are not compared, the sweep sends them on every tick,
nor what a merged reference sends on, which depends on what had arrived by then); the movement
observations the worker publishes; and each table's state as a restore from its changelog topic
would rebuild it (the last value of each key). It prints the figures and exits 1 on any
difference. Results go to ``bench/results/chaos-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient

from bench.chaos_outputs import FAILURES, collect, compare, end_offsets, state_differences
from producers.scenario import generate, write
from safeguard.kernel.clients import connection_options, kafka_env
from safeguard.kernel.errors import EXIT_FAULT
from safeguard.kernel.settings import Settings, load_settings
from safeguard.kernel.topics import own_topics

REPO = Path(__file__).resolve().parents[1]
KEY = b"partnership-key-for-chaos-runs-0123456789"
START = dt.date(2026, 9, 7)
#: The last day of the scenario fed. Until the imports reported their rows at the settings'
#: clock, rows dated after the real day of the run were refused as future, so every run fed the
#: timeline only up to its own day (the figures drifted with the date): this is that timeline
#: up to the end of November 2026, fixed. Fed the whole timeline (``--until 2027-05-21``), the
#: comparison is not yet exact: see the README's fault-injection section.
UNTIL = dt.date(2026, 11, 30)
#: The clock of the first two phases (the scenario's end), and of the deadline phase.
CLOCKS = ("2027-05-20T09:00:00+00:00", "2027-08-20T09:00:00+00:00")
INPUTS = (
    "OBSERVATIONS",
    "SCHOOL_REGISTRATIONS",
    "EDUCATION_SIGNALS",
    "FAMILY_DEPARTURES",
    "CONCERN_SIGNALS",
    "ALERT_ACTIONS",
    "IDENTITY_LINKS",
)


@dataclass
class Run:
    """One run's worker: its settings, its process, and how often it was killed."""

    kafka: Settings
    folder: Path
    faulty: bool
    rng: random.Random
    kills_left: dict[str, int]
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    kills: int = 0
    starts: int = 0
    fault_exits: int = 0
    """Times the worker stopped itself with exit code 70 and was started again."""

    def __post_init__(self) -> None:
        prefix = f"chaos-{uuid.uuid4().hex[:8]}"
        self.env = {
            **kafka_env(self.kafka),
            "SAFEGUARD_APP_ID": prefix,
            "SAFEGUARD_WORKER_OPS_PORT": "0",  # beside the reference run's worker
            "SAFEGUARD_DATA_DIR": str(self.folder / "data"),
            "SAFEGUARD_TOPIC_PARTITIONS": "4",
            "SAFEGUARD_WORKER_SESSION_TIMEOUT": "6",
            "SAFEGUARD_EDUCATION_SWEEP_SECONDS": "1",
            "SAFEGUARD_WORKER_STALL_SECONDS": "60",
            "SAFEGUARD_PSEUDONYM_KEY_FILE": str(self.folder / "key"),
            "SAFEGUARD_CLOCK": CLOCKS[0],
            **own_topics(prefix),
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "key").write_bytes(KEY)
        (self.folder / "key").chmod(0o600)

    def topic(self, name: str) -> str:
        return self.env[f"SAFEGUARD_TOPIC_{name}"]

    def safeguard(self, *args: str) -> None:
        result = subprocess.run(
            [sys.executable, "-m", "safeguard", *args],
            cwd=REPO,
            env={**os.environ, **self.env},
            check=False,
            capture_output=True,
        )
        if result.returncode not in (0, 1):  # import exits 1 when it rejected some rows
            raise SystemExit(f"safeguard {args[0]} failed:\n{result.stderr.decode()[-2000:]}")

    def start(self) -> None:
        log = (self.folder / "worker.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "safeguard", "worker", "-l", "info"],
            cwd=REPO,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.starts += 1

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.kills += 1
        self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self.proc = None

    def delete_topics(self) -> None:
        prefix = self.env["SAFEGUARD_APP_ID"]
        admin = KafkaAdminClient(**connection_options(self.kafka, "admin"))
        try:
            admin.delete_topics([t for t in admin.list_topics() if t.startswith(prefix)])
        finally:
            admin.close()

    def phase(self, name: str, feed: Any, *, alongside: bool = True) -> None:
        """Feed the phase's input (``alongside`` the kills, or first); kill the worker while it
        is busy, a moment after it has records waiting; then wait until all is consumed."""
        feeder = threading.Thread(target=feed)
        feeder.start()
        if not alongside:
            feeder.join()
        for _ in range(self.kills_left.get(name, 0) if self.faulty else 0):
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not (
                self.ready() and not all(self.consumed(n) for n in INPUTS)
            ):
                time.sleep(0.2)
            time.sleep(self.rng.uniform(0.2, 2.0))
            self.kill()
        feeder.join()
        while True:
            self.supervise()
            if self.settled():
                return

    def ready(self) -> bool:
        """The worker started last has finished its recovery and reads its partitions."""
        log = (self.folder / "worker.log").read_text(errors="replace")
        return log.count("[^Worker]: Ready") >= self.starts

    def supervise(self) -> None:
        """Start the worker again after it stopped itself for a fault (exit 70), as compose does."""
        if self.proc is None or self.proc.poll() is None:
            return
        if self.proc.returncode != EXIT_FAULT:
            raise SystemExit(f"the worker exited with {self.proc.returncode}; see its log")
        self.fault_exits += 1
        self.start()

    def settled(self) -> bool:
        """Every input topic consumed, and still so after a pause (outputs feed inputs)."""
        before = self.ends()
        if not all(self.consumed(name) for name in INPUTS):
            time.sleep(0.5)
            return False
        time.sleep(4)
        return self.ends() == before and all(self.consumed(name) for name in INPUTS)

    def ends(self) -> dict[str, int]:
        return {name: sum(end_offsets(self.kafka, self.topic(name)).values()) for name in INPUTS}

    def consumed(self, name: str) -> bool:
        ends = end_offsets(self.kafka, self.topic(name))
        admin = KafkaAdminClient(**connection_options(self.kafka, "admin"))
        try:
            committed = admin.list_group_offsets({self.env["SAFEGUARD_APP_ID"]: None})
        except Exception:  # a coordinator still loading means "not yet"
            return False
        finally:
            admin.close()
        offsets = committed.get(self.env["SAFEGUARD_APP_ID"], {})
        return all(
            end == 0 or (tp in offsets and offsets[tp].offset >= end) for tp, end in ends.items()
        )


def execute(run: Run, paths: dict[str, Path]) -> dict[str, Any]:
    """The three phases, then everything the run produced, in comparable form."""
    run.safeguard("topics", "create")
    run.safeguard("import", "schools", str(paths["schools"]))
    run.start()
    try:
        run.phase(
            "registrations",
            lambda: run.safeguard("import", "registrations", str(paths["registrations"])),
        )

        def observations_and_links() -> None:
            run.safeguard("import", "observations", str(paths["observations"]))
            run.safeguard("import", "links", str(paths["links"]))

        run.phase("observations", observations_and_links)

        def later() -> None:
            run.stop()
            run.env["SAFEGUARD_CLOCK"] = CLOCKS[1]
            run.start()

        run.phase("timers", later, alongside=False)
    finally:
        run.stop()
    try:
        return collect(run)
    finally:
        run.delete_topics()


def chaos(
    kafka: Settings,
    children: int,
    kills: int,
    seed: int,
    folder: Path,
    until: dt.date = UNTIL,
) -> dict[str, int]:
    """Both runs and their comparison."""
    paths = write(generate(children, seed, START, until=until), folder / "scenario")
    per_phase = {"registrations": kills // 3, "observations": kills // 3, "timers": kills // 3}
    per_phase["observations"] += kills - sum(per_phase.values())
    rng = random.Random(seed)  # noqa: S311 - when to kill, not a secret
    clean = execute(Run(kafka, folder / "clean", False, rng, {}), paths)
    faulty = execute(Run(kafka, folder / "faulty", True, rng, per_phase), paths)
    figures = compare(clean, faulty)
    if figures["state_different"]:
        differences = state_differences(clean, faulty)
        (folder / "state-differences.json").write_text(json.dumps(differences, indent=2))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--children", type=int, default=20_000)
    parser.add_argument("--kills", type=int, default=15)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--until",
        type=dt.date.fromisoformat,
        default=UNTIL,
        help="last day of the scenario fed (YYYY-MM-DD)",
    )
    args = parser.parse_args()
    kafka = load_settings()
    started = time.monotonic()
    folder = Path(tempfile.mkdtemp(prefix="chaos-"))
    figures = chaos(kafka, args.children, args.kills, args.seed, folder, args.until)
    figures["seconds"] = round(time.monotonic() - started)
    results = REPO / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%M%SZ")
    settings = {**vars(args), "until": args.until.isoformat()}
    (results / f"chaos-{stamp}.json").write_text(json.dumps({**settings, **figures}, indent=2))
    for name, value in figures.items():
        print(f"{name:<28}{value:>10}")  # noqa: T201 - the report is the output
    failed = [name for name in FAILURES if figures[name]]
    if failed:
        print(f"FAILED: {', '.join(failed)}; the workers' logs are in {folder}")  # noqa: T201
        raise SystemExit(1)
    shutil.rmtree(folder)


if __name__ == "__main__":
    main()
