from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

from producers.imports import link_from_row, observation_from_row, registration_from_row
from producers.pseudonym import Pseudonymiser, normalise
from producers.publisher import encode_link, encode_observation, encode_registration
from producers.scenario import generate, write

NOW = dt.datetime(2027, 6, 1, tzinfo=dt.UTC)  # after the last event of the scenario


def test_the_same_seed_writes_the_same_files(tmp_path: Path) -> None:
    first = write(generate(120, seed=7), tmp_path / "a")
    second = write(generate(120, seed=7), tmp_path / "b")
    other = write(generate(120, seed=8), tmp_path / "c")
    for name in first:
        assert first[name].read_bytes() == second[name].read_bytes()
    assert first["observations"].read_bytes() != other["observations"].read_bytes()


def test_every_story_appears_and_every_row_is_a_valid_event() -> None:
    scenario = generate(400, seed=1)
    assert len(scenario.profiles) == 400
    assert set(Counter(p["story"] for p in scenario.profiles)) == {
        "trafficked",
        "combined",
        "traveller_family",
        "unaccompanied_only",
        "single",
        "known_apart",
        "churn",
        "absence",
    }
    pseudonyms = Pseudonymiser(b"x" * 32)
    for row in scenario.observations:
        encode_observation(observation_from_row(row, pseudonyms, NOW))
    for row in scenario.registrations:
        encode_registration(registration_from_row(row, pseudonyms, NOW))
    identifiers = {p["identifier"] for p in scenario.profiles}
    assert len(identifiers) == 400
    assert all(i.startswith("999") and normalise("nhs", i) == i for i in identifiers)
    # A child known apart: the school's observation under the UPN, health's under the NHS
    # number, and social care's link of the two.
    apart = [p for p in scenario.profiles if p["story"] == "known_apart"]
    assert apart and all(normalise("upn", p["upn"]) == p["upn"] for p in apart)
    pupils = {p["upn"]: p["identifier"] for p in apart}
    school = [o for o in scenario.observations if o["identifier"] in pupils]
    assert {o["identifier_namespace"] for o in school} == {"upn"}
    assert {(link["a_identifier"], link["b_identifier"]) for link in scenario.links} == set(
        pupils.items()
    )
    for row in scenario.links:
        encode_link(link_from_row(row, pseudonyms, NOW))
    assert any(s["near_port_of_entry"] == "yes" for s in scenario.schools)
