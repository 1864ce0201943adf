"""The demo as one call: set up the pipeline, send to every mailbox simulator case, apply the
feedback, and compare each outcome with what AWS documents (``courrier demo`` shows it).

It runs wherever ``config`` points: AWS itself, or an AWS-compatible endpoint such as the
sandbox (courrier-sandbox). Nothing here changes the process's environment.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from courrier.aws.clients import AwsConfig
from courrier.aws.ses import SesClient
from courrier.aws.sqs import SqsQueue
from courrier.errors import ConfigurationError
from courrier.feedback.events import Event
from courrier.feedback.worker import Worker
from courrier.message import Attachment, Message
from courrier.provisioning import Aws, setup
from courrier.sending import Mailer
from courrier.settings import Settings
from courrier.statuses import RecipientStatus, SuppressionReason
from courrier.store import Store

__all__ = ["CASES", "EXPECTED_SUPPRESSIONS", "Case", "CaseResult", "DemoReport", "run_demo"]

SIM = "simulator.amazonses.com"
#: The EICAR antivirus test string: SES accepts the send, then rejects it
#: (docs/ses.md#mailbox-simulator).
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
#: A recipient outside the simulator, verified when the account is in the SES sandbox.
UNICODE_DOMAIN = "xn--mnchen-3ya.example"


@dataclass(frozen=True)
class Case:
    """One mailbox simulator case: who it sends to, the events AWS documents for it (through
    event publishing) and the recipient's status in the store afterwards."""

    label: str
    recipient: str | tuple[str, str]
    events: tuple[str, ...]
    status: RecipientStatus
    attachment: bool = False


CASES = (
    Case("success", f"success@{SIM}", ("Send", "Delivery"), RecipientStatus.DELIVERED),
    Case("bounce", f"bounce@{SIM}", ("Send", "Bounce Permanent/General"), RecipientStatus.BOUNCED),
    Case(
        "ooto",
        f"ooto@{SIM}",
        ("Send", "Delivery", "Bounce Transient/General"),
        RecipientStatus.DELIVERED,
    ),
    Case(
        "complaint",
        f"complaint@{SIM}",
        ("Send", "Delivery", "Complaint abuse"),
        RecipientStatus.COMPLAINED,
    ),
    Case(
        "suppressionlist",
        f"suppressionlist@{SIM}",
        ("Send", "Bounce Permanent/Suppressed"),
        RecipientStatus.BOUNCED,
    ),
    Case(
        "unicode",
        ("Jörg Müller", "kunde@münchen.example"),
        ("Send", "Delivery"),
        RecipientStatus.DELIVERED,
    ),
    Case(
        "eicar",
        "qa@münchen.example",
        ("Send", "Reject Bad content"),
        RecipientStatus.REJECTED,
        attachment=True,
    ),
)
EXPECTED_SUPPRESSIONS = {
    f"bounce@{SIM}": SuppressionReason.BOUNCE,
    f"suppressionlist@{SIM}": SuppressionReason.BOUNCE,
    f"complaint@{SIM}": SuppressionReason.COMPLAINT,
}
_KINDS = ("Send", "Delivery", "Bounce", "Complaint", "Reject")


@dataclass(frozen=True)
class CaseResult:
    """What became of one case's message."""

    case: Case
    #: The recipient as the store recorded it ("?" when the record is missing).
    address: str
    #: The events applied, as "Kind Subtype".
    seen: tuple[str, ...]
    #: The recipient's status in the store ("?" when the record is missing).
    status: str

    @property
    def ok(self) -> bool:
        """Whether the events and the status are the ones AWS documents."""
        return sorted(self.seen) == sorted(self.case.events) and self.status == self.case.status


@dataclass(frozen=True)
class DemoReport:
    """The demo's outcome: the setup's changes, each case, and the suppression list."""

    changes: int
    queue_url: str
    cases: tuple[CaseResult, ...]
    #: address -> reason, the local suppression list afterwards.
    suppressions: dict[str, str]

    @property
    def suppressions_ok(self) -> bool:
        """Whether the suppression list is the one the cases should leave."""
        return self.suppressions == EXPECTED_SUPPRESSIONS

    @property
    def ok(self) -> bool:
        """Whether every outcome is the one AWS documents."""
        return self.suppressions_ok and all(result.ok for result in self.cases)


def run_demo(
    config: AwsConfig,
    folder: Path,
    *,
    identity: str = "bücher.example",
    timeout: float = 60.0,
    on_setup: Callable[[int, str], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> DemoReport:
    """Set up the pipeline (prefix ``courrier-demo``) where ``config`` points, send one message
    to each of :data:`CASES` from ``identity``, record them in the SQLite store in ``folder``,
    apply the feedback until every expected event came or ``timeout`` seconds passed.

    ``on_setup(changes, queue_url)`` is called once the pipeline is set up, ``on_progress(seen,
    expected)`` after each event. :class:`~courrier.errors.ConfigurationError` when the store
    in ``folder`` already suppresses a case's recipient (an earlier demo ran there): its
    message would not be sent.
    """
    aws = Aws(config)
    report = setup(aws, identity, route="events", prefix="courrier-demo")
    if report.queue_url is None:
        raise ConfigurationError("setup left no feedback queue; run courrier doctor")
    changes = sum(c.action != "unchanged" for c in report.changes)
    if on_setup is not None:
        on_setup(changes, report.queue_url)
    if not aws.call("sesv2", "GetAccount").get("ProductionAccessEnabled"):
        # In the SES sandbox every recipient outside the simulator must be verified
        # (https://docs.aws.amazon.com/ses/latest/dg/request-production-access.html).
        aws.maybe(
            "sesv2", "CreateEmailIdentity", "AlreadyExistsException", EmailIdentity=UNICODE_DOMAIN
        )
    folder.mkdir(parents=True, exist_ok=True)
    store = Store(f"sqlite:///{folder / 'courrier.db'}")
    try:
        settings = Settings(
            database_url=str(store.engine.url),
            configuration_set=report.resources.configuration_set,
        )
        already = store.suppressed_among(_address(case) for case in CASES)
        if already:
            raise ConfigurationError(
                f"the demo's store in {folder} already suppresses {', '.join(sorted(already))} "
                "(an earlier demo ran there): choose another --workdir"
            )
        sent = _send(Mailer(store, SesClient(config), settings=settings), identity)
        seen = _collect(store, SqsQueue(report.queue_url, config), sent, timeout, on_progress)
        return DemoReport(
            changes=changes,
            queue_url=report.queue_url,
            cases=tuple(
                _result(store, case, record, seen[ses]) for ses, (case, record) in sent.items()
            ),
            suppressions={s.address: s.reason for s in store.suppressions()},
        )
    finally:
        store.close()


def _address(case: Case) -> str:
    return case.recipient if isinstance(case.recipient, str) else case.recipient[1]


def _send(mailer: Mailer, identity: str) -> dict[str, tuple[Case, int]]:
    """SES message id -> (case, record id) for each case's message."""
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
        if result.ses_message_id is None:
            # Suppressed after the check above: another process suppressed it meanwhile.
            raise ConfigurationError(
                f"the demo's message to {_address(case)} was not sent ({result.status})"
            )
        sent[result.ses_message_id] = (case, result.id)
    return sent


def _collect(
    store: Store,
    queue: SqsQueue,
    sent: dict[str, tuple[Case, int]],
    timeout: float,
    on_progress: Callable[[int, int], None] | None,
) -> dict[str, list[str]]:
    """Apply the queue's feedback until every case's events came or ``timeout`` passed."""
    seen: dict[str, list[str]] = {message_id: [] for message_id in sent}
    expected = sum(len(case.events) for case, _ in sent.values())
    worker: Worker

    def collect(event: Event) -> None:
        if event.ses_message_id in seen:
            seen[event.ses_message_id].append(f"{event.kind} {event.subtype or ''}".strip())
        got = sum(len(v) for v in seen.values())
        if on_progress is not None:
            on_progress(got, expected)
        if got >= expected:
            worker.stop()

    worker = Worker(queue, store, wait_seconds=1, hooks={kind: [collect] for kind in _KINDS})
    deadline = threading.Timer(timeout, worker.stop)
    deadline.start()
    try:
        worker.run()
    finally:
        deadline.cancel()
    return seen


def _result(store: Store, case: Case, record_id: int, seen: list[str]) -> CaseResult:
    record = store.message(record_id)
    recipient = record.recipients[0] if record and record.recipients else None
    return CaseResult(
        case,
        recipient.address if recipient else "?",
        tuple(seen),
        recipient.status if recipient else "?",
    )
