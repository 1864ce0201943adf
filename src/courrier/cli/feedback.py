"""``courrier decode`` and ``courrier worker``."""

from __future__ import annotations

import json
import logging
import signal
import sys
from types import FrameType
from typing import Any

import click

from courrier.aws.clients import AwsConfig
from courrier.aws.sqs import SqsQueue
from courrier.cli.common import EXIT_USAGE, CourrierClickError, handles_errors, settings_from
from courrier.errors import ConfigurationError, UndecodableMessage
from courrier.feedback import decode as decode_body
from courrier.feedback.events import Event
from courrier.feedback.rules import IGNORE, Rules
from courrier.feedback.signature import SignatureVerifier
from courrier.feedback.worker import Worker
from courrier.store import Store


def event_json(event: Event | None, decoded: Any, action: str) -> dict[str, Any]:
    envelope = decoded.envelope
    return {
        "kind": event.kind if event else None,
        "subtype": event.subtype if event else None,
        "recipient": event.recipient if event else None,
        "ses_message_id": event.ses_message_id if event else None,
        "feedback_id": event.feedback_id if event else None,
        "timestamp": event.timestamp.isoformat() if event and event.timestamp else None,
        "sns_message_id": envelope.message_id if envelope else None,
        "topic_arn": envelope.topic_arn if envelope else None,
        "action": action,
    }


@click.command()
@click.argument("source", type=click.File("rb"), default="-")
def decode(source: Any) -> None:
    """Decode one SQS body, SNS envelope or SES payload from SOURCE (a file, or - for stdin).

    Prints one JSON object per event with what courrier would do with it.

    Example:

        aws sqs receive-message ... --query 'Messages[0].Body' --output text | courrier decode
    """
    try:
        decoded = decode_body(source.read())
    except UndecodableMessage as err:
        raise CourrierClickError(f"cannot decode: {err}", EXIT_USAGE) from err
    rules = Rules()
    if not decoded.events:
        ignored = {
            **event_json(None, decoded, IGNORE),
            "kind": "Ignored",
            "subtype": decoded.ignored,
        }
        click.echo(json.dumps(ignored))
        return
    for event in decoded.events:
        click.echo(json.dumps(event_json(event, decoded, rules.action(event))))


@click.command()
@click.option("--queue-url", help="Feedback queue (setting: queue_url, written by setup).")
@click.option(
    "--wait",
    "wait_seconds",
    default=20,
    show_default=True,
    type=click.IntRange(0, 20),
    help="Long-poll seconds.",
)
@click.option("--until-idle", is_flag=True, help="Exit when a poll finds the queue empty.")
@click.option("--allow-topic", multiple=True, help="Accept only these SNS topic ARNs.")
@click.option(
    "--verify-signatures",
    is_flag=True,
    help="Reject SNS envelopes whose signature does not verify (needs raw delivery "
    "off and HTTPS access to the SNS signing certificates).",
)
@click.option(
    "--soft-bounce-limit",
    default=3,
    show_default=True,
    type=click.IntRange(1),
    help="Transient bounces that suppress an address.",
)
@click.option("-v", "--verbose", is_flag=True)
@click.pass_context
@handles_errors
def worker(
    ctx: click.Context,
    queue_url: str | None,
    wait_seconds: int,
    until_idle: bool,
    allow_topic: tuple[str, ...],
    verify_signatures: bool,
    soft_bounce_limit: int,
    verbose: bool,
) -> None:
    """Apply SES feedback from SQS to the store, exactly once, until stopped.

    SIGTERM or SIGINT: the batch in hand is finished, committed and deleted, then exit 0.
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = settings_from(ctx)
    url = queue_url or settings.queue_url
    if not url:
        raise ConfigurationError("no queue: give --queue-url or run courrier setup")
    runner = Worker(
        SqsQueue(
            url,
            AwsConfig(
                settings.profile,
                settings.region,
                read_timeout=max(settings.read_timeout, wait_seconds + 10),
            ),
        ),
        Store(settings.database_url),
        rules=Rules(soft_bounce_limit=soft_bounce_limit),
        allowed_topics=allow_topic or None,
        verifier=SignatureVerifier() if verify_signatures else None,
        wait_seconds=wait_seconds,
    )

    def on_signal(signum: int, frame: FrameType | None) -> None:
        logging.getLogger(__name__).warning("signal %d: finishing the batch in hand", signum)
        runner.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stats = runner.run(until_idle=until_idle)
    click.echo(
        json.dumps(
            {
                "batches": stats.batches,
                "received": stats.received,
                "deleted": stats.deleted,
                "events": stats.events,
                "duplicates": stats.duplicates,
                "rejected": stats.rejected,
            }
        ),
        err=True,
    )
