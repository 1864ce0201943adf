"""Worker observers: called at each step, and never able to stop the worker."""

from __future__ import annotations

import pytest

from courrier.aws.sqs import SqsQueue
from courrier.errors import CourrierError
from courrier.feedback.apply import Applied
from courrier.feedback.observer import WorkerObserver
from courrier.feedback.worker import Worker
from courrier.store import Store
from tests.conftest import SandboxClient
from tests.feedback.test_worker import bounce_body, publish_raw


class Recorder(WorkerObserver):
    def __init__(self) -> None:
        self.calls: list[str] = []

    def polled(self, received: int) -> None:
        self.calls.append(f"polled {received}")

    def rejected(self, message_id: str, error: CourrierError) -> None:
        self.calls.append("rejected")

    def applied(self, applied: Applied) -> None:
        self.calls.append(f"applied {len(applied.stored)}")


class Broken(WorkerObserver):
    def applied(self, applied: Applied) -> None:
        raise RuntimeError("observer bug")


def test_hooks_in_order_and_a_broken_observer_is_skipped(
    sandbox: SandboxClient, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    pipeline = sandbox.pipeline()
    publish_raw(sandbox, pipeline, [bounce_body(1), "not feedback", bounce_body(2)])
    recorder = Recorder()
    worker = Worker(
        SqsQueue(pipeline.queue_url, sqs=sandbox.sqs),
        store,
        wait_seconds=0,
        observers=[Broken(), recorder],
    )
    worker.run(until_idle=True)
    assert recorder.calls == ["polled 3", "rejected", "applied 2", "polled 0"]
    assert worker.stats.deleted == 2  # the broken observer undid nothing
    assert {s.address for s in store.suppressions()} == {"user1@example.net", "user2@example.net"}
    assert "worker observer" in caplog.text
