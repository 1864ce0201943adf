"""Stand-ins for the parts of the worker's queue that a test does not need SQS for."""

from __future__ import annotations

import threading

from courrier.aws.sqs import QueueMessage


class ListQueue:
    """The queue calls the worker makes, over a list (no SQS needed for this test): each
    message is received once."""

    def __init__(self, messages: list[QueueMessage] | None = None) -> None:
        self.deleted: list[str] = []
        self._waiting = list(messages or [])
        self._lock = threading.Lock()

    def receive(self, *, max_messages: int = 10, wait_seconds: int = 20) -> list[QueueMessage]:
        with self._lock:
            batch, self._waiting = self._waiting[:max_messages], self._waiting[max_messages:]
        return batch

    def delete(self, messages: list[QueueMessage]) -> list[str]:
        with self._lock:
            self.deleted.extend(m.message_id for m in messages)
        return []
