"""``courrier demo``: setup, send, consume, report; offline in the sandbox by default."""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from courrier.aws.clients import AwsConfig
from courrier.aws.ses import SesClient
from courrier.aws.sqs import SqsQueue
from courrier.cli.common import handles_errors
from courrier.extras import needs_extra
from courrier.feedback.events import Event
from courrier.feedback.worker import Worker
from courrier.message import Attachment, Message
from courrier.provisioning import Aws, setup
from courrier.sending import Mailer
from courrier.settings import Settings
from courrier.store import Store

SIM = "simulator.amazonses.com"
#: The EICAR antivirus test string: SES accepts the send, then rejects it
#: (docs/ses.md#mailbox-simulator).
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


@dataclass(frozen=True)
class Case:
    label: str
    recipient: str | tuple[str, str]
    events: tuple[str, ...]  # what AWS documents, event publishing route
    status: str  # the recipient's status in the store afterwards
    attachment: bool = False


CASES = (
    Case("success", f"success@{SIM}", ("Send", "Delivery"), "delivered"),
    Case("bounce", f"bounce@{SIM}", ("Send", "Bounce Permanent/General"), "bounced"),
    Case("ooto", f"ooto@{SIM}", ("Send", "Delivery", "Bounce Transient/General"), "delivered"),
    Case("complaint", f"complaint@{SIM}", ("Send", "Delivery", "Complaint abuse"), "complained"),
    Case(
        "suppressionlist",
        f"suppressionlist@{SIM}",
        ("Send", "Bounce Permanent/Suppressed"),
        "bounced",
    ),
    Case("unicode", ("Jörg Müller", "kunde@münchen.example"), ("Send", "Delivery"), "delivered"),
    Case(
        "eicar", "qa@münchen.example", ("Send", "Reject Bad content"), "rejected", attachment=True
    ),
)
EXPECTED_SUPPRESSIONS = {
    f"bounce@{SIM}": "bounce",
    f"suppressionlist@{SIM}": "bounce",
    f"complaint@{SIM}": "complaint",
}


@contextlib.contextmanager
def _endpoint(endpoint: str | None, use_aws: bool, console: Console) -> Iterator[None]:
    """Point boto3's standard chain at the sandbox unless AWS was asked for."""
    if use_aws or endpoint:
        with _environ({"AWS_ENDPOINT_URL": endpoint} if endpoint else {}):
            yield
        return
    with needs_extra("sandbox", "courrier demo (offline; --aws or --endpoint run without it)"):
        from courrier_sandbox import Sandbox, SesOptions

    with Sandbox(options=SesOptions(max_send_rate=10)) as url:
        console.print(f"sandbox running at {url} (SES, SNS and SQS offline)")
        with _environ(
            {
                "AWS_ENDPOINT_URL": url,
                "AWS_ACCESS_KEY_ID": "demo",
                "AWS_SECRET_ACCESS_KEY": "demo",
                "AWS_DEFAULT_REGION": "us-east-1",
            }
        ):
            yield


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@click.command()
@click.option("--endpoint", help="Run against this AWS-compatible endpoint instead.")
@click.option("--aws", "use_aws", is_flag=True, help="Run against AWS (standard AWS settings).")
@click.option(
    "--identity",
    default="bücher.example",
    show_default=True,
    help="Sender domain (must be verifiable where the demo runs).",
)
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for feedback.")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the demo's SQLite store goes (default: a temporary folder).",
)
@handles_errors
def demo(
    endpoint: str | None, use_aws: bool, identity: str, timeout: float, workdir: Path | None
) -> None:
    """Set up the pipeline, send to every simulator case, apply the feedback, show the outcome.

    Exits 0 only when every outcome is the one AWS documents.
    """
    console = Console()
    if not console.is_terminal:
        # Piped or logged output: wide enough that each outcome stays on one line.
        console = Console(width=140)
    with contextlib.ExitStack() as stack:
        folder = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        folder.mkdir(parents=True, exist_ok=True)
        stack.enter_context(_endpoint(endpoint, use_aws, console))
        ok = _run(console, identity, folder, timeout)
    # The dashboard shows what the demo left in its store (a temporary one is gone by now).
    store_url = f"sqlite:///{folder / 'courrier.db'}" if workdir else "sqlite:///demo/courrier.db"
    console.print(
        f"next: {'' if workdir else 'courrier demo --workdir demo && '}"
        f"courrier --database-url {store_url} dashboard"
    )
    if not ok:
        raise click.ClickException("some outcomes differ from what AWS documents")


def _run(console: Console, identity: str, folder: Path, timeout: float) -> bool:
    aws = Aws(AwsConfig())
    report = setup(aws, identity, route="events", prefix="courrier-demo")
    console.print(
        f"setup: {sum(c.action != 'unchanged' for c in report.changes)} changes, "
        f"queue {report.queue_url}"
    )
    if not aws.call("sesv2", "GetAccount").get("ProductionAccessEnabled"):
        # In the SES sandbox every recipient outside the simulator must be verified.
        aws.maybe(
            "sesv2",
            "CreateEmailIdentity",
            "AlreadyExistsException",
            EmailIdentity="xn--mnchen-3ya.example",
        )
    store = Store(f"sqlite:///{folder / 'courrier.db'}")
    settings = Settings(
        database_url=str(store.engine.url), configuration_set=report.resources.configuration_set
    )
    mailer = Mailer(store, SesClient(), settings=settings)
    sender = ("Zoë Ünïcødé", f"demo@{identity}")
    sent: dict[str, tuple[Case, int]] = {}
    for case in CASES:
        result = mailer.send(
            Message(
                sender=sender,
                to=[case.recipient],
                subject=f"courrier demo: {case.label}",
                text="Bonjour de courrier.",
                html="<p>Bonjour de <b>courrier</b>.</p>",
                attachments=[Attachment("eicar.com.txt", EICAR, "text/plain")]
                if case.attachment
                else [],
            )
        )
        assert result.ses_message_id is not None
        sent[result.ses_message_id] = (case, result.id)
    assert report.queue_url is not None
    seen: dict[str, list[str]] = {message_id: [] for message_id in sent}

    expected = sum(len(case.events) for case, _ in sent.values())
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("waiting for SES feedback", total=expected)
        worker: Worker

        def collect(event: Event) -> None:
            if event.ses_message_id in seen:
                seen[event.ses_message_id].append(f"{event.kind} {event.subtype or ''}".strip())
            got = sum(len(v) for v in seen.values())
            progress.update(task, completed=got)
            if got >= expected:
                worker.stop()

        kinds = ("Send", "Delivery", "Bounce", "Complaint", "Reject")
        worker = Worker(
            SqsQueue(report.queue_url),
            store,
            wait_seconds=1,
            hooks={kind: [collect] for kind in kinds},
        )
        deadline = threading.Timer(timeout, worker.stop)
        deadline.start()
        try:
            worker.run()
        finally:
            deadline.cancel()
    return _report(console, store, sent, seen)


def _report(
    console: Console, store: Store, sent: dict[str, tuple[Case, int]], seen: dict[str, list[str]]
) -> bool:
    table = Table(title="What happened to each message")
    for column in ("case", "recipient", "feedback", "status", "as documented"):
        table.add_column(column)
    all_ok = True
    for message_id, (case, record_id) in sent.items():
        record = store.message(record_id)
        status = record.recipients[0].status if record and record.recipients else "?"
        address = record.recipients[0].address if record and record.recipients else "?"
        ok = sorted(seen[message_id]) == sorted(case.events) and status == case.status
        all_ok &= ok
        table.add_row(
            case.label,
            address,
            ", ".join(seen[message_id]) or "(none)",
            status,
            "yes" if ok else f"NO (expected {', '.join(case.events)}; {case.status})",
        )
    console.print(table)
    suppressions = {s.address: s.reason for s in store.suppressions()}
    listing = Table(title="Suppression list")
    listing.add_column("address")
    listing.add_column("reason")
    for address, reason in sorted(suppressions.items()):
        listing.add_row(address, reason)
    console.print(listing)
    if suppressions != EXPECTED_SUPPRESSIONS:
        console.print(f"[red]expected suppressions {EXPECTED_SUPPRESSIONS}[/red]")
        all_ok = False
    console.print(
        "[green]every outcome is the one AWS documents[/green]"
        if all_ok
        else "[red]some outcomes differ[/red]"
    )
    return all_ok
