"""Readiness, the operations endpoints, the request metrics and the JSON log lines."""

from __future__ import annotations

import asyncio
import json
import logging
import socket

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from safeguard.kernel import metrics, ops
from safeguard.kernel.errors import PortInUseError
from safeguard.kernel.logs import ServiceJsonFormatter, record_fields


async def passes() -> None:
    return None


async def refuses() -> None:
    raise ops.NotReady("the tables are being recovered from their changelogs")


async def breaks() -> None:
    raise ConnectionResetError("a value from the broker")


async def hangs() -> None:
    await asyncio.sleep(60)


def test_readiness_names_each_failed_check_and_never_an_exception_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ops, "CHECK_TIMEOUT", 0.1)
    checks = {"broker": passes, "tables": refuses, "database": breaks, "agents": hangs}
    ok, results = asyncio.run(ops.readiness(checks))
    assert (ok, results) == (
        False,
        {
            "broker": "ok",
            "tables": "the tables are being recovered from their changelogs",
            "database": "failed: ConnectionResetError",
            "agents": "no answer within 0s",
        },
    )
    assert metrics.ready._value.get() == 0
    assert asyncio.run(ops.readiness({"broker": passes})) == (True, {"broker": "ok"})
    assert metrics.ready._value.get() == 1


def test_the_endpoints_answer_liveness_readiness_and_metrics() -> None:
    with TestClient(ops.ops_app("worker", {"broker": passes, "tables": refuses})) as client:
        assert (client.get("/livez").status_code, client.get("/livez").text) == (200, "alive\n")
        answer = client.get("/readyz")
        assert answer.status_code == 503
        assert answer.json() == {
            "service": "worker",
            "ready": False,
            "checks": {
                "broker": "ok",
                "tables": "the tables are being recovered from their changelogs",
            },
        }
        page = client.get("/metrics")
    assert page.headers["content-type"].startswith("text/plain; version=")
    names = {f.name for f in text_string_to_metric_families(page.text)}
    assert {
        "safeguard_ready",
        "safeguard_records_processed",
        "safeguard_consumer_lag_records",
    } <= names


def test_a_port_in_use_is_refused_by_name() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(PortInUseError) as refused:
            ops.bind("127.0.0.1", port, "alert-store")
    assert str(refused.value) == (
        f"the alert-store's operations port 127.0.0.1:{port} cannot be used (Address already in "
        "use): set SAFEGUARD_ALERT_STORE_OPS_PORT to a free port"
    )
    chosen = ops.bind("127.0.0.1", 0, "worker")
    assert chosen.getsockname()[1] > 0
    chosen.close()


def test_requests_are_counted_by_route_template_never_by_path() -> None:
    async def alert(request: object) -> PlainTextResponse:
        return PlainTextResponse("an alert")

    app = Starlette(routes=[Route("/alerts/{alert_id}", alert)])
    route = "/alerts/{alert_id}"
    before = metrics.http_requests.labels("GET", route, "200")._value.get()
    with TestClient(ops.RequestMetrics(app)) as client:
        assert client.get("/alerts/a-1").status_code == 200
        assert client.get("/alerts/a-2").status_code == 200
        assert client.get("/nowhere").status_code == 404
    assert metrics.http_requests.labels("GET", route, "200")._value.get() == before + 2
    assert metrics.http_requests.labels("GET", "(unmatched)", "404")._value.get() >= 1
    families = {f.name: f for f in metrics.http_requests.collect()}
    paths = {s.labels["route"] for f in families.values() for s in f.samples}
    assert not [p for p in paths if "a-1" in p or "a-2" in p]


def test_a_json_log_line_carries_the_record_and_the_service() -> None:
    class Message:
        topic, partition, offset = "safeguarding.observations.v1", 3, 41

    record = logging.LogRecord(
        "streams.guard",
        logging.WARNING,
        __file__,
        1,
        "dead-lettered %s: %s",
        ("x@41", "E"),
        None,
    )
    for key, value in record_fields(Message()).items():
        setattr(record, key, value)
    line = json.loads(ServiceJsonFormatter(service="worker").format(record))
    assert {
        k: line[k]
        for k in ("level", "logger", "service", "message", "topic", "partition", "offset")
    } == {
        "level": "WARNING",
        "logger": "streams.guard",
        "service": "worker",
        "message": "dead-lettered x@41: E",
        "topic": "safeguarding.observations.v1",
        "partition": 3,
        "offset": 41,
    }
    assert line["time"].endswith("Z") and line["time"][10] == "T"
