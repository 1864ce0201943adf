"""``courrier bulk``: queue a campaign from a CSV file, checked row by row first."""

from __future__ import annotations

from pathlib import Path
from types import FrameType

import click

from courrier.cli.common import EXIT_USAGE, handles_errors, open_store, settings_from, stop_signals
from courrier.cli.send import parse_tags
from courrier.errors import ConfigurationError
from courrier.sending import Mailer
from courrier.sending.campaign import queue_campaign, read_campaign
from courrier.sending.outbox import OutboxRunner


@click.command()
@click.option("--template", required=True, help="The SES template (courrier template push).")
@click.option(
    "--recipients",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV file with a header line, one recipient per row.",
)
@click.option("--email-column", default="email", show_default=True)
@click.option(
    "--data-column",
    "data_columns",
    multiple=True,
    help="Column passed as template data; repeat for more (default: every column).",
)
@click.option("--from", "sender", help="Sender (setting: sender).")
@click.option(
    "--campaign",
    help="Campaign name for the idempotency keys (default: the template and the file's "
    "name, so a file edited and queued again queues nobody twice); give a new name to send "
    "the same list again.",
)
@click.option("--tag", multiple=True, help="SES tag NAME=VALUE; repeat for more.")
@click.option("--configuration-set", help="SES configuration set for these messages.")
@click.option("--skip-invalid", is_flag=True, help="Queue the valid rows, skip the refused ones.")
@click.option("--run", "run_now", is_flag=True, help="Then send them (courrier outbox run).")
@click.pass_context
@handles_errors
def bulk(
    ctx: click.Context,
    template: str,
    recipients: Path,
    email_column: str,
    data_columns: tuple[str, ...],
    sender: str | None,
    campaign: str | None,
    tag: tuple[str, ...],
    configuration_set: str | None,
    skip_invalid: bool,
    run_now: bool,
) -> None:
    """Queue one templated message per row of a CSV file in the outbox.

    Every address is checked first. When a row is refused the report names it by line and
    nothing is queued (exit 2), unless --skip-invalid. Queuing the same file again queues
    nobody twice. The messages are bulk sends: they wait while the reputation guard is
    tripped.

    Example:

        courrier bulk --template welcome --recipients list.csv --from news@example.com --run
    """
    settings = settings_from(ctx)
    from_address = sender or settings.sender
    if not from_address:
        raise ConfigurationError("no sender: give --from or set COURRIER_SENDER")
    plan = read_campaign(
        recipients,
        template=template,
        sender=from_address,
        email_column=email_column,
        data_columns=data_columns,
        campaign=campaign,
        tags=parse_tags(tag),
        configuration_set=configuration_set or settings.configuration_set,
    )
    if plan.refused:
        click.echo(f"{len(plan.refused)} of {plan.total} rows refused:", err=True)
        for row in plan.refused:
            click.echo(f"  {row}", err=True)
        if not skip_invalid:
            click.echo("nothing queued: fix these rows or pass --skip-invalid", err=True)
            ctx.exit(EXIT_USAGE)
    store = open_store(ctx, settings.database_url)
    report = queue_campaign(store, plan, skip_invalid=skip_invalid)
    click.echo(
        f"campaign {plan.name}: {report.created} queued, {report.existing} already queued, "
        f"{len(plan.refused)} refused"
    )
    if run_now:
        mailer = Mailer.from_settings(settings)
        ctx.call_on_close(mailer.store.close)
        runner = OutboxRunner(mailer)

        def on_signal(_signum: int, _frame: FrameType | None) -> None:
            runner.stop()  # finish the message in hand, as `courrier outbox run` does

        with stop_signals(on_signal):
            outcome = runner.run(until_empty=True)
        click.echo(", ".join(f"{n} {o}" for o, n in sorted(outcome.outcomes.items())))
