"""The contract for consumers of the alert topics: an AsyncAPI 3.0 document, generated.

``safeguard contract`` writes ``schemas/asyncapi.yaml`` from the Avro schemas in this folder and
the topic settings (``safeguard.kernel.topics``); ``safeguard contract --check`` (and a unit test)
fails when the committed document differs from what they give now, so it cannot drift. A third
party builds its own dashboard from it alone: the topics, their keys, partitions and settings,
the wire format, and every alert schema version (a reader resolves older writers' records into
the newest, by the fingerprint each record carries).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from safeguard.kernel.settings import Settings
from safeguard.kernel.topics import topic_specs
from schemas.registry import SCHEMA_DIR, SchemaRegistry

DOCUMENT = SCHEMA_DIR / "asyncapi.yaml"
AVRO = "application/vnd.apache.avro+json;version=1.9.0"

WIRE = (
    "Avro single-object encoding: the two bytes C3 01, the 8-byte little-endian CRC-64-AVRO "
    "fingerprint of the writer schema's Parsing Canonical Form, then the Avro binary body. "
    "Apache Avro's BinaryMessageDecoder reads it (add every version below as a writer schema "
    "and read into the newest). Records of one child are in order on one partition; an alert "
    "may be delivered more than once after a fault: keep the highest version of each alert_id."
)


def document(settings: Settings, registry: SchemaRegistry | None = None) -> dict[str, Any]:
    """The AsyncAPI document for the alert topics under ``settings``."""
    registry = registry or SchemaRegistry()
    specs = topic_specs(settings)
    versions = registry.versions("alert")
    newest = versions[-1]
    topics = {
        "concernAlerts": (
            settings.topic_alerts_concern,
            "Combined-concern alerts: several agencies' indicators about one child.",
        ),
        "educationAlerts": (
            settings.topic_alerts_education,
            "Missing-from-education alerts: a child's school registrations, and their absence.",
        ),
    }
    channels = {}
    operations = {}
    for key, (topic, what) in topics.items():
        spec = specs[topic]
        config: dict[str, Any] = {"cleanup.policy": [spec.config.get("cleanup.policy", "delete")]}
        if "retention.ms" in spec.config:
            config["retention.ms"] = int(spec.config["retention.ms"])
        channels[key] = {
            "address": topic,
            "description": what,
            "messages": {"alert": {"$ref": "#/components/messages/alert"}},
            "bindings": {
                "kafka": {
                    "topic": topic,
                    "partitions": spec.partitions,
                    "replicas": settings.topic_replication_factor,
                    "topicConfiguration": config,
                    "bindingVersion": "0.5.0",
                }
            },
        }
        operations[f"receive{key[0].upper()}{key[1:]}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{key}"},
            "summary": f"Read {topic}.",
            "messages": [{"$ref": f"#/channels/{key}/messages/alert"}],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "safeguard-stream alert topics",
            "version": f"alert.v{newest.version}",
            "description": (
                "Alerts about children who may be trafficked, raised by the safeguard-stream "
                "worker from several agencies' observations. Every alert carries its evidence, "
                "reasons and the actions the All Wales Practice Guide gives. " + WIRE
            ),
        },
        "defaultContentType": "application/octet-stream",
        "servers": {
            "partnership": {
                "host": settings.kafka_servers,
                "protocol": "kafka-secure",
                "description": (
                    "The partnership's broker: TLS, and SCRAM-SHA-512 as a principal the "
                    "administrator gives READ on the alert topics."
                ),
                "security": [{"$ref": "#/components/securitySchemes/scram"}],
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": {
                "alert": {
                    "name": "alert",
                    "title": f"Alert (schema {newest.name})",
                    "contentType": "application/octet-stream",
                    "description": WIRE,
                    "payload": {"schemaFormat": AVRO, "schema": newest.raw},
                    "bindings": {
                        "kafka": {
                            "key": {
                                "type": "string",
                                "description": "The child's reference (child_ref), UTF-8.",
                            },
                            "bindingVersion": "0.5.0",
                        }
                    },
                    "x-writer-schemas": [
                        {
                            "name": v.name,
                            "fingerprint": v.fingerprint.hex(),
                            "file": v.path.name,
                        }
                        for v in versions
                    ],
                }
            },
            "securitySchemes": {
                "scram": {"type": "scramSha512", "description": "SASL SCRAM over TLS."}
            },
        },
    }


def render(settings: Settings) -> str:
    head = "# Generated by `safeguard contract` from the Avro schemas and topic settings.\n"
    return head + yaml.safe_dump(document(settings), sort_keys=False, width=100)


def write(settings: Settings, path: Path = DOCUMENT) -> bool:
    """Write the document; True if it changed."""
    text = render(settings)
    if path.exists() and path.read_text() == text:
        return False
    path.write_text(text)
    return True
