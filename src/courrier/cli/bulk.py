"""``courrier bulk``: queue a campaign from a CSV file, checked row by row first."""

from __future__ import annotations

import json
from pathlib import Path
from types import FrameType
from typing import Any

import click

from courrier.aws.clients import AwsConfig
from courrier.aws.ses import SesClient
from courrier.cli.common import (
    EXIT_USAGE,
    handles_errors,
    open_store,
    refuse_in_memory,
    settings_from,
    stop_signals,
)
from courrier.cli.send import parse_tags
from courrier.errors import ConfigurationError, InvalidMessage
from courrier.sending import Mailer
from courrier.sending.campaign import Campaign, queue_campaign, read_campaign
from courrier.sending.outbox import OutboxRunner
from courrier.sending.templated import required_variables
from courrier.sending.unsubscribing import check_bulk
from courrier.settings import Settings


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
@click.option(
    "--default-data",
    default="{}",
    help="Template data every row starts from, a JSON object; a row's columns go over it.",
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
@click.option(
    "--list",
    "list_name",
    help="The mailing list (or topic) of the campaign: its unsubscribe links name it.",
)
@click.option(
    "--tenant",
    help="The SES tenant the campaign is sent for (courrier tenant create): its own "
    "reputation, guard and pause apply.",
)
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
    default_data: str,
    sender: str | None,
    campaign: str | None,
    tag: tuple[str, ...],
    configuration_set: str | None,
    list_name: str | None,
    tenant: str | None,
    skip_invalid: bool,
    run_now: bool,
) -> None:
    """Queue one templated message per row of a CSV file in the outbox.

    Every row is checked first, and the template (as SES has it) against the columns: a
    variable the template prints that neither a column nor --default-data gives is refused
    (exit 2), since SES would send nothing. When a row is refused the report names the line
    it starts on and nothing is queued (exit 2), unless --skip-invalid. A row that repeats an
    earlier row's address is not queued again and is listed. Queuing the same file again
    queues nobody twice, also after an interrupted run. The messages are bulk sends: they
    wait while the reputation guard is tripped, and each carries its recipient's one-click
    unsubscribe link (unsubscribe_url and unsubscribe_secret, or SES's with
    unsubscribe_contact_list; refused before anything is queued without them, unless
    unsubscribe_managed_elsewhere).

    Example:

        courrier bulk --template welcome --recipients list.csv --from news@example.com --run
    """
    settings = settings_from(ctx)
    from_address = sender or settings.sender
    if not from_address:
        raise ConfigurationError("no sender: give --from or set COURRIER_SENDER")
    check_bulk(settings)
    plan = read_campaign(
        recipients,
        template=template,
        sender=from_address,
        email_column=email_column,
        data_columns=data_columns,
        default_data=_json_object(default_data),
        campaign=campaign,
        tags=parse_tags(tag),
        configuration_set=configuration_set or settings.configuration_set,
        list_name=list_name,
        tenant=tenant,
    )
    _check_template(settings, plan)
    if plan.refused:
        click.echo(f"{len(plan.refused)} of {plan.total} rows refused:", err=True)
        for row in plan.refused:
            click.echo(f"  {row}", err=True)
        if not skip_invalid:
            click.echo("nothing queued: fix these rows or pass --skip-invalid", err=True)
            ctx.exit(EXIT_USAGE)
    if plan.duplicates:
        click.echo(
            f"{len(plan.duplicates)} of {plan.total} rows repeat an earlier row's address "
            "(not queued again, their other columns unused):"
        )
        for duplicate in plan.duplicates:
            click.echo(f"  {duplicate}")
    store = open_store(ctx, settings.database_url)
    report = queue_campaign(store, plan, skip_invalid=skip_invalid)
    click.echo(
        f"campaign {plan.name}: {report.created} queued, {report.existing} already queued, "
        f"{len(plan.duplicates)} duplicates, {len(plan.refused)} refused"
    )
    if run_now:
        refuse_in_memory(settings.database_url)
        mailer = Mailer.from_settings(settings)
        ctx.call_on_close(mailer.store.close)
        runner = OutboxRunner(mailer)

        def on_signal(_signum: int, _frame: FrameType | None) -> None:
            runner.stop()  # finish the message in hand, as `courrier outbox run` does

        with stop_signals(on_signal):
            outcome = runner.run(until_empty=True)
        click.echo(", ".join(f"{n} {o}" for o, n in sorted(outcome.outcomes.items())))


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise InvalidMessage(f"--default-data is not JSON: {err}") from err
    if not isinstance(value, dict):
        raise InvalidMessage("--default-data must be a JSON object")
    return value


def _check_template(settings: Settings, plan: Campaign) -> None:
    """Refuse the campaign when the template prints a name no row's data has: SES would
    accept every send and deliver none (a Rendering Failure each)."""
    ses = SesClient(AwsConfig(settings.profile, settings.region, settings.read_timeout))
    found = ses.get_template(plan.template)
    if found is None:
        raise InvalidMessage(
            f"SES has no template {plan.template!r}: push it first (courrier template push)"
        )
    missing = sorted(required_variables(found) - plan.data_names)
    if missing:
        raise InvalidMessage(
            f"template {plan.template!r} uses {', '.join('{{' + m + '}}' for m in missing)}, "
            f"which no column of {plan.path.name} (nor --default-data) gives; nothing queued"
        )
