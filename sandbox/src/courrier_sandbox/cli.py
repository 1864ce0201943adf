"""``courrier-sandbox``: SES (v1 and v2), SNS and SQS offline, on one port.

``courrier sandbox`` (with ``courrier[sandbox]``) declares the same options and calls
:func:`serve`: the two commands behave alike, and tests compare their options.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import click

from courrier_sandbox import (
    Latency,
    Sandbox,
    SesOptions,
    SimulatorOptions,
    SmtpOptions,
    __version__,
)
from courrier_sandbox.accounts import DEFAULT_REGION
from courrier_sandbox.errors import SandboxError
from courrier_sandbox.smtp import SmtpInterface

#: Every ``--port`` option: a TCP port, 0 for one the system picks. A plain int would pass
#: 70000 on to the socket, which listens on 70000 mod 65536. ``courrier.cli.common.PORT``,
#: the same, serves ``courrier sandbox``.
PORT = click.IntRange(0, 65535)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="courrier-sandbox")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; loopback by default.",
)
@click.option("--port", default=4566, show_default=True, type=PORT, help="Port to listen on.")
@click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False),
    help="JSON file that keeps identities, configuration and mailbox across restarts.",
)
@click.option(
    "--production", is_flag=True, help="Start out of the SES sandbox: any recipient, larger quota."
)
@click.option(
    "--max-send-rate",
    type=click.FloatRange(min=0, min_open=True),
    help="Messages per second (default 1, or 14).",
)
@click.option(
    "--max-send-burst",
    type=click.FloatRange(min=1),
    help="Messages accepted at once over the rate (default: 2 s of the rate, at least 10).",
)
@click.option(
    "--max-24-hour-send", type=float, help="Daily quota, -1 for unlimited (default 200, or 50000)."
)
@click.option(
    "--pending-identities",
    is_flag=True,
    help="New identities stay pending until verified at /_courrier/identities/ID/verify.",
)
@click.option(
    "--ooto-bounce/--no-ooto-bounce",
    default=True,
    show_default=True,
    help="Whether the ooto simulator address also sends a Transient bounce.",
)
@click.option(
    "--feedback-delay",
    type=float,
    default=0.05,
    show_default=True,
    help="Seconds between a send and its feedback.",
)
@click.option(
    "--latency",
    metavar="MS[,JITTER]",
    help="Delay every SES, SNS and SQS answer by MS ± JITTER milliseconds (20,5 is AWS-like).",
)
@click.option(
    "--smtp-port",
    type=PORT,
    help="Also serve SES's SMTP interface here, STARTTLS required (SES: 587).",
)
@click.option(
    "--smtps-port",
    type=PORT,
    help="Also serve SES's SMTP interface here with TLS from the first byte (SES: 465).",
)
@click.option(
    "--tls-cert",
    type=click.Path(exists=True, dir_okay=False),
    help="PEM certificate for the SMTP ports (default: a self-signed one made at start).",
)
@click.option(
    "--tls-key", type=click.Path(exists=True, dir_okay=False), help="PEM key of --tls-cert."
)
@click.option("-v", "--verbose", is_flag=True, help="Log every request.")
def main(**options: Any) -> None:
    """Serve SES (v1 and v2), SNS and SQS on one port, with the SES mailbox simulator.

    Point boto3 or the AWS CLI at it with AWS_ENDPOINT_URL=http://127.0.0.1:4566 and any
    credentials and region. With --smtp-port or --smtps-port, SMTP applications log in with
    an access key id it knows and that key's SES SMTP password (printed at start).

    Example:

        courrier-sandbox --port 4566 --state .sandbox-state.json --smtp-port 2587
    """
    serve(**options)


def serve(
    *,
    host: str,
    port: int,
    state_path: str | None,
    production: bool,
    max_send_rate: float | None,
    max_send_burst: float | None,
    max_24_hour_send: float | None,
    pending_identities: bool,
    ooto_bounce: bool,
    feedback_delay: float,
    latency: str | None,
    smtp_port: int | None = None,
    smtps_port: int | None = None,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    verbose: bool,
) -> None:
    """Run the sandbox in the foreground until SIGTERM or SIGINT (the options of :func:`main`).

    The SMTP options default to none, so that a ``courrier sandbox`` older than them still
    calls this."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    options = SesOptions(
        production=production,
        max_send_rate=max_send_rate,
        max_send_burst=max_send_burst,
        max_24_hour_send=max_24_hour_send,
        pending_identities=pending_identities,
        simulator=SimulatorOptions(ooto_bounce=ooto_bounce, delay=feedback_delay),
    )
    smtp = SmtpOptions(port=smtp_port, tls_port=smtps_port, certificate=tls_cert, key=tls_key)
    if (tls_cert or tls_key) and not smtp.enabled:
        raise click.UsageError("--tls-cert and --tls-key need --smtp-port or --smtps-port")
    stop = threading.Event()
    # The handlers go in before the port answers: a supervisor that stops the sandbox as soon
    # as its health check passes must get a clean stop, not the default SIGTERM death.
    with _stop_signals(lambda signum, frame: stop.set()):
        try:
            delay = Latency.parse(latency) if latency else None
            server = Sandbox(
                host, port, options=options, state_path=state_path, latency=delay, smtp=smtp
            )
            url = server.start()
        except SandboxError as err:
            raise click.ClickException(str(err)) from err
        click.echo(f"courrier sandbox listening on {click.style(url, bold=True)}", err=True)
        click.echo(f"  export AWS_ENDPOINT_URL={url}", err=True)
        # boto3 signs every call, so it needs some credentials even though the sandbox
        # takes any: without them a newcomer's first command stops there.
        click.echo(
            "  export AWS_ACCESS_KEY_ID=sandbox AWS_SECRET_ACCESS_KEY=sandbox"
            " AWS_DEFAULT_REGION=eu-west-1   # any will do",
            err=True,
        )
        click.echo(f"  mailbox: {url}/_courrier/mailbox   health: {url}/_courrier/health", err=True)
        if server.smtp is not None:
            _echo_smtp(server.smtp)
        stop.wait()
    click.echo("stopping", err=True)
    server.stop()


def _echo_smtp(smtp: SmtpInterface) -> None:
    """Where SMTP applications connect, and the logins the sandbox accepts."""
    for port, how in ((smtp.port, "STARTTLS"), (smtp.tls_port, "TLS")):
        if port is not None:
            click.echo(f"  SMTP ({how}): {smtp.host}:{port}", err=True)
    assert smtp.tls is not None
    click.echo(f"  TLS certificate: {smtp.tls.certificate_file}", err=True)
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    region = region if region in smtp.keys.regions else DEFAULT_REGION
    for key_id in smtp.keys.keys:
        password = smtp.keys.password(key_id, region)
        click.echo(f"  SMTP login in {region}: {key_id} / {password}", err=True)
    click.echo(
        "  (a key's SMTP password for another region sends in that region; "
        "`courrier smtp-credentials` derives it)",
        err=True,
    )


@contextmanager
def _stop_signals(handler: Callable[[int, FrameType | None], None]) -> Iterator[None]:
    """Route SIGTERM and SIGINT to ``handler`` while the sandbox runs, then restore them."""
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
