"""The one ``safeguard`` command: one module per command group, each thin over the layers below.

safeguard infra up|status|down           the local Kafka broker and PostgreSQL cluster (infra)
safeguard topics create                  create the project's topics (data)
safeguard import schools|observations|registrations|retractions|fhir FILE   agency files (data)
safeguard publish observation|registration|retraction --...   one event from flags (data)
safeguard scenario generate              a synthetic multi-agency timeline (data)
safeguard worker                         the stream processor (services)
safeguard intake                         the HTTP intake (services)
safeguard alert-store                    store alerts in PostgreSQL (services)
safeguard dashboard                      the live multi-agency dashboard (services)
safeguard db migrate|backup|restore      database migrations (admin), backups (backup)
safeguard agency add|token|tokens|rotate|revoke   intake agencies and their tokens (admin)
safeguard user add|disable|enable|reset-password|list   dashboard users (admin)
safeguard purge [--dry-run] [--every-hours H]   remove what is past its retention (retention)
safeguard erase --by ADMIN --basis B --child-ref REF   erase one child's data (retention)
safeguard rules shadow|diff|forget      a rule change tried on the retained history (rules)
safeguard contract [--check]             the AsyncAPI document of the alert topics (contract)
safeguard demo [--once]                  everything, fed a generated scenario (demo)
safeguard status [--json]                every part's health and every group's lag (status)
safeguard replay worker|alert-store [--from-time T|--from-offset N] [--dry-run]   again (replay)
"""

from __future__ import annotations

import logging
import os
from typing import Annotated

import typer
from rich.logging import RichHandler

from safeguard.cli import (
    admin,
    backup,
    contract,
    data,
    demo,
    infra,
    replay,
    retention,
    rules,
    services,
    status,
)
from safeguard.cli.common import err
from safeguard.kernel.logs import NOISY, configure_json
from safeguard.kernel.settings import ENV_PREFIX

app = typer.Typer(help="safeguard-stream: multi-agency safeguarding event pipeline.")
app.add_typer(infra.app, name="infra")
app.add_typer(data.topics_app, name="topics")
app.add_typer(data.import_app, name="import")
app.add_typer(data.publish_app, name="publish")
app.add_typer(data.scenario_app, name="scenario")
app.command("worker")(services.worker)
app.command("intake")(services.intake)
app.command("alert-store")(services.alert_store)
app.command("dashboard")(services.dashboard)
admin.db_app.command("backup")(backup.backup_command)
admin.db_app.command("restore")(backup.restore_command)
app.add_typer(admin.db_app, name="db")
app.add_typer(admin.agency_app, name="agency")
app.add_typer(admin.user_app, name="user")
app.command("purge")(retention.purge_command)
app.command("erase")(retention.erase_command)
app.add_typer(rules.rules_app, name="rules")
app.command("demo")(demo.demo)
app.command("status")(status.status_command)
app.command("replay")(replay.replay_command)
app.command("contract")(contract.contract_command)


@app.callback()
def main_options(
    ctx: typer.Context,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    # Read here, before the settings are: a command that fails on its settings logs that too.
    if os.environ.get(f"{ENV_PREFIX}LOG_FORMAT", "text").strip().lower() == "json":
        configure_json(ctx.invoked_subcommand or "safeguard", level)
    else:
        logging.basicConfig(
            level=level,
            format="%(message)s",
            handlers=[RichHandler(console=err, show_path=False)],
        )
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)


def main() -> None:
    # Whatever the project's processes create (state, logs, keys, the broker's data) is for
    # their own account only.
    os.umask(0o077)
    app()
