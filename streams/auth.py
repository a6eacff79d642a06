"""How a Faust app logs in to Kafka: the project's connection options in Faust's own form."""

from __future__ import annotations

from typing import Any

from faust.auth import SASLCredentials, SSLCredentials

from safeguard.kernel.clients import Principal, connection_options
from safeguard.kernel.settings import Settings


def broker_credentials(s: Settings, principal: Principal) -> Any:
    """Faust's ``broker_credentials`` for ``principal`` (None over plaintext)."""
    options = connection_options(s, principal)
    if "sasl_mechanism" in options:
        return SASLCredentials(
            username=options["sasl_plain_username"],
            password=options["sasl_plain_password"],
            ssl_context=options.get("ssl_context"),
            mechanism=options["sasl_mechanism"],
        )
    if "ssl_context" in options:
        return SSLCredentials(options["ssl_context"])
    return None
