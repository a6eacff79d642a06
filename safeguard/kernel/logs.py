"""One log format for every service: text for people (the default), or JSON lines
(``SAFEGUARD_LOG_FORMAT=json``).

JSON lines come from python-json-logger: ``time`` (UTC, ISO 8601), ``level``, ``logger``,
``service``, ``message``, and, where the line is about one record, ``topic``, ``partition``,
``offset`` and ``event_id``; an exception's traceback is in ``exc_info``. No line carries a
child's reference or any value of a record: the project logs ids of events and alerts only.
"""

from __future__ import annotations

import logging
import logging.config
import sys
from typing import Any

from pythonjsonlogger.json import JsonFormatter

#: The fields of a record that a line about it carries (``extra=record_fields(message)``).
RECORD_FIELDS = ("topic", "partition", "offset", "event_id")

#: The Kafka clients log every connection at INFO; only their warnings help an operator.
NOISY = ("kafka", "aiokafka")


class ServiceJsonFormatter(JsonFormatter):
    """python-json-logger's formatter with the project's field names and the service's name."""

    def __init__(self, service: str = "safeguard", **kwargs: Any) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            datefmt="%Y-%m-%dT%H:%M:%S%z",
            static_fields={"service": service},
            **kwargs,
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        import datetime as dt

        moment = dt.datetime.fromtimestamp(record.created, dt.UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def json_logging_config(service: str, level: int | str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` that writes JSON lines to stderr (Faust takes it too)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": ServiceJsonFormatter, "service": service}},
        "handlers": {
            "json": {"class": "logging.StreamHandler", "formatter": "json", "stream": sys.stderr}
        },
        "root": {"level": level, "handlers": ["json"]},
        "loggers": {name: {"level": "WARNING"} for name in NOISY},
    }


def configure_json(service: str, level: int | str = logging.INFO) -> None:
    """Replace every root handler with one writing JSON lines to stderr."""
    logging.root.handlers.clear()
    logging.config.dictConfig(json_logging_config(service, level))


def record_fields(message: Any) -> dict[str, Any]:
    """``extra`` for a log line about one Kafka record: its topic, partition and offset."""
    return {
        "topic": getattr(message, "topic", None),
        "partition": getattr(message, "partition", None),
        "offset": getattr(message, "offset", None),
    }
