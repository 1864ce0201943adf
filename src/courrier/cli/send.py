"""``courrier send``: one message, from the command line."""

from __future__ import annotations

from pathlib import Path

import click

from courrier.cli.common import handles_errors, refuse_in_memory, settings_from
from courrier.errors import ConfigurationError, InvalidMessage
from courrier.message import Attachment, Message
from courrier.sending import Mailer


def parse_tags(values: tuple[str, ...]) -> dict[str, str]:
    tags = {}
    for value in values:
        name, sep, tag = value.partition("=")
        if not sep:
            raise InvalidMessage(f"--tag {value!r}: expected NAME=VALUE")
        tags[name] = tag
    return tags


def read_utf8(path: Path, option: str) -> str:
    """The text of the file an option names; a file that is not UTF-8 is bad input (exit 2)."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InvalidMessage(
            f"{option} {path}: byte 0x{data[err.start]:02x} at offset {err.start} is not "
            "UTF-8: the file must be UTF-8"
        ) from err


@click.command()
@click.option("--from", "sender", help="Sender, 'Name <address>' or address (setting: sender).")
@click.option("--to", "to", multiple=True, required=True, help="Recipient; repeat for more.")
@click.option("--cc", multiple=True, help="Cc recipient; repeat for more.")
@click.option("--bcc", multiple=True, help="Bcc recipient; repeat for more.")
@click.option("--reply-to", multiple=True, help="Reply-To address; repeat for more.")
@click.option("--subject", required=True)
@click.option("--text", help="Plain-text body.")
@click.option(
    "--html",
    "html_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="File with the HTML body.",
)
@click.option(
    "--attach",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="File to attach; repeat for more.",
)
@click.option("--tag", multiple=True, help="SES tag NAME=VALUE; repeat for more.")
@click.option("--configuration-set", help="SES configuration set for this message.")
@click.option("--tenant", help="The SES tenant it is sent for (courrier tenant create).")
@click.pass_context
@handles_errors
def send(
    ctx: click.Context,
    sender: str | None,
    to: tuple[str, ...],
    cc: tuple[str, ...],
    bcc: tuple[str, ...],
    reply_to: tuple[str, ...],
    subject: str,
    text: str | None,
    html_file: Path | None,
    attach: tuple[Path, ...],
    tag: tuple[str, ...],
    configuration_set: str | None,
    tenant: str | None,
) -> None:
    """Send one email through SES and print its SES message id.

    Example:

        courrier send --from 'Zoë <zoe@example.com>' --to someone@example.org \\
            --subject Hello --text 'Hi there' --attach report.pdf
    """
    settings = settings_from(ctx)
    from_address = sender or settings.sender
    if not from_address:
        raise ConfigurationError("no sender: give --from or set COURRIER_SENDER")
    message = Message(
        sender=from_address,
        to=list(to),
        cc=list(cc),
        bcc=list(bcc),
        reply_to=list(reply_to),
        subject=subject,
        text=text,
        html=read_utf8(html_file, "--html") if html_file else None,
        attachments=[Attachment.from_path(path) for path in attach],
        tags=parse_tags(tag),
        configuration_set=configuration_set,
        tenant=tenant,
    )
    refuse_in_memory(settings.database_url)
    mailer = Mailer.from_settings(settings)
    ctx.call_on_close(mailer.store.close)
    result = mailer.send(message)
    if result.status == "suppressed":
        click.echo("not sent: every recipient is on the suppression list", err=True)
        ctx.exit(1)
    for recipient in result.recipients:
        if recipient.status == "suppressed":
            click.echo(f"skipped {recipient.address}: on the suppression list", err=True)
    click.echo(result.ses_message_id)
