"""A synthetic, realistic multi-agency timeline, deterministic for a seed.

``safeguard scenario generate`` writes the import formats (``schools.csv``, ``observations.csv``,
``registrations.csv``, ``links.csv``) and ``profiles.csv`` (each child's story, to check what was
raised). Every identifier is synthetic: NHS numbers from the 999 test range, with valid check
digits, and UPNs whose digits start 999, with valid check letters.

Stories, by share of children:

* ``trafficked`` — on a school roll for a term or longer (often near a port), then gone with no
  known destination; health sees an adult who speaks for the child and police see long working
  hours; some are found in an exploitative setting (immediate risk).
* ``combined`` — two agencies each see one ordinary indicator.
* ``traveller_family`` — siblings of a travelling family leave school together (benign).
* ``unaccompanied_only`` — border force sees a child travelling alone, nothing else (benign).
* ``single`` — one ordinary indicator from one agency (benign on its own).
* ``known_apart`` — the school knows the pupil by the UPN and sees one indicator, health knows
  the NHS number and sees another; only social care's link (``links.csv``) makes them one child.
* ``churn`` — registered at three schools in a few months (registration churn).
* ``absence`` — a run of unauthorised absence (10-25 school days).

Apart from ``known_apart``, agencies use the NHS number, so one child's events share a pseudonym.
Children known by no shared identifier at all, with the errors real records have, are
``producers.identities`` (for measuring linkage).
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from producers.imports import LINK_COLUMNS
from producers.pseudonym import upn_check_letter
from safeguard.kernel.errors import InvalidRecordError
from schemas.catalogue import Component, default_catalogue

STORIES = (
    ("trafficked", 0.15),
    ("combined", 0.15),
    ("traveller_family", 0.10),
    ("unaccompanied_only", 0.10),
    ("single", 0.25),
    ("known_apart", 0.10),
    ("churn", 0.10),
    ("absence", 0.10),
)
# (local authority, name, has a port of entry)
AREAS = (
    ("W06000001", "Isle of Anglesey", True),
    ("W06000009", "Pembrokeshire", True),
    ("W06000015", "Cardiff", True),
    ("W06000011", "Swansea", False),
    ("W06000024", "Merthyr Tydfil", False),
)
HEALTH = {
    "W06000001": "hb-betsi-cadwaladr",
    "W06000009": "hb-hywel-dda",
    "W06000015": "hb-cardiff-vale",
    "W06000011": "hb-swansea-bay",
    "W06000024": "hb-cwm-taf",
}
POLICE = {
    "W06000001": "north-wales",
    "W06000009": "dyfed-powys",
    "W06000015": "south-wales",
    "W06000011": "south-wales",
    "W06000024": "south-wales",
}


@dataclass
class Scenario:
    schools: list[dict[str, str]] = field(default_factory=list)
    observations: list[dict[str, str]] = field(default_factory=list)
    registrations: list[dict[str, str]] = field(default_factory=list)
    profiles: list[dict[str, str]] = field(default_factory=list)
    links: list[dict[str, str]] = field(default_factory=list)
    """Social care's statements that a child's UPN and NHS number are one child."""


MAX_CHILDREN = 450_000


def nhs_number(n: int) -> str:
    """A synthetic NHS number in the 999 test range with a valid check digit, unique for n.

    Bodies 2n and 2n+1 differ by one in the last weighted digit, so at most one of them has no
    valid check digit (remainder 10): one of the pair always works.
    """
    for body in (f"999{2 * n:06d}", f"999{2 * n + 1:06d}"):
        total = sum(int(d) * w for d, w in zip(body, range(10, 1, -1), strict=True))
        check = (11 - total % 11) % 11
        if check != 10:
            return body + str(check)
    raise AssertionError("unreachable: one of two neighbouring bodies is always valid")


def upn_for(n: int) -> str:
    """A synthetic Unique Pupil Number with a valid check letter, unique for n (the first
    digits 999 mark it as synthetic)."""
    body = f"999{n:09d}"
    return upn_check_letter(body) + body


class _Builder:
    def __init__(self, seed: int, start: dt.date) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - synthetic data, not security
        self.start = start
        self.scenario = Scenario()
        self.serial = 0
        catalogue = default_catalogue()
        self.ordinary = sorted(
            code
            for code, i in catalogue.items()
            if i.component is Component.CONCERN and not i.immediate_risk
        )
        for la, area, port in AREAS:
            for n in range(4):
                self.scenario.schools.append(
                    {
                        "school_id": f"66{AREAS.index((la, area, port)):02d}{n:03d}",
                        "name": f"{area} school {n + 1}",
                        "local_authority": la,
                        "near_port_of_entry": "yes" if port and n == 0 else "no",
                    }
                )

    def when(self, day: int, hour: int = 10) -> str:
        moment = dt.datetime.combine(self.start + dt.timedelta(days=day), dt.time(hour), dt.UTC)
        return moment.isoformat()

    def date(self, day: int) -> str:
        return (self.start + dt.timedelta(days=day)).isoformat()

    def observe(
        self, nhs: str, indicator: str, agency: tuple[str, str], la: str, day: int, **extra: str
    ) -> None:
        self.scenario.observations.append(
            {
                "identifier_namespace": extra.get("namespace", "nhs"),
                "identifier": nhs,
                "indicator": indicator,
                "agency_type": agency[0],
                "agency_id": agency[1],
                "observed_at": self.when(day, self.rng.randint(8, 22)),
                "local_authority": la,
                "immediate_risk": extra.get("immediate_risk", "no"),
            }
        )

    def register(self, nhs: str, school: dict[str, str], kind: str, day: int, **extra: str) -> None:
        self.scenario.registrations.append(
            {
                "identifier_namespace": "nhs",
                "identifier": nhs,
                "school_id": school["school_id"],
                "local_authority": school["local_authority"],
                "kind": kind,
                "effective_date": self.date(day),
                "destination_school_id": extra.get("destination_school_id", ""),
                "absence_school_days": extra.get("absence_school_days", ""),
                "family_identifier": extra.get("family_identifier", ""),
                "family_travelling": extra.get("family_travelling", "no"),
            }
        )

    def child(self, story: str) -> str:
        self.serial += 1
        nhs = nhs_number(self.serial)
        self.scenario.profiles.append({"identifier": nhs, "story": story, "upn": ""})
        return nhs

    def school(self, la: str | None = None) -> dict[str, str]:
        options = [s for s in self.scenario.schools if la is None or s["local_authority"] == la]
        return self.rng.choice(options)

    def story(self, story: str) -> int:
        """Add one story; return how many children it used."""
        rng = self.rng
        day = rng.randint(0, 40)
        la = rng.choice(AREAS)[0]
        if story == "trafficked":
            nhs = self.child(story)
            school = self.school(la)
            left = day + rng.randint(100, 180)  # "a term or longer", then moved on
            self.register(nhs, school, "registered", day)
            self.register(nhs, school, "deregistered", left)
            self.observe(nhs, "health.controlling_companion", ("health", HEALTH[la]), la, left + 2)
            if rng.random() < 0.3:
                self.observe(
                    nhs,
                    "control.seen_in_inappropriate_places",
                    ("police", POLICE[la]),
                    la,
                    left + 10,
                    immediate_risk="yes",
                )
            else:
                self.observe(
                    nhs, "control.long_working_hours", ("police", POLICE[la]), la, left + 10
                )
            return 1
        if story == "known_apart":
            # The school knows the pupil by the UPN, health by the NHS number: apart, each has
            # one indicator; social care's record holds both, and its link makes one child.
            nhs = self.child(story)
            pupil = upn_for(self.serial)
            self.scenario.profiles[-1]["upn"] = pupil
            first, second = rng.sample(self.ordinary, 2)
            school_id = self.school(la)["school_id"]
            self.observe(pupil, first, ("school", school_id), la, day, namespace="upn")
            self.observe(nhs, second, ("health", HEALTH[la]), la, day + rng.randint(1, 30))
            self.scenario.links.append(
                {
                    "a_namespace": "upn",
                    "a_identifier": pupil,
                    "b_namespace": "nhs",
                    "b_identifier": nhs,
                    "basis": "shared_record",
                    "agency_type": "social_care",
                    "agency_id": f"sc-{la}",
                    "stated_at": self.when(day + 31),
                }
            )
            return 1
        if story == "combined":
            nhs = self.child(story)
            first, second = rng.sample(self.ordinary, 2)
            self.observe(nhs, first, ("school", self.school(la)["school_id"]), la, day)
            self.observe(nhs, second, ("health", HEALTH[la]), la, day + rng.randint(1, 30))
            return 1
        if story == "traveller_family":
            family = f"family-{self.serial}"
            school = self.school(la)
            for sibling in range(2):
                nhs = self.child(story)
                self.register(nhs, school, "registered", day)
                self.register(
                    nhs,
                    school,
                    "deregistered",
                    day + 80 + sibling,
                    family_identifier=family,
                    family_travelling="yes",
                )
            return 2
        if story == "unaccompanied_only":
            nhs = self.child(story)
            self.observe(
                nhs,
                "movement.unaccompanied_travel",
                ("border_force", "bf-holyhead"),
                "W06000001",
                day,
            )
            return 1
        if story == "single":
            nhs = self.child(story)
            agency = rng.choice(
                [
                    ("school", self.school(la)["school_id"]),
                    ("health", HEALTH[la]),
                    ("police", POLICE[la]),
                ]
            )
            self.observe(nhs, rng.choice(self.ordinary), agency, la, day)
            return 1
        if story == "churn":
            nhs = self.child(story)
            schools = rng.sample(self.scenario.schools, 3)
            for n, school in enumerate(schools):
                self.register(nhs, school, "registered", day + 70 * n)
                if n < 2:
                    self.register(
                        nhs,
                        school,
                        "deregistered",
                        day + 70 * n + 65,
                        destination_school_id=schools[n + 1]["school_id"],
                    )
            return 1
        nhs = self.child("absence")
        school = self.school(la)
        self.register(nhs, school, "registered", day)
        self.register(
            nhs,
            school,
            "continuous_absence",
            day + 40,
            absence_school_days=str(rng.randint(10, 25)),
        )
        return 1


def generate(
    children: int,
    seed: int,
    start: dt.date = dt.date(2026, 9, 7),
    until: dt.date | None = None,
) -> Scenario:
    if children > MAX_CHILDREN:
        raise InvalidRecordError(
            f"children: {children} is more than the {MAX_CHILDREN} synthetic NHS numbers the "
            "999 test range holds",
            field="children",
            value=children,
        )
    builder = _Builder(seed, start)
    names = [name for name, _ in STORIES]
    weights = [share for _, share in STORIES]
    made = 0
    while made < children:
        story = builder.rng.choices(names, weights)[0]
        if story == "traveller_family" and children - made < 2:
            story = "single"
        made += builder.story(story)
    scenario = builder.scenario
    if until is not None:  # what has not happened yet is not written
        last = until.isoformat()
        scenario.observations = [o for o in scenario.observations if o["observed_at"][:10] <= last]
        scenario.registrations = [r for r in scenario.registrations if r["effective_date"] <= last]
        scenario.links = [link for link in scenario.links if link["stated_at"][:10] <= last]
    return scenario


def write(scenario: Scenario, folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in ("schools", "observations", "registrations", "profiles", "links"):
        rows: list[dict[str, Any]] = getattr(scenario, name)
        path = folder / f"{name}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            if rows or name == "links":
                columns = list(rows[0]) if rows else [*LINK_COLUMNS, "stated_at"]
                writer = csv.DictWriter(handle, fieldnames=columns)
                writer.writeheader()
                writer.writerows(rows)
        paths[name] = path
    return paths
