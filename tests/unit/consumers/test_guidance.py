"""The guidance beside each action: one reviewed text source, checked when it is read."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumers.dashboard import actions
from safeguard.kernel.errors import ConfigError
from schemas.catalogue import ACTIONS


def test_every_recommended_action_has_its_words_and_names_who_to_call() -> None:
    guidance = actions.guidance()
    assert set(guidance.actions) == set(ACTIONS)
    assert "0800 043 4303" in guidance.describe("icta_referral", "Cardiff")
    assert guidance.describe("report_child_at_risk", "Cardiff").startswith(
        "Report the child at risk to Cardiff children's services"
    )
    assert guidance.describe("unknown_action", "Cardiff") == "unknown_action"


def test_the_guides_practice_points_are_given_first_to_the_services_they_are_for() -> None:
    guidance = actions.guidance()
    police_first, _ = guidance.points_for("nrm_referral", "police")
    school_first, school_other = guidance.points_for("nrm_referral", "school")
    assert "victim_first" in [p.id for p in police_first]
    assert "victim_first" in [p.id for p in school_other]
    assert "independent_interpreter" in [p.id for p in school_first]  # for everyone
    everyone, _ = guidance.points_for("nrm_referral", None)
    assert {p.id for p in everyone} == {
        "see_child_alone",
        "independent_interpreter",
        "safeguard_first",
    }
    ids = [p.id for p in guidance.points]
    for point in ("see_child_alone", "independent_interpreter", "do_not_alert_carers",
                  "victim_first", "private_fostering"):  # fmt: skip
        assert point in ids


def test_a_point_naming_an_unknown_action_is_refused_when_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "guidance.yaml"
    text = actions.FILE.read_text(encoding="utf-8")
    broken.write_text(text.replace("actions: [icta_referral]", "actions: [icta_referal]"))
    monkeypatch.setattr(actions, "FILE", broken)
    actions.guidance.cache_clear()
    try:
        with pytest.raises(
            ConfigError, match=r"point guardian_within_24_hours: unknown icta_referal"
        ):
            actions.guidance()
    finally:
        actions.guidance.cache_clear()
