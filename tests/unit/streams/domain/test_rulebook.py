"""The rule books: every rule registered once, with its guide sentence, folded in book order."""

from __future__ import annotations

import datetime as dt

import pytest

from schemas.catalogue import LEVELS, default_catalogue
from streams.domain import concern_rules, education_rules
from streams.domain.concern_rules import assess
from streams.domain.config import default_thresholds
from streams.domain.evidence import Evidence, to_millis
from streams.domain.rulebook import Rule, RuleBook

BOOKS = (
    concern_rules.CONCERN,
    concern_rules.NOTES,
    education_rules.DEPARTURES,
    education_rules.HISTORY,
    education_rules.ADJUSTMENTS,
)


def test_every_rule_has_a_unique_id_a_level_and_the_guides_words() -> None:
    rules = [rule for book in BOOKS for rule in book.rules] + [concern_rules.ADULT]
    ids = [r.id for r in rules]
    assert sorted(ids) == sorted(set(ids))
    assert len(ids) == 14
    assert all(r.level in LEVELS and r.version >= 1 and len(r.source) > 20 for r in rules)


def test_a_second_rule_with_the_same_id_is_refused() -> None:
    book: RuleBook[object] = RuleBook("test")
    book.rule("x.one", 1, "low", "First.")(object)
    with pytest.raises(ValueError, match=r"test: two rules share the id x\.one"):
        book.rule("x.one", 2, "low", "Second.")(object)


def test_a_level_outside_the_alert_schema_is_refused() -> None:
    with pytest.raises(ValueError, match=r"rule x\.urgent: level .urgent. is not one of"):
        Rule("x.urgent", 1, "urgent", "No such level.")


def _evidence(event_id: str, agency: str, indicator: str, *, urgent: bool = False) -> Evidence:
    catalogue = default_catalogue()
    return Evidence(
        event_id,
        agency,
        f"{agency}-1",
        indicator,
        catalogue[indicator].group,
        to_millis(dt.datetime(2026, 3, 2, tzinfo=dt.UTC)),
        urgent,
        "W06000015",
    )


def test_the_decision_names_every_rule_that_fired_in_book_order() -> None:
    evidence = [
        _evidence("a", "police", "control.seen_in_inappropriate_places", urgent=True),
        _evidence("b", "health", "say_behave.mood_swings"),
        _evidence("c", "border_force", "movement.unaccompanied_travel"),
    ]
    decision = assess(evidence, default_catalogue(), default_thresholds())
    assert decision is not None
    assert decision.rule is concern_rules.immediate_risk.rule
    assert [r.id for r in decision.fired] == [
        "concern.immediate_risk",
        "concern.combined",
        "concern.context_guard",
    ]
    assert decision.reasons[-1].startswith(
        "Not counted on their own: movement.unaccompanied_travel."
    )
