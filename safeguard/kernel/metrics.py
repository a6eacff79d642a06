"""Every Prometheus metric the project's services export, in one place (listed in the README).

One process runs one service, so the metrics carry no service label: Prometheus adds the job and
instance of the target it scraped. No label ever holds personal data: topics, agents, error
classes, alert kinds and levels, HTTP routes (the template, not the path) and status codes.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

records_processed = Counter(
    "safeguard_records_processed",
    "Records a consumer finished with, by topic and outcome (done or dead_letter).",
    ["topic", "outcome"],
)
alerts_raised = Counter(
    "safeguard_alerts_raised",
    "Alert versions the worker sent, by kind and level.",
    ["kind", "level"],
)
dead_letters = Counter(
    "safeguard_dead_letters",
    "Records sent to the dead-letter topic, by the error that sent them there.",
    ["reason"],
)
agent_crashes = Counter(
    "safeguard_agent_crashes",
    "Records whose handler raised an error no bad input is expected to cause, by agent.",
    ["agent"],
)
consumer_lag = Gauge(
    "safeguard_consumer_lag_records",
    "Records on a partition after the consumer group's committed offset.",
    ["group", "topic", "partition"],
)
newest_event = Gauge(
    "safeguard_newest_event_timestamp_seconds",
    "Kafka timestamp (Unix seconds) of the newest record processed, by group and topic.",
    ["group", "topic"],
)
http_requests = Counter(
    "safeguard_http_requests",
    "HTTP requests answered, by method, route and status code.",
    ["method", "route", "status"],
)
http_latency = Histogram(
    "safeguard_http_request_duration_seconds",
    "Time to answer an HTTP request (for a live feed: how long it stayed open), by route.",
    ["method", "route"],
)
store_write_latency = Histogram(
    "safeguard_alert_store_write_duration_seconds",
    "Time to store one partition's batch of alerts or proposals in PostgreSQL, by topic.",
    ["topic"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
ready = Gauge(
    "safeguard_ready",
    "1 when the service's last readiness check passed, else 0.",
)


def record_done(group: str, topic: str, timestamp: float | None, outcome: str = "done") -> None:
    """Count a record as finished with (``done`` or ``dead_letter``), and move the group's
    newest-event time for its topic to the record's Kafka ``timestamp`` (Unix seconds)."""
    records_processed.labels(topic, outcome).inc()
    if timestamp is not None and timestamp > 0:
        # A replayed or late record does not move the time back.
        seconds = float(timestamp)
        if seconds > _newest.get((group, topic), 0.0):
            _newest[group, topic] = seconds
            newest_event.labels(group, topic).set(seconds)


_newest: dict[tuple[str, str], float] = {}
