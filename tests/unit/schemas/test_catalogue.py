from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from safeguard.kernel.errors import SchemaError
from schemas.catalogue import CATALOGUE_FILE, Component, default_catalogue, load_catalogue


def test_catalogue_holds_every_indicator_of_the_seven_groups() -> None:
    catalogue = default_catalogue()
    indicators = {c: i for c, i in catalogue.items() if i.component is not Component.OUTCOME}
    assert len(indicators) == 120
    assert [c for c in catalogue if c not in indicators] == [
        "movement.found_safe",
        "docs.age_assessed",
    ]
    assert Counter(i.group for i in indicators.values()) == {
        "say_behave": 22,
        "physical": 14,
        "movement": 23,
        "control": 25,
        "docs": 9,
        "risk": 16,
        "health": 11,
    }


def test_context_indicators_are_exactly_the_guides_not_on_their_own_factors() -> None:
    context = {code for code, i in default_catalogue().items() if i.is_context}
    assert context == {
        "movement.unaccompanied_travel",
        "movement.travels_with_unrelated_adults",
        "risk.unaccompanied_asylum_seeking",
        "risk.migrant_or_irregular_status",
        "risk.low_education_at_risk_family",
    }


def test_immediate_risk_indicators() -> None:
    immediate = {code for code, i in default_catalogue().items() if i.immediate_risk}
    assert immediate == {
        "control.seen_in_inappropriate_places",
        "movement.missing_from_care",
        "movement.disappears_after_authority_contact",
    }


def test_an_entry_carries_group_component_observers_and_sources() -> None:
    entry = default_catalogue()["control.adult_speaks_for_child"]
    assert (entry.group, entry.component) == ("control", Component.EXPLOITATION)
    assert entry.observers == ("health", "border_force", "school", "police")
    assert entry.sources == ("STT", "NSPCC-b", "OW")
    assert entry.description.startswith("An adult insists on staying with the child")


def _broken(tmp_path: Path, old: str, new: str, count: int = 1) -> Path:
    path = tmp_path / "indicators.yaml"
    text = CATALOGUE_FILE.read_text()
    assert old in text
    path.write_text(text.replace(old, new, count))
    return path


def test_duplicate_code_is_named(tmp_path: Path) -> None:
    path = _broken(
        tmp_path,
        "code: say_behave.withholds_personal_details",
        "code: say_behave.scripted_story_matches_others",
    )
    with pytest.raises(SchemaError) as info:
        load_catalogue(path)
    assert str(info.value) == (
        "indicators.yaml: entry 2: duplicate code 'say_behave.scripted_story_matches_others'"
    )


def test_unknown_group_is_named(tmp_path: Path) -> None:
    path = _broken(tmp_path, "    group: physical\n", "    group: physicals\n")
    with pytest.raises(SchemaError) as info:
        load_catalogue(path)
    assert str(info.value) == (
        "indicators.yaml: entry 23 (physical.workplace_injury): unknown group 'physicals'"
    )


def test_unknown_component_is_named(tmp_path: Path) -> None:
    path = _broken(tmp_path, "component: concern", "component: worry")
    with pytest.raises(SchemaError) as info:
        load_catalogue(path)
    assert str(info.value) == (
        "indicators.yaml: entry 1 (say_behave.scripted_story_matches_others): "
        "'worry' is not a valid Component"
    )


def test_near_identical_codes_name_the_fact_they_share() -> None:
    catalogue = default_catalogue()
    assert catalogue["health.controlling_companion"].fact == "control.adult_speaks_for_child"
    assert catalogue["control.adult_speaks_for_child"].fact == "control.adult_speaks_for_child"
    assert catalogue["control.transported_by_others"].components == {
        Component.ACTION,
        Component.EXPLOITATION,
    }


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "    same_as: control.adult_speaks_for_child\n",
            "    same_as: control.no_such_code\n",
            "health.controlling_companion: same_as 'control.no_such_code' is not a code that "
            "stands for itself",
        ),
        (
            "    component: [action, exploitation]\n",
            "    component: [action, context]\n",
            "only action, exploitation and concern combine",
        ),
    ],
)
def test_a_bad_same_as_or_component_list_is_refused(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    with pytest.raises(SchemaError, match=re.escape(message)):
        load_catalogue(_broken(tmp_path, old, new))


def test_modelling_choices_are_marked_as_proposals_with_their_reason() -> None:
    proposals = {c: i.proposal for c, i in default_catalogue().items() if i.proposal}
    assert set(proposals) == {
        "movement.short_school_registration_then_removed",
        "movement.repeated_school_registrations",
        "docs.details_differ_between_agencies",
        "health.injury_explanation_inconsistent",
        "health.repeat_unscheduled_attendances",
        "movement.found_safe",
        "docs.age_assessed",
    }
    assert all(len(why or "") > 20 for why in proposals.values())
