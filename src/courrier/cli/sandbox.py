"""``courrier sandbox``: run SES, SNS and SQS offline, through courrier-sandbox.

The sandbox is a distribution of its own (``courrier[sandbox]`` installs it) with its own
command, ``courrier-sandbox``. This command declares the same options, so that ``--help``
answers without the extra, and runs the sandbox's own :func:`courrier_sandbox.cli.serve`;
``tests/cli/test_sandbox_command.py`` checks that the two keep the same options.
"""

from __future__ import annotations

import click

from courrier.cli.common import PORT, errors_as_exit_codes, listen_host
from courrier.extras import needs_extra


@click.command()
@listen_host
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
def sandbox(
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
    smtp_port: int | None,
    smtps_port: int | None,
    tls_cert: str | None,
    tls_key: str | None,
    verbose: bool,
) -> None:
    """Serve SES (v1 and v2), SNS and SQS on one port, with the SES mailbox simulator.

    Point boto3 or the AWS CLI at it with AWS_ENDPOINT_URL=http://127.0.0.1:4566 and any
    credentials and region. The same as the courrier-sandbox command.

    Example:

        courrier sandbox --port 4566 --state .sandbox-state.json
    """
    with errors_as_exit_codes(), needs_extra("sandbox", "courrier sandbox"):
        from courrier_sandbox.cli import serve

    serve(
        host=host,
        port=port,
        state_path=state_path,
        production=production,
        max_send_rate=max_send_rate,
        max_send_burst=max_send_burst,
        max_24_hour_send=max_24_hour_send,
        pending_identities=pending_identities,
        ooto_bounce=ooto_bounce,
        feedback_delay=feedback_delay,
        latency=latency,
        smtp_port=smtp_port,
        smtps_port=smtps_port,
        tls_cert=tls_cert,
        tls_key=tls_key,
        verbose=verbose,
    )
