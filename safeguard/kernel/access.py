"""Who may do what on Kafka: each principal's ACLs, derived from the topic settings.

The local broker denies everything that no ACL allows (``allow.everyone.if.no.acl.found=false``);
``admin`` and the broker itself are its super users. ``grant`` writes these ACLs (creating one
that exists is a no-op), so ``safeguard topics create`` leaves every topic it makes readable and
writable by exactly the parts that need it:

- importers and the intake write only the input topics; the dashboard writes only practitioners'
  actions and confirmed identity links;
- only the worker reads the inputs and writes the alerts, the proposals, the internal topics,
  the movement observations it finds in school records, and its own changelogs (topics named
  ``<app id>-...``, which it may create, as Faust does);
- erasures are written by ``admin`` only (``safeguard erase``) and read by the worker;
- the alert store reads only the alerts, the proposals and the schools' reference data;
- the dead-letter topic is written by the worker and the alert store and read by ``admin`` only
  (a dead letter may hold anything a sender put in a record);
- the dashboard may describe the consumer groups of ``consumer_groups`` and their topics (their
  members and committed offsets, never a record), for its pipeline banner.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from safeguard.kernel.clients import Principal
from safeguard.kernel.errors import ServiceTimeoutError
from safeguard.kernel.settings import Settings

#: The alert store's consumer groups are ``<app id>-<name>``, one per consumer in it.
ALERT_STORE_CONSUMERS = ("alert-store", "proposal-store", "school-store")


@dataclass(frozen=True)
class Grant:
    """One permission: ``principal`` may ``operation`` the ``kind`` resource ``name``
    (``prefixed``: every resource whose name starts with it)."""

    principal: Principal
    kind: str  # topic, group
    name: str
    operation: str  # read, write, create, describe
    prefixed: bool = False


def consumer_groups(s: Settings) -> dict[str, list[str]]:
    """Each consumer group of the pipeline and the topics it commits offsets on."""
    return {
        s.app_id: [
            s.topic_observations,
            s.topic_school_registrations,
            s.topic_education_signals,
            s.topic_family_departures,
            s.topic_concern_signals,
            s.topic_alert_actions,
            s.topic_identity_links,
            s.topic_identity_encodings,
            s.topic_encoding_blocks,
            s.topic_erasures,
        ],
        f"{s.app_id}-alert-store": [s.topic_alerts_concern, s.topic_alerts_education],
        f"{s.app_id}-proposal-store": [s.topic_identity_proposals],
        f"{s.app_id}-school-store": [s.topic_schools],
    }


def grants(s: Settings) -> list[Grant]:
    """Every ACL the project's parts need, and nothing more."""
    inputs_intake = [s.topic_observations, s.topic_school_registrations, s.topic_identity_links]
    inputs_import = [*inputs_intake, s.topic_schools, s.topic_identity_encodings]
    internal = [
        s.topic_encoding_blocks,
        s.topic_education_signals,
        s.topic_concern_signals,
        s.topic_family_departures,
    ]
    alerts = [s.topic_alerts_concern, s.topic_alerts_education]
    out: list[Grant] = []

    def topics(who: Principal, operation: str, names: list[str]) -> None:
        out.extend(Grant(who, "topic", name, operation) for name in names)

    topics("intake", "write", inputs_intake)
    topics("importer", "write", inputs_import)
    topics("dashboard", "write", [s.topic_alert_actions, s.topic_identity_links])
    topics("worker", "read", [*inputs_import, s.topic_alert_actions, s.topic_erasures, *internal])
    # The worker also writes observations: the movements it finds in school records.
    outputs = [*alerts, s.topic_deadletter, s.topic_identity_proposals, s.topic_observations]
    topics("worker", "write", [*outputs, *internal])
    for operation in ("read", "write", "create", "describe_configs"):
        out.append(Grant("worker", "topic", f"{s.app_id}-", operation, prefixed=True))
    out.append(Grant("worker", "group", s.app_id, "read"))
    topics("alert-store", "read", [*alerts, s.topic_identity_proposals, s.topic_schools])
    topics("alert-store", "write", [s.topic_deadletter])
    out.extend(
        Grant("alert-store", "group", f"{s.app_id}-{name}", "read")
        for name in ALERT_STORE_CONSUMERS
    )
    watched = consumer_groups(s)
    out.extend(Grant("dashboard", "group", group, "describe") for group in watched)
    topics("dashboard", "describe", sorted({t for names in watched.values() for t in names}))
    return out


def writes(s: Settings, principal: Principal) -> list[str]:
    """The topics ``principal`` may write."""
    return _topics(s, principal, "write")


def reads(s: Settings, principal: Principal) -> list[str]:
    """The topics ``principal`` may read."""
    return _topics(s, principal, "read")


def _topics(s: Settings, principal: Principal, operation: str) -> list[str]:
    return [
        g.name
        for g in grants(s)
        if g.principal == principal
        and g.kind == "topic"
        and g.operation == operation
        and not g.prefixed
    ]


def grant(admin: Any, s: Settings, timeout: float = 30.0) -> int:
    """Create every ACL of ``grants`` with kafka-python's admin client and wait until the broker
    applies them; return how many.

    Raises the client's error when the broker refuses (no authorizer, or not an admin).
    """
    from kafka.admin import (
        ACL,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePattern,
        ResourceType,
    )

    acls = [
        ACL(
            principal=f"User:{g.principal}",
            host="*",
            operation=ACLOperation[g.operation.upper()],
            permission_type=ACLPermissionType.ALLOW,
            resource_pattern=ResourcePattern(
                ResourceType[g.kind.upper()],
                g.name,
                ACLResourcePatternType.PREFIXED if g.prefixed else ACLResourcePatternType.LITERAL,
            ),
        )
        for g in grants(s)
    ]
    result = admin.create_acls(acls)
    if result["failed"]:
        raise result["failed"][0]
    _wait_until_in_force(admin, set(acls), timeout)
    return len(acls)


def _wait_until_in_force(admin: Any, acls: set[Any], timeout: float) -> None:
    """Return once the broker's authorizer holds every ACL of ``acls``.

    The controller acknowledges new ACLs before the broker has applied them: a part started at
    once could still be refused for a moment (and a consumer refused its topic stops).
    """
    from kafka.admin import (
        ACLFilter,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePatternFilter,
        ResourceType,
    )

    everything = ACLFilter(
        principal=None,
        host=None,
        operation=ACLOperation.ANY,
        permission_type=ACLPermissionType.ANY,
        resource_pattern=ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY),
    )
    deadline = time.monotonic() + timeout
    while True:
        found, _ = admin.describe_acls(everything)
        missing = acls - set(found)
        if not missing:
            return
        if time.monotonic() > deadline:
            raise ServiceTimeoutError(
                f"{len(missing)} ACLs were granted but are not in force after {timeout:.0f}s"
            )
        time.sleep(0.1)
