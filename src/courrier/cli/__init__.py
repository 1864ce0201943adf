"""The ``courrier`` command: thin commands over the library, one module per area.

Each command's module is imported only when that command runs (or its own ``--help`` is
asked for): ``courrier --help`` lists them from the summaries below without loading boto3,
SQLAlchemy or Rich. ``tests/test_package.py`` checks each summary against the command's own.
"""

from __future__ import annotations

import importlib

import click

from courrier import __version__

#: name -> ("module:attribute", the first sentence of the command's help).
COMMANDS: dict[str, tuple[str, str]] = {
    "bulk": (
        "courrier.cli.bulk:bulk",
        "Queue one templated message per row of a CSV file in the outbox.",
    ),
    "dashboard": (
        "courrier.cli.dashboard:dashboard",
        "Serve the dashboard: rates and the guard, messages, suppressions, the SES account.",
    ),
    "decode": (
        "courrier.cli.feedback:decode",
        "Decode one SQS body, SNS envelope or SES payload from SOURCE (a file, or - for stdin).",
    ),
    "demo": (
        "courrier.cli.demo:demo",
        "Set up the pipeline, send to every simulator case, apply the feedback, show the outcome.",
    ),
    "doctor": (
        "courrier.cli.pipeline:doctor_command",
        "Check every link of the pipeline and the sender's DNS, then prove it with a probe send.",
    ),
    "guard": (
        "courrier.cli.guard:guard",
        "Show or clear the reputation guard, which refuses bulk sends once tripped.",
    ),
    "outbox": (
        "courrier.cli.outbox:outbox",
        "Send queued messages (Mailer.enqueue, courrier bulk) and decide about unknown ones.",
    ),
    "receive": (
        "courrier.cli.feedback:receive",
        "Apply SES feedback that an SNS HTTP(S) subscription posts to this server.",
    ),
    "sandbox": (
        "courrier.cli.sandbox:sandbox",
        "Serve SES (v1 and v2), SNS and SQS on one port, with the SES mailbox simulator.",
    ),
    "send": (
        "courrier.cli.send:send",
        "Send one email through SES and print its SES message id.",
    ),
    "setup": (
        "courrier.cli.pipeline:setup_command",
        "Create or update the SES -> SNS -> SQS feedback pipeline, idempotently.",
    ),
    "smtp-credentials": (
        "courrier.cli.smtp:smtp_credentials",
        "Derive the SES SMTP password of an IAM secret access key for a region.",
    ),
    "stats": (
        "courrier.cli.stats:stats",
        "Messages, outcomes and the bounce and complaint rates as SES counts them.",
    ),
    "suppression": (
        "courrier.cli.suppression:suppression",
        "List, add and remove suppressed addresses; sync with SES's account-level list.",
    ),
    "teardown": (
        "courrier.cli.pipeline:teardown_command",
        "Remove what setup made, in reverse order.",
    ),
    "tenant": (
        "courrier.cli.tenant:tenant",
        "Create, list, show and delete SES tenants with the resources their sends use.",
    ),
    "template": (
        "courrier.cli.template:template",
        "Manage SES templates from files: push, list, render.",
    ),
    "worker": (
        "courrier.cli.feedback:worker",
        "Apply SES feedback from SQS to the store, exactly once, until stopped.",
    ),
}


class LazyGroup(click.Group):
    """A group whose commands are imported by name, the first time one is needed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self.add_command(load(cmd_name), cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            # An unloaded command is shortened by click's own rule, through a stand-in.
            shown = self.commands.get(name) or click.Command(name, help=COMMANDS[name][1])
            rows.append((name, shown.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def load(name: str) -> click.Command:
    """The command called ``name``, imported from its module."""
    module, _, attribute = COMMANDS[name][0].partition(":")
    command = getattr(importlib.import_module(module), attribute)
    if not isinstance(command, click.Command):
        raise TypeError(f"{COMMANDS[name][0]} is not a click command")
    return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
    uses boto3's standard chain (AWS_PROFILE, AWS_DEFAULT_REGION, AWS_ENDPOINT_URL, ...).
    """
