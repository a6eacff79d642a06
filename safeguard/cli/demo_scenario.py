"""The demo's data: a generated scenario, and this morning's police reports, published through
the same importers an agency uses."""

from __future__ import annotations

import csv
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from producers.imports import OBSERVATION_COLUMNS
from producers.scenario import POLICE
from safeguard.kernel.errors import SafeguardError


class DemoError(SafeguardError):
    """A part of the demo did not start."""


def publish_scenario(folder: Path, env: dict[str, str], children: int, seed: int) -> None:

    subprocess.run(  # noqa: S603 - the project's own command
        [
            sys.executable,
            "-m",
            "safeguard",
            "scenario",
            "generate",
            "--children",
            str(children),
            "--seed",
            str(seed),
            "--out",
            str(folder / "scenario"),
            "--start",
            # The longest story spans about 250 days: start that long ago, so nothing is future.
            (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=250)).isoformat(),
        ],
        check=True,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
    )
    _todays_reports(folder / "scenario")
    for kind in ("schools", "registrations", "observations", "links", "today"):
        result = subprocess.run(  # noqa: S603 - the project's own command
            [
                sys.executable,
                "-m",
                "safeguard",
                "import",
                "observations" if kind == "today" else kind,
                str(folder / "scenario" / f"{kind}.csv"),
            ],
            env={**os.environ, **env},
            check=False,
        )
        if result.returncode not in (0, 1):  # 1: some rows rejected, the rest published
            raise DemoError(f"importing {kind} failed (exit {result.returncode})")


def _todays_reports(folder: Path) -> None:
    """``today.csv``: the police find two of the trafficked children in an exploitative setting
    this morning, so the demo shows what a live immediate-risk report raises (the scenario's own
    reports are weeks old by now, and their immediate risk has passed)."""
    with (folder / "profiles.csv").open(newline="") as handle:
        trafficked = [r["identifier"] for r in csv.DictReader(handle) if r["story"] == "trafficked"]
    with (folder / "observations.csv").open(newline="") as handle:
        area = {r["identifier"]: r["local_authority"] for r in csv.DictReader(handle)}
    morning = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=2)
    with (folder / "today.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*OBSERVATION_COLUMNS, "immediate_risk"])
        for nhs in [n for n in trafficked if n in area][:2]:
            la = area[nhs]
            writer.writerow(
                [
                    "nhs",
                    nhs,
                    "control.seen_in_inappropriate_places",
                    "police",
                    POLICE[la],
                    morning.isoformat(),
                    la,
                    "yes",
                ]
            )
