"""The progress watchdog's judgement, without a broker."""

from __future__ import annotations

from aiokafka import TopicPartition

from streams.watchdog import Progress

TP = TopicPartition("observations", 3)


def test_a_partition_with_records_waiting_that_does_not_move_is_stalled() -> None:
    progress = Progress(stall_seconds=60)
    assert progress.check({TP: 100}, {TP: 160}, now=0) == []
    assert progress.check({TP: 100}, {TP: 180}, now=59) == []
    assert progress.check({TP: 100}, {TP: 180}, now=61) == [
        "observations[3] is 80 records behind and its committed offset 100 has not moved for 61s"
    ]


def test_a_partition_that_moves_or_has_nothing_waiting_is_not_stalled() -> None:
    progress = Progress(stall_seconds=60)
    for now, done in enumerate(range(0, 1000, 10)):
        assert progress.check({TP: done}, {TP: 2000}, now=now * 30) == []
    idle = Progress(stall_seconds=60)
    assert idle.check({TP: 500}, {TP: 500}, now=0) == []
    assert idle.check({TP: 500}, {TP: 500}, now=600) == []


def test_a_partition_given_away_and_back_starts_its_clock_again() -> None:
    progress = Progress(stall_seconds=60)
    progress.check({TP: 100}, {TP: 160}, now=0)
    progress.check({}, {}, now=30)
    assert progress.check({TP: 100}, {TP: 160}, now=70) == []
