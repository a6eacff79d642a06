"""The topic list and its checks, without a broker."""

from __future__ import annotations

import pytest

from safeguard.kernel.errors import ConfigError
from safeguard.kernel.settings import Settings
from safeguard.kernel.topics import TABLES, check_partitions, topic_specs


def test_every_table_changelog_and_the_leader_topic_are_created_with_the_project() -> None:
    specs = topic_specs(Settings(app_id="app", topic_partitions=6))
    changelogs = {f"app-{table}-changelog" for table in TABLES}
    assert changelogs <= set(specs)
    # What an erasure overwrites leaves the changelog within a week.
    week = str(7 * 86_400_000)
    config = {"cleanup.policy": "compact", "max.compaction.lag.ms": week}
    assert all(specs[name].config == config for name in changelogs)
    per_child = changelogs - {"app-identity_graph-changelog"}
    assert all(specs[name].partitions == 6 for name in per_child)
    # The identity graph is applied in one order: its topic and changelog have one partition.
    assert specs["app-identity_graph-changelog"].partitions == 1
    assert specs["safeguarding.identity-links.v1"].partitions == 1
    assert specs["app-__assignor-__leader"].partitions == 1


def test_source_topics_keep_more_than_the_lookback_and_dead_letters_thirty_days() -> None:
    specs = topic_specs(Settings())
    day = 86_400_000
    assert specs["safeguarding.observations.v1"].config == {"retention.ms": str(400 * day)}
    assert specs["safeguarding.school-registrations.v1"].config == {"retention.ms": str(400 * day)}
    assert specs["safeguarding.deadletter.v1"].config == {"retention.ms": str(30 * day)}
    # An erasure stands as long as the records it stands against.
    assert specs["safeguarding.erasures.v1"].config == {"retention.ms": str(400 * day)}


def test_the_tables_are_the_apps_tables() -> None:
    import streams.agents  # noqa: F401 - registers the tables
    from streams.app import app

    assert set(app.tables) == set(TABLES)


def test_a_changelog_with_another_partition_count_names_both_topics() -> None:
    s = Settings(app_id="app", topic_partitions=8)
    specs = topic_specs(s)
    counts = {name: spec.partitions for name, spec in specs.items()}
    counts["app-child_to_evidence-changelog"] = 4
    with pytest.raises(ConfigError) as caught:
        check_partitions(specs, counts, s)
    assert str(caught.value) == (
        "topic app-child_to_evidence-changelog has 4 partitions but "
        "safeguarding.observations.v1 has 8: topics keyed by child must have the same count "
        "(SAFEGUARD_TOPIC_PARTITIONS=8); recreate one of them"
    )


def test_a_retention_shorter_than_the_lookback_is_refused() -> None:
    from safeguard.kernel.settings import load_settings

    with pytest.MonkeyPatch.context() as env:
        env.setenv("SAFEGUARD_SOURCE_RETENTION_DAYS", "200")
        with pytest.raises(ConfigError) as caught:
            load_settings()
    assert str(caught.value) == (
        "invalid setting: SAFEGUARD_SOURCE_RETENTION_DAYS=200 must be more than "
        "SAFEGUARD_LOOKBACK_DAYS=365: a replay of the source topics must see the whole look-back"
    )
