"""The dashboard's pipeline view: "all clear" only when the worker and the store are known to
be running and keeping up."""

from __future__ import annotations

import datetime as dt

import pytest

from consumers.dashboard import pipeline
from consumers.dashboard.pipeline import NOT_YET, PipelineWatch, judge
from safeguard.kernel.lag import GroupLag
from safeguard.kernel.settings import Settings

NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
S = Settings(app_id="sg", dashboard_lag_warning=100)


def running(group: str, waiting: int = 0, members: int = 1) -> GroupLag:
    return GroupLag(group, "Stable" if members else "Empty", members, {("t", 0): waiting})


def test_all_clear_only_when_every_part_runs_and_keeps_up() -> None:
    view = judge([running("sg"), running("sg-alert-store"), running("sg-proposal-store")], S, NOW)
    assert (view.all_clear, view.problems) == (True, ())
    assert view.waiting == {
        "stream worker": 0,
        "alert store": 0,
        "alert store's proposal reader": 0,
    }


def test_a_stopped_worker_and_a_store_behind_are_each_said() -> None:
    view = judge([running("sg", 15, members=0), running("sg-alert-store", 101)], S, NOW)
    assert not view.all_clear
    assert view.problems == (
        "The stream worker is not running (15 records waiting for it): alerts may be missing or "
        "out of date.",
        "The alert store is behind: 101 records are waiting for it, so recent information may "
        "not be in these alerts yet.",
    )
    assert judge([running("sg", 100)], S, NOW).all_clear  # at the threshold: not behind


def test_an_unchecked_or_stale_view_is_never_all_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not NOT_YET.all_clear
    watch = PipelineWatch(S)
    assert watch.view is NOT_YET
    old = NOW - dt.timedelta(seconds=pipeline.STALE_AFTER + 1)
    watch._view = judge([running("sg")], S, old)
    assert watch.view.all_clear is False
    assert watch.view.problems == (
        f"The state of the pipeline is not known: it was last checked at {old:%H:%M:%S} UTC.",
    )


def test_a_broker_that_does_not_answer_is_not_known(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    async def refused(*args: object, **kwargs: object) -> list[GroupLag]:
        raise ConnectionRefusedError("127.0.0.1:9092")

    monkeypatch.setattr(pipeline, "group_lags", refused)
    watch = PipelineWatch(S)
    view = asyncio.run(watch.check())
    assert (view.known, view.all_clear) == (False, False)
    assert view.problems == (
        "The state of the pipeline is not known: the broker did not answer "
        "(ConnectionRefusedError), so alerts may be missing or out of date.",
    )
