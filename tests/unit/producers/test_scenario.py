from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

from producers.imports import observation_from_row, registration_from_row
from producers.pseudonym import Pseudonymiser, normalise
from producers.publisher import encode_observation, encode_registration
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
    assert any(s["near_port_of_entry"] == "yes" for s in scenario.schools)
