"""The ``courrier`` command: thin commands over the library, one module per area."""

from __future__ import annotations

import click

from courrier import __version__
from courrier.cli.bulk import bulk
from courrier.cli.dashboard import dashboard
from courrier.cli.demo import demo
from courrier.cli.feedback import decode, receive, worker
from courrier.cli.guard import guard
from courrier.cli.outbox import outbox
from courrier.cli.pipeline import doctor_command, setup_command, teardown_command
from courrier.cli.sandbox import sandbox
from courrier.cli.send import send
from courrier.cli.stats import stats
from courrier.cli.suppression import suppression
from courrier.cli.template import template


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="courrier")
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    help="Settings file (default: ./courrier.toml, or COURRIER_CONFIG).",
)
@click.option("--database-url", help="Store URL (default: sqlite:///courrier.db).")
def main(config: str | None, database_url: str | None) -> None:
    """Send email through Amazon SES and act on what happens to it afterwards.

    Settings come from options, then COURRIER_* variables, then courrier.toml. AWS access
    uses the standard chain (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, ...).
    """


for command in (
    bulk,
    dashboard,
    decode,
    demo,
    doctor_command,
    guard,
    outbox,
    receive,
    sandbox,
    send,
    setup_command,
    stats,
    suppression,
    teardown_command,
    template,
    worker,
):
    main.add_command(command)
