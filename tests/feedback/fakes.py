"""Stand-ins for the parts of the worker's queue that a test does not need SQS for."""

from __future__ import annotations

from courrier.aws.sqs import QueueMessage


class ListQueue:
    """The two queue calls the worker makes, over a list (no SQS needed for this test)."""

    def __init__(self) -> None:
        self.deleted: list[str] = []

    def delete(self, messages: list[QueueMessage]) -> list[str]:
        self.deleted.extend(m.message_id for m in messages)
        return []
