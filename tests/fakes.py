"""Stand-ins for courrier's boundaries (the clock, the SQS queue, boto3's SES client), each
checked by mypy against the protocol it stands in for, and a wait on a condition."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from courrier.aws.ses import ClientMeta, SesApi
from courrier.aws.sqs import Queue, QueueMessage, SqsApi
from courrier.clock import Clock, Sleep

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sqs import SQSClient

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T | None], timeout: float = 10.0, interval: float = 0.05, what: str = ""
) -> T:
    """Poll ``predicate`` every ``interval`` seconds until it returns something true, and
    return that; fail after ``timeout`` seconds. A test waits for what it needs, never for a
    guessed duration. A predicate often asks the sandbox or a database: polling much faster
    would only take time from what the test waits for."""
    deadline = time.monotonic() + timeout
    while True:
        found = predicate()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what or predicate}")
        time.sleep(interval)


class FakeClock:
    """A clock that moves only when slept on: every wait is recorded and returns at once."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class Sleeps(list[float]):
    """A sleep that returns at once and records what it was asked to wait."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


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


class _Meta:
    endpoint_url = "https://email.eu-west-1.amazonaws.com"
    region_name = "eu-west-1"


class SesApiStandIn:
    """boto3's ``sesv2`` client, for a test that mocks AWS itself: every call fails the test
    unless a subclass answers it."""

    meta: ClientMeta = _Meta()

    def _unexpected(self, name: str) -> Mapping[str, Any]:
        raise AssertionError(f"{type(self).__name__} was not expected to call {name}")

    def send_email(self, **params: Any) -> Mapping[str, Any]:
        return self._unexpected("SendEmail")

    def send_bulk_email(self, **params: Any) -> Mapping[str, Any]:
        return self._unexpected("SendBulkEmail")

    def create_email_template(self, **params: Any) -> Mapping[str, Any]:
        return self._unexpected("CreateEmailTemplate")

    def update_email_template(self, **params: Any) -> Mapping[str, Any]:
        return self._unexpected("UpdateEmailTemplate")

    def get_email_template(self, **params: Any) -> Mapping[str, Any]:
        return self._unexpected("GetEmailTemplate")

    def list_email_templates(self, **params: Any) -> Mapping[str, Any]:
        return self._unexpected("ListEmailTemplates")

    def test_render_email_template(self, **params: Any) -> Mapping[str, Any]:
        return self._unexpected("TestRenderEmailTemplate")

    def get_account(self) -> Mapping[str, Any]:
        return self._unexpected("GetAccount")

    def list_suppressed_destinations(self, **params: Any) -> Mapping[str, Any]:
        return self._unexpected("ListSuppressedDestinations")

    def put_suppressed_destination(self, **params: Any) -> Mapping[str, Any]:
        return self._unexpected("PutSuppressedDestination")

    def get_tenant(self, **params: Any) -> Mapping[str, Any]:
        return self._unexpected("GetTenant")

    def get_reputation_entity(self, **params: Any) -> Mapping[str, Any]:
        return self._unexpected("GetReputationEntity")


# Checked by mypy: each stand-in is what it stands in for.
_clock: Clock = FakeClock()
_sleep: Sleep = FakeClock().sleep
_sleeps: Sleep = Sleeps()
_queue: Queue = ListQueue()
_ses: SesApi = SesApiStandIn()


def _boto3_clients_conform(ses: SESV2Client, sqs: SQSClient) -> tuple[SesApi, SqsApi]:
    """Checked by mypy, never called: boto3's clients (typed by their stubs) are what
    :class:`SesClient` and :class:`SqsQueue` call."""
    return ses, sqs
