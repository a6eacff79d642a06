"""The AsyncAPI document of the alert topics is generated, committed, and never out of date."""

from __future__ import annotations

import yaml

from safeguard.cli.contract import defaults
from schemas.contract import DOCUMENT, render
from schemas.registry import SchemaRegistry


def test_the_committed_document_is_what_the_schemas_and_settings_give_now() -> None:
    assert DOCUMENT.read_text() == render(defaults()), "run `safeguard contract`"


def test_it_names_both_alert_topics_and_every_alert_schema_version() -> None:
    doc = yaml.safe_load(DOCUMENT.read_text())
    s = defaults()
    assert doc["asyncapi"] == "3.0.0"
    assert {c["address"] for c in doc["channels"].values()} == {
        s.topic_alerts_concern,
        s.topic_alerts_education,
    }
    assert {c["bindings"]["kafka"]["partitions"] for c in doc["channels"].values()} == {
        s.topic_partitions
    }
    message = doc["components"]["messages"]["alert"]
    versions = SchemaRegistry().versions("alert")
    assert message["payload"]["schema"] == versions[-1].raw
    assert [w["fingerprint"] for w in message["x-writer-schemas"]] == [
        v.fingerprint.hex() for v in versions
    ]
