"""Real sandbox traffic with a known mix of outcomes, applied by the real worker.

200 messages through the Mailer and the sandbox (production mode, events route), then every
notification applied from SQS by :class:`~courrier.feedback.worker.Worker`. The expected
figures below follow from the groups and from how SES counts (courrier.reputation.stats).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from courrier.aws.ses import SesClient
from courrier.aws.sqs import SqsQueue
from courrier.feedback.observer import WorkerObserver
from courrier.feedback.worker import Worker
from courrier.message import Attachment, Message
from courrier.sending import Mailer, Pacer
from courrier.store import Store
from tests.conftest import SENDER, SandboxClient
from tests.sandbox.helpers import CONFIG_SET, events_route

SIM = "simulator.amazonses.com"
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


@dataclass(frozen=True)
class Group:
    name: str
    messages: list[list[str]]  # the recipients of each message
    eicar: bool = False


def groups() -> list[Group]:
    def many(count: int, pattern: str) -> list[list[str]]:
        return [[pattern.format(n=n)] for n in range(count)]

    return [
        Group("success", many(60, f"success+{{n}}@{SIM}")),
        Group("bounce", many(10, f"bounce+{{n}}@{SIM}")),
        Group("ooto", many(5, f"ooto+{{n}}@{SIM}")),
        Group("complaint", many(4, f"complaint+{{n}}@{SIM}")),
        Group("suppressionlist", many(3, f"suppressionlist+{{n}}@{SIM}")),
        Group("ordinary", many(78, "reader{n}@example.com")),
        Group("gmail", many(20, "reader{n}@gmail.com")),
        Group("account-listed", many(8, "listed{n}@example.net")),
        Group("locally-suppressed", many(5, "gone{n}@example.com")),
        Group("eicar", many(2, "scanned{n}@example.com"), eicar=True),
        Group("pairs", [[f"pair{n}@example.com", f"pair{n}@gmail.com"] for n in range(3)]),
        Group("mixed", [[f"mixed{n}@example.com", f"gone{n}@example.com"] for n in range(2)]),
    ]


#: Every figure of the scenario with SES's counting (simulator traffic left out).
EXPECTED = {
    "messages": 195,  # 200 sends less the 5 whose only recipient was suppressed
    "recipients": 198,
    "delivered": 175,  # success 60 + ooto 5 + complaint 4 + ordinary 78 + gmail 20 + 6 + 2
    "hard_bounces": 21,  # bounce 10 + suppressionlist 3 + account-listed 8
    "soft_bounces": 0,
    "auto_replies": 5,
    "complaints": 4,
    "rejects": 2,
    "rendering_failures": 0,
    "suppressed_at_send": 7,  # locally-suppressed 5 + the second recipient of "mixed"
    "account_suppressed": 8,
    "simulator": 82,
    "counted_recipients": 106,  # 198 - simulator 82 - account-listed 8 - rejected 2
    "counted_hard_bounces": 0,
    "complaint_recipients": 83,  # 106 - gmail 20 - the 3 gmail halves of "pairs"
    "counted_complaints": 0,
    "bounce_rate": 0.0,
    "complaint_rate": 0.0,
}
#: The same traffic with ``reputation_count_simulator`` on.
EXPECTED_WITH_SIMULATOR = {
    **EXPECTED,
    "counted_recipients": 188,
    "counted_hard_bounces": 13,
    "complaint_recipients": 165,
    "counted_complaints": 4,
    "bounce_rate": 13 / 188,
    "complaint_rate": 4 / 165,
}


def prepare(sandbox: SandboxClient, store: Store) -> str:
    """Production mode, the events route, the account list and the local list; the queue."""
    sandbox.set_account(production=True)
    pipeline = sandbox.pipeline()
    events_route(sandbox, pipeline)
    for n in range(8):
        sandbox.sesv2.put_suppressed_destination(
            EmailAddress=f"listed{n}@example.net", Reason="BOUNCE"
        )
    for n in range(5):
        store.suppress(f"gone{n}@example.com", reason="manual", source="manual")
    return pipeline.queue_url


def send(store: Store, messages: Iterable[tuple[list[str], bool]], *, bulk: bool = False) -> None:
    mailer = Mailer(store, SesClient(), pacer=Pacer(1000))
    for recipients, eicar in messages:
        mailer.send(
            Message(
                sender=SENDER,
                to=[*recipients],
                subject="scenario",
                text="x",
                configuration_set=CONFIG_SET,
                attachments=[Attachment("eicar.com.txt", EICAR, "text/plain")] if eicar else [],
                bulk=bulk,
            )
        )


def apply_feedback(
    sandbox: SandboxClient, store: Store, queue_url: str, observers: Iterable[WorkerObserver] = ()
) -> Worker:
    sandbox.drain()
    worker = Worker(SqsQueue(queue_url), store, wait_seconds=0, observers=observers)
    worker.run(until_idle=True)
    return worker


def run(sandbox: SandboxClient, store: Store) -> dt.datetime:
    """The whole scenario; returns when it started."""
    started = dt.datetime.now(dt.UTC)
    queue_url = prepare(sandbox, store)
    send(store, [(m, g.eicar) for g in groups() for m in g.messages])
    apply_feedback(sandbox, store, queue_url)
    return started
