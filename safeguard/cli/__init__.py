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
safeguard db migrate                     apply database migrations (admin)
safeguard agency add|token|tokens|rotate|revoke   intake agencies and their tokens (admin)
safeguard user add|disable|enable|reset-password|list   dashboard users (admin)
safeguard purge [--dry-run] [--every-hours H]   remove what is past its retention (retention)
safeguard erase --by ADMIN --basis B --child-ref REF   erase one child's data (retention)
safeguard rules shadow|diff|forget      a rule change tried on the retained history (rules)
safeguard demo [--once]                  everything, fed a generated scenario (demo)
"""

from __future__ import annotations

import logging
import os
from typing import Annotated

import typer
from rich.logging import RichHandler

from safeguard.cli import admin, data, demo, infra, retention, rules, services
from safeguard.cli.common import err

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
app.add_typer(admin.db_app, name="db")
app.add_typer(admin.agency_app, name="agency")
app.add_typer(admin.user_app, name="user")
app.command("purge")(retention.purge_command)
app.command("erase")(retention.erase_command)
app.add_typer(rules.rules_app, name="rules")
app.command("demo")(demo.demo)


@app.callback()
def main_options(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False)],
    )
    # The Kafka clients log every connection at INFO; only their warnings help an operator.
    for noisy in ("kafka", "aiokafka"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)


def main() -> None:
    # Whatever the project's processes create (state, logs, keys, the broker's data) is for
    # their own account only.
    os.umask(0o077)
    app()
