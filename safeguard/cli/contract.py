"""``safeguard contract``: the AsyncAPI document of the alert topics (``schemas.contract``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from safeguard.cli.common import console, friendly_errors
from safeguard.kernel.errors import ConfigError
from safeguard.kernel.settings import Settings, load_settings
from schemas.contract import DOCUMENT, render, write


def defaults() -> Settings:
    """The settings' defaults, whatever the environment says: the committed document's."""
    return Settings(_env_prefix="SAFEGUARD_CONTRACT_DEFAULTS_")  # type: ignore[call-arg]


@friendly_errors
def contract_command(
    check: Annotated[
        bool, typer.Option("--check", help="Fail if schemas/asyncapi.yaml is not up to date.")
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option("--output", help="Write this deployment's document (its own settings) here."),
    ] = None,
) -> None:
    """Write the AsyncAPI document of the alert topics, from the Avro schemas and topic settings."""
    if output is not None:
        output.write_text(render(load_settings()))
        console.print(f"wrote {output}", highlight=False)
        return
    if check:
        if not DOCUMENT.exists() or DOCUMENT.read_text() != render(defaults()):
            raise ConfigError(f"{DOCUMENT} is out of date: run `safeguard contract`")
        console.print(f"{DOCUMENT.name} is up to date", highlight=False)
        return
    changed = write(defaults())
    console.print(f"{'wrote' if changed else 'unchanged:'} {DOCUMENT}", highlight=False)
