"""The sandbox's SQS under concurrent receives: a message is never in two receives at once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import boto3
import pytest
from botocore.config import Config

from courrier_sandbox.sns_sqs.indexed_sqs import QueueIndex
from tests.conftest import REGION, SandboxClient


def test_concurrent_receives_never_share_a_message(
    sandbox: SandboxClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    ready = QueueIndex.ready

    def slow_ready(self: QueueIndex, count: int) -> list[Any]:
        found = ready(self, count)
        time.sleep(0.002)  # a thread switch between finding messages and taking them
        return found

    monkeypatch.setattr(QueueIndex, "ready", slow_ready)
    sqs: Any = boto3.client(
        "sqs", endpoint_url=sandbox.url, region_name=REGION, config=Config(max_pool_connections=20)
    )
    queue = sqs.create_queue(QueueName="concurrent", Attributes={"VisibilityTimeout": "300"})[
        "QueueUrl"
    ]
    total = 500
    for start in range(0, total, 10):
        sqs.send_message_batch(
            QueueUrl=queue,
            Entries=[{"Id": str(n), "MessageBody": f"m{start + n}"} for n in range(10)],
        )
    seen: Counter[str] = Counter()
    lock = threading.Lock()

    def receive() -> None:
        while True:
            found = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages")
            if not found:
                return
            with lock:
                seen.update(m["MessageId"] for m in found)

    threads = [threading.Thread(target=receive) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == total
    assert max(seen.values()) == 1  # none received twice within its visibility timeout
