"""The SQS adapter the worker uses: long-poll receive and checked batch delete."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from courrier.aws.clients import AwsConfig, client
from courrier.aws.errors import translate


@dataclass(frozen=True)
class QueueMessage:
    message_id: str
    receipt_handle: str
    body: str
    receive_count: int


class Queue(Protocol):
    """The queue the worker reads: :class:`SqsQueue`, or a stand-in that needs no SQS."""

    def receive(self, *, max_messages: int = 10, wait_seconds: int = 20) -> list[QueueMessage]:
        """Up to ``max_messages`` messages, waiting up to ``wait_seconds`` for the first."""
        ...

    def delete(self, messages: list[QueueMessage]) -> list[str]:
        """Delete ``messages``; returns the ids of those that could not be deleted."""
        ...


class SqsApi(Protocol):
    """The calls :class:`SqsQueue` makes, as boto3's SQS client takes them (structured and
    enumerated parameters left to the API's types); a stand-in answers the same."""

    def receive_message(
        self,
        *,
        QueueUrl: str,
        MaxNumberOfMessages: int = ...,
        WaitTimeSeconds: int = ...,
        VisibilityTimeout: int = ...,
        MessageSystemAttributeNames: Sequence[Any] = ...,
    ) -> Mapping[str, Any]: ...

    def delete_message_batch(
        self, *, QueueUrl: str, Entries: Sequence[Any]
    ) -> Mapping[str, Any]: ...

    def get_queue_attributes(
        self, *, QueueUrl: str, AttributeNames: Sequence[Any] = ...
    ) -> Mapping[str, Any]: ...


class SqsQueue:
    """One SQS queue, as the worker and the metrics read it; errors come out as courrier's."""

    def __init__(
        self, queue_url: str, config: AwsConfig | None = None, *, sqs: SqsApi | None = None
    ) -> None:
        self.url = queue_url
        self._sqs = sqs if sqs is not None else client("sqs", config)

    def receive(
        self,
        *,
        max_messages: int = 10,
        wait_seconds: int = 20,
        visibility_timeout: int | None = None,
    ) -> list[QueueMessage]:
        params: dict[str, Any] = {
            "QueueUrl": self.url,
            "MaxNumberOfMessages": max_messages,
            "WaitTimeSeconds": wait_seconds,
            "MessageSystemAttributeNames": ["ApproximateReceiveCount"],
        }
        if visibility_timeout is not None:
            params["VisibilityTimeout"] = visibility_timeout
        with translate("ReceiveMessage"):
            response = self._sqs.receive_message(**params)
        return [
            QueueMessage(
                message_id=m["MessageId"],
                receipt_handle=m["ReceiptHandle"],
                body=m["Body"],
                receive_count=int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1")),
            )
            for m in response.get("Messages", [])
        ]

    def delete(self, messages: list[QueueMessage]) -> list[str]:
        """Delete in batches of 10; returns the ids SQS reported as Failed (docs/ses.md#sqs)."""
        failed: list[str] = []
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            entries = [
                {"Id": str(n), "ReceiptHandle": m.receipt_handle} for n, m in enumerate(chunk)
            ]
            with translate("DeleteMessageBatch"):
                response = self._sqs.delete_message_batch(QueueUrl=self.url, Entries=entries)
            failed.extend(chunk[int(f["Id"])].message_id for f in response.get("Failed", []))
        return failed

    def attributes(self, *names: str) -> dict[str, str]:
        with translate("GetQueueAttributes"):
            response = self._sqs.get_queue_attributes(
                QueueUrl=self.url, AttributeNames=list(names) or ["All"]
            )
        return dict(response.get("Attributes", {}))
