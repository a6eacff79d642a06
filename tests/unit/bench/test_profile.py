from __future__ import annotations

from pathlib import Path

import pytest

from bench.profile import summarise

ROOT = "main (safeguard/cli.py:1)"
AGENT = f"{ROOT};aggregate (streams/agents.py:82)"
LOOP = f"{ROOT};run (asyncio/events.py:80)"
STACKS = f"""\
{LOOP};select (selectors.py:468) 30
{AGENT};process_observation (streams/agents.py:88);decode (schemas/codec.py:108) 20
{AGENT};process_observation (streams/agents.py:97);_set (faust/stores/rocksdb.py:480) 25
{LOOP};send (aiokafka/producer/sender.py:288) 15
{LOOP};_c_aiter (faust/streams.py:1180) 5
{ROOT};makeRecord (logging/__init__.py:1601) 5
"""


def test_samples_are_charged_to_the_innermost_frames_code(tmp_path: Path) -> None:
    path = tmp_path / "worker.stacks"
    path.write_text(STACKS)
    summary = summarise(path, top=2)
    assert summary == {
        "samples": 100,
        "by_category_pct": {
            "waiting for I/O (epoll)": 30.0,
            "Faust and mode": 30.0,  # faust/streams.py is Faust's, not the worker's streams/
            "worker code (streams/, schemas/)": 20.0,
            "Kafka client (aiokafka)": 15.0,
            "other (logging, json, stdlib)": 5.0,
        },
        "in_per_record_functions_pct": 45.0,
        "top_leaf_frames_pct": {
            "select (selectors.py:468)": 30.0,
            "_set (faust/stores/rocksdb.py:480)": 25.0,
        },
    }


def test_an_empty_profile_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.stacks"
    path.write_text("")
    with pytest.raises(ValueError, match=r"empty\.stacks: no samples"):
        summarise(path)
