"""``courrier decode`` and ``courrier worker``."""

from __future__ import annotations

import json
import logging
import sys
from types import FrameType
from typing import Any

import click

from courrier.aws.clients import AwsConfig
from courrier.aws.ses import SesClient
from courrier.aws.sqs import SqsQueue
from courrier.cli.common import (
    EXIT_USAGE,
    PORT,
    CourrierClickError,
    handles_errors,
    host_of,
    open_store,
    settings_from,
    stop_signals,
)
from courrier.errors import ConfigurationError, UndecodableMessage
from courrier.extras import needs_extra
from courrier.feedback import decode as decode_body
from courrier.feedback.explain import explain
from courrier.feedback.observer import WorkerObserver
from courrier.feedback.rules import Rules
from courrier.feedback.signature import SignatureVerifier
from courrier.feedback.topics import allowed_topics
from courrier.feedback.worker import Worker
from courrier.settings import Settings
from courrier.store import Store


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
    for line in explain(decoded):
        click.echo(json.dumps(line))


def watchers(
    settings: Settings,
    store: Store,
    aws: AwsConfig,
    queue_url: str,
    metrics_port: int | None,
    metrics_host: str,
) -> tuple[list[WorkerObserver], Any]:
    """The reputation guard, and metrics served on ``metrics_port`` when given."""
    from courrier.reputation import Guard
    from courrier.reputation.observer import GuardObserver

    guard = Guard(store, settings, account=SesClient(aws).account)
    observers: list[WorkerObserver] = [GuardObserver(guard)]
    if metrics_port is None:
        return observers, None
    with needs_extra("metrics", "courrier worker --metrics-port"):
        from courrier.metrics import Metrics
    metrics = Metrics()
    metrics.watch_store(store, settings)
    queues = {"feedback": SqsQueue(queue_url, aws)}
    if settings.dead_letter_queue_url:
        queues["dead_letter"] = SqsQueue(settings.dead_letter_queue_url, aws)
    metrics.watch_queues(queues)
    server = metrics.serve(metrics_port, metrics_host)
    click.echo(f"metrics on http://{metrics_host}:{server.port}/metrics", err=True)
    return [*observers, metrics], server


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
@click.option(
    "--until-idle",
    is_flag=True,
    help="Exit once every receiver's last poll found the queue empty and nothing is in hand.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    help="Receives in flight at once, their batches applied by one thread, several per "
    "transaction (setting: worker_concurrency, default 8; 1 is one batch at a time).",
)
@click.option(
    "--allow-topic",
    multiple=True,
    help="Accept only these SNS topic ARNs (default: the topic_arn setting, from setup).",
)
@click.option(
    "--verify-signatures/--no-verify-signatures",
    default=None,
    help="Refuse SNS envelopes whose signature does not verify (needs raw delivery off and "
    "HTTPS access to the SNS signing certificates). On unless the verify_signatures setting "
    "is false (courrier setup writes it for the sandbox).",
)
@click.option(
    "--soft-bounce-limit",
    type=click.IntRange(1),
    help="Transient bounces that suppress an address (default: the soft_bounce_limit setting, 3).",
)
@click.option("--metrics-port", type=PORT, help="Serve Prometheus metrics on this port.")
@click.option("--metrics-host", default="127.0.0.1", show_default=True)
@click.option("-v", "--verbose", is_flag=True)
@click.pass_context
@handles_errors
def worker(
    ctx: click.Context,
    queue_url: str | None,
    wait_seconds: int,
    until_idle: bool,
    concurrency: int | None,
    allow_topic: tuple[str, ...],
    verify_signatures: bool | None,
    soft_bounce_limit: int | None,
    metrics_port: int | None,
    metrics_host: str,
    verbose: bool,
) -> None:
    """Apply SES feedback from SQS to the store, exactly once, until stopped.

    Only topics on the allow-list are applied: --allow-topic, or the topic courrier setup
    wrote; with neither it refuses to start, like courrier receive. Other messages, and raw
    deliveries (which name no topic), are left for the dead-letter queue.

    SIGTERM or SIGINT: polls stop; the batches in hand are finished, committed and deleted,
    then exit 0.
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
    allowed_topics(allow_topic, settings.topic_arn)  # refused before anything is opened
    store = open_store(ctx, settings.database_url)
    aws = AwsConfig(settings.profile, settings.region, settings.read_timeout)
    observers, metrics_server = watchers(settings, store, aws, url, metrics_port, metrics_host)
    try:
        runner = Worker.from_settings(
            settings,
            store=store,
            queue_url=url,
            allow_topics=allow_topic,
            verify_signatures=verify_signatures,
            wait_seconds=wait_seconds,
            concurrency=concurrency,
            rules=Rules.from_settings(settings, soft_bounce_limit=soft_bounce_limit),
            hooks=host_of(ctx).hooks,
            observers=observers,
        )
    except BaseException:
        if metrics_server is not None:
            metrics_server.close()
        raise

    def on_signal(signum: int, frame: FrameType | None) -> None:
        logging.getLogger(__name__).warning("signal %d: finishing the batch in hand", signum)
        runner.stop()

    try:
        with stop_signals(on_signal):
            stats = runner.run(until_idle=until_idle)
    finally:
        if metrics_server is not None:
            metrics_server.close()
    click.echo(json.dumps(stats.as_dict()), err=True)


def verifier_for(flag: bool | None, settings: Settings) -> SignatureVerifier | None:
    """The signature verifier of ``courrier worker`` and ``courrier receive``: on unless the
    flag (``--no-verify-signatures``) or, without it, the ``verify_signatures`` setting says
    otherwise."""
    verify = settings.verify_signatures if flag is None else flag
    return SignatureVerifier() if verify else None


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=PORT)
@click.option(
    "--allow-topic",
    multiple=True,
    help="Accept only these SNS topic ARNs (default: the topic_arn setting, from setup).",
)
@click.option(
    "--verify-signatures/--no-verify-signatures",
    default=None,
    help="Check SNS signatures. On unless the verify_signatures setting is false (courrier "
    "setup writes it for the sandbox).",
)
@click.option(
    "--no-verify",
    is_flag=True,
    hidden=True,
    help="Deprecated: --no-verify-signatures.",
)
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64))
@click.pass_context
@handles_errors
def receive(
    ctx: click.Context,
    host: str,
    port: int,
    allow_topic: tuple[str, ...],
    verify_signatures: bool | None,
    no_verify: bool,
    threads: int,
) -> None:
    """Apply SES feedback that an SNS HTTP(S) subscription posts to this server.

    Only topics on the allow-list are confirmed and applied: --allow-topic, or the topic
    courrier setup wrote; with neither it refuses to start. Signatures are verified (see
    --no-verify-signatures). Put it behind an HTTPS proxy, or mount
    courrier.feedback.http.make_app in your WSGI server.
    """
    from courrier.aws.clients import endpoint_of
    from courrier.feedback.http import create_server, make_app

    if no_verify:
        # Kept for unit files written before the flag was renamed.
        click.echo(
            "courrier receive: --no-verify is deprecated; use --no-verify-signatures", err=True
        )
        verify_signatures = False
    settings = settings_from(ctx)
    topics = allowed_topics(allow_topic, settings.topic_arn)
    app = make_app(
        open_store(ctx, settings.database_url),
        verifier=verifier_for(verify_signatures, settings),
        allowed_topics=topics,
        hooks=host_of(ctx).hooks,
        sandbox_url=endpoint_of("sns"),
    )
    server = create_server(app, host, port, threads=threads)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)  # waitress closes its sockets and threads on SystemExit

    with stop_signals(on_signal):
        # Announced once a stop signal is handled: whoever waits for this line may send one.
        click.echo(
            f"receiving SNS feedback on http://{host}:{server.effective_port}/ "
            f"for {', '.join(sorted(topics))}",
            err=True,
        )
        server.run()
