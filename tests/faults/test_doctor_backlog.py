"""Fault: a doctor run must not touch feedback that is waiting for the worker.

Every receive of a message counts toward the queue's ``maxReceiveCount`` (docs/ses.md#sqs); a probe
that looked at the live queue moved a backlog into the dead-letter queue.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from courrier import Mailer, Message, Settings, Store, Worker
from courrier.aws.ses import SesClient
from courrier.aws.sqs import QueueMessage, SqsQueue
from courrier.provisioning import Aws, DoctorTarget, doctor, setup
from tests.conftest import SandboxClient

IDENTITY = "sender@example.com"
BACKLOG = 50


def everything_on(queue: SqsQueue) -> list[QueueMessage]:
    """Every visible message, each received once (and so hidden for 30 s)."""
    found: list[QueueMessage] = []
    while batch := queue.receive(max_messages=10, wait_seconds=0):
        found.extend(batch)
    return found


def test_three_doctor_runs_leave_a_backlog_of_fifty_untouched(
    sandbox: SandboxClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.url)
    aws = Aws()
    report = setup(aws, IDENTITY, route="notifications", prefix="backlog")
    assert report.queue_url is not None
    assert report.dlq_url is not None
    sandbox.receive_all(report.queue_url)  # the messages SES publishes when a topic is attached
    store = Store(f"sqlite:///{tmp_path}/courrier.db")
    mailer = Mailer(store, SesClient(), settings=Settings(max_send_rate=1000.0))
    sent = [
        mailer.send(
            Message(
                sender=IDENTITY,
                to=[f"success+backlog{n}@simulator.amazonses.com"],
                subject="backlog",
                text="t",
            )
        ).ses_message_id
        for n in range(BACKLOG)
    ]
    sandbox.drain()
    queue, dead_letters = SqsQueue(report.queue_url), SqsQueue(report.dlq_url)
    assert queue.attributes("ApproximateNumberOfMessages") == {
        "ApproximateNumberOfMessages": str(BACKLOG)
    }

    target = DoctorTarget(
        IDENTITY, report.resources.topic_arn, report.queue_url, configuration_set=None
    )
    for _ in range(3):
        checks = {c.name: c for c in doctor(aws, target, probe_timeout=10)}
        assert checks["end-to-end probe"].status == "ok", checks["end-to-end probe"]
    sandbox.drain()

    assert everything_on(dead_letters) == []
    on_queue = everything_on(queue)
    backlog = [m for m in on_queue if any(str(ses_id) in m.body for ses_id in sent)]
    assert len(backlog) == BACKLOG
    # Received once, by this read: no doctor run looked at them.
    assert {m.receive_count for m in backlog} == {1}
    # The real queue is subscribed too, so each probe's own feedback lands there as well.
    assert len(on_queue) == BACKLOG + 3

    for start in range(0, len(on_queue), 10):  # visible again, for the worker
        sandbox.sqs.change_message_visibility_batch(
            QueueUrl=report.queue_url,
            Entries=[
                {"Id": str(n), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": 0}
                for n, m in enumerate(on_queue[start : start + 10])
            ],
        )
    stats = Worker(queue, store, wait_seconds=0).run(until_idle=True)
    assert stats.deleted == BACKLOG + 3
    for ses_id in sent:
        record = store.message_by_ses_id(str(ses_id))
        assert record is not None
        assert [r.status for r in record.recipients] == ["delivered"]
    store.close()
