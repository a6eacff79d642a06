"""``safeguard rules shadow|diff``: a rule change tried on the retained history first."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from safeguard.cli import shadow
from safeguard.cli.common import console, err, friendly_errors

rules_app = typer.Typer(
    help="Run the rules over the retained history with other settings, and compare the runs."
)


@rules_app.command("shadow")
@friendly_errors
def shadow_run(
    name: Annotated[str, typer.Argument(help="Names the run (letters, digits, - and _).")],
    setting: Annotated[
        list[str],
        typer.Option(
            "--set",
            help="SETTING=VALUE for this run, e.g. "
            "SAFEGUARD_REPEATED_REGISTRATIONS_MIN_LOCAL_AUTHORITIES=2 (repeatable).",
        ),
    ] = [],  # noqa: B006  # typer reads the default, never mutates it
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the run to finish.")] = 900,
) -> None:
    """Copy the source topics into shadow.NAME.* and run a worker over them with the settings."""
    if not name.replace("-", "").replace("_", "").isalnum():
        raise shadow.ShadowError(f"run name {name!r}: use letters, digits, - and _ only")
    overrides = {}
    for item in setting:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise shadow.ShadowError(f"--set {item!r}: expected SETTING=VALUE")
        overrides[key.strip().upper()] = value
    shadow.run(name, overrides, timeout=timeout, progress=lambda m: err.print(m))
    alerts = shadow.open_alerts(shadow.shadow_settings(name))
    console.print(f"shadow run {name}: {len(alerts)} open alerts (topics shadow.{name}.*)")


@rules_app.command("diff")
@friendly_errors
def diff(
    base: Annotated[str, typer.Argument(help="The shadow run to compare against.")],
    candidate: Annotated[str, typer.Argument(help="The shadow run with the change.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Per rule, the open alerts CANDIDATE adds, removes or re-levels against BASE."""
    changes = shadow.diff(shadow.shadow_settings(base), shadow.shadow_settings(candidate))
    per_rule = shadow.summary(changes)
    if as_json:
        console.print_json(
            json.dumps(
                {
                    "rules": {rule: dict(counts) for rule, counts in sorted(per_rule.items())},
                    "alerts": [c.__dict__ for c in changes],
                }
            )
        )
        return
    if not changes:
        console.print(f"{candidate} leaves the same alerts open as {base}, at the same levels.")
        return
    for rule, counts in sorted(per_rule.items()):
        console.print(
            f"{rule}: {counts['added']} added, {counts['removed']} removed, "
            f"{counts['relevelled']} re-levelled"
        )
    for c in changes:
        console.print(f"  {c.alert_id} {c.rule_id}: {c.before or '-'} -> {c.after or '-'}")


@rules_app.command("forget")
@friendly_errors
def forget(name: Annotated[str, typer.Argument(help="The shadow run to delete.")]) -> None:
    """Delete a shadow run's topics, consumer group and state folder."""
    shadow.forget(shadow.shadow_settings(name))
    console.print(f"shadow run {name} deleted")
