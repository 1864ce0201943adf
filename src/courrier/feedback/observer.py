"""Hooks into the worker's loop, for metrics and the reputation guard.

An observer overrides the hooks it needs; each is a no-op here. The worker calls them in the
order below for each poll; an observer that raises is logged and ignored, never allowed to
stop the worker or undo a stored batch. With ``concurrency`` above 1 they come from several
threads: calls to one hook are made one at a time, but two different hooks may run at once
(``polled`` from a receiver while ``applied`` runs for a transaction), other polls' hooks
come between a poll's and its ``applied``, and ``applied`` is called once per committed
transaction, which may hold several polls' messages.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from courrier.errors import AwsError, CourrierError, StoreError
from courrier.feedback.apply import Applied

__all__ = ["Observers", "WorkerObserver"]

log = logging.getLogger(__name__)


class WorkerObserver:
    def polled(self, received: int) -> None:
        """A receive returned ``received`` messages (0 on an empty poll)."""

    def poll_failed(self, error: AwsError) -> None:
        """A receive failed; the worker waits and polls again."""

    def rejected(self, message_id: str, error: CourrierError) -> None:
        """A message was left on the queue for its redrive policy (the dead-letter queue):
        undecodable or untrusted (a FeedbackError), or refused by the store (InvalidRecord)."""

    def store_failed(self, error: StoreError) -> None:
        """Applying a batch failed; it is kept and retried."""

    def applied(self, applied: Applied) -> None:
        """A batch was committed (called before its messages are deleted from SQS)."""

    def stopped(self) -> None:
        """The run ended (stopped, idle, or failed): finish anything deferred."""


class Observers(WorkerObserver):
    """Several observers as one; a failing observer is logged and skipped."""

    def __init__(self, observers: Iterable[WorkerObserver] = ()) -> None:
        self.observers = list(observers)
        # One lock per hook: a receiver's ``polled`` never waits for a long ``applied``.
        self._locks = {
            hook: threading.RLock()
            for hook in ("polled", "poll_failed", "rejected", "store_failed", "applied", "stopped")
        }

    def _each(self, hook: str, *args: object) -> None:
        with self._locks[hook]:
            self._each_unlocked(hook, *args)

    def _each_unlocked(self, hook: str, *args: object) -> None:
        for observer in self.observers:
            try:
                getattr(observer, hook)(*args)
            except Exception:  # an observer must never stop the worker
                log.exception("worker observer %r failed in %s", observer, hook)

    def polled(self, received: int) -> None:
        self._each("polled", received)

    def poll_failed(self, error: AwsError) -> None:
        self._each("poll_failed", error)

    def rejected(self, message_id: str, error: CourrierError) -> None:
        self._each("rejected", message_id, error)

    def store_failed(self, error: StoreError) -> None:
        self._each("store_failed", error)

    def applied(self, applied: Applied) -> None:
        self._each("applied", applied)

    def stopped(self) -> None:
        self._each("stopped")
