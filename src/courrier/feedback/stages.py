"""The worker's run: receivers, one applier, deleters, joined by bounded queues.

With ``concurrency`` N, a run overlaps its SQS round trips:

* N receiver threads long-poll SQS and decode what they receive (refusing what cannot be
  applied: :meth:`Worker.decode`);
* one applier, the thread that called :meth:`Worker.run`, takes every decoded batch ready
  at that moment (up to ``apply_limit`` messages) and applies them in one transaction: one
  writer keeps SQLite's lock uncontended and the order of commits simple;
* deleter threads delete what was committed (DeleteMessageBatch) while the receivers poll
  and the applier applies.

The queues between the stages are bounded (2N received batches, so that a transaction can
fill up to ``apply_limit``, and 2N delete batches): when the store is slow or down,
receivers wait instead of piling messages up in memory. With N = 1 the one receiver goes
further: it polls again only once its batch is applied and deleted, so the worker takes one
batch at a time (receive, apply, delete, receive ...) and its hooks come in that order.
Exactly once and poison isolation are :meth:`Worker.commit`'s: nothing is deleted that was
not committed. A stop (:meth:`Worker.stop`, SIGTERM) ends the polls; the batches already
received, including those of polls in progress, are applied and deleted before
:meth:`Worker.run` returns. With ``until_idle`` the run ends once every receiver's last
poll was empty and nothing is in hand.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import TYPE_CHECKING

from courrier.aws.sqs import QueueMessage
from courrier.backoff import Backoff
from courrier.errors import AwsError
from courrier.feedback.decode import Decoded

if TYPE_CHECKING:
    from courrier.feedback.worker import Worker

__all__ = ["RECEIVE_BACKOFF", "RECEIVE_BACKOFF_CAP", "Stages"]

log = logging.getLogger(__name__)

#: The longest wait between two receives that failed for a passing reason.
RECEIVE_BACKOFF_CAP = 30.0
#: The wait after each failed receive in a row: 1 s, doubling, at most the cap.
RECEIVE_BACKOFF = Backoff(base=1.0, cap=RECEIVE_BACKOFF_CAP, jitter="none")
#: How often the applier, waiting for work, checks whether the run is over.
_TICK = 0.05

Batch = list[tuple[QueueMessage, Decoded]]


class Stages:
    """One concurrent run of ``worker``; :meth:`run` returns when it is over."""

    def __init__(
        self, worker: Worker, halt: threading.Event, *, until_idle: bool, max_batches: int | None
    ) -> None:
        self.worker = worker
        self.halt = halt
        self.until_idle = until_idle
        self.max_batches = max_batches
        receivers = worker.concurrency
        #: One receiver: one batch at a time, its next poll after its batch is deleted.
        self.lockstep = receivers == 1
        self.ready: queue.Queue[Batch] = queue.Queue(maxsize=2 * receivers)
        self.deletes: queue.Queue[list[QueueMessage] | None] = queue.Queue(maxsize=2 * receivers)
        self._lock = threading.Lock()
        #: Notified whenever messages in hand are deleted or given up.
        self._settled = threading.Condition(self._lock)
        #: Whether each receiver's last poll came back empty.
        self._idle = [False] * receivers
        #: Messages received and decoded but not yet deleted or given up.
        self._in_hand = 0
        self._error: BaseException | None = None
        #: Set when the run fails: what is received from then on is left to SQS.
        self._abandon = threading.Event()
        # Daemons: a run that fails does not wait for long polls to come back.
        self._receivers = [
            threading.Thread(
                target=self._receive, args=(n,), name=f"courrier-receive-{n}", daemon=True
            )
            for n in range(receivers)
        ]
        self._deleters = [
            threading.Thread(target=self._delete, name=f"courrier-delete-{n}")
            for n in range(deleters(receivers))
        ]

    def run(self) -> None:
        """Raises what :meth:`Worker.run` documents: an unusable store, a lasting receive
        error."""
        for thread in (*self._deleters, *self._receivers):
            thread.start()
        try:
            self._apply()
        except BaseException:
            # Not stored, so not deleted: SQS delivers them again.
            self._abandon.set()
            self.halt.set()
            raise
        else:
            for thread in self._receivers:
                thread.join()
        finally:
            for _ in self._deleters:
                self.deletes.put(None)
            for thread in self._deleters:
                thread.join()
        if self._error is not None:
            raise self._error

    # ---------------------------------------------------------------- applier

    def _apply(self) -> None:
        worker = self.worker
        while True:
            try:
                group = self.ready.get(timeout=_TICK)
            except queue.Empty:
                if not any(t.is_alive() for t in self._receivers) and self.ready.empty():
                    return
                self._check_idle()
                continue
            while len(group) + worker.max_messages <= worker.apply_limit:
                try:
                    group.extend(self.ready.get_nowait())
                except queue.Empty:
                    break
            outcome = worker.commit(group)
            done = outcome[1] if outcome is not None else []
            self._settle(len(group) - len(done))
            for start in range(0, len(done), 10):
                self.deletes.put(done[start : start + 10])
            if self.max_batches is not None and worker.stats.batches >= self.max_batches:
                self.halt.set()

    def _check_idle(self) -> None:
        if not self.until_idle:
            return
        with self._lock:
            self._halt_if_idle()

    def _halt_if_idle(self) -> None:
        """With ``until_idle``, end the run once every receiver's last poll was empty and
        nothing is in hand (called holding ``_lock``)."""
        if self.until_idle and all(self._idle) and self._in_hand == 0:
            self.halt.set()

    def _settle(self, count: int) -> None:
        with self._lock:
            self._in_hand -= count
            self._settled.notify_all()

    def _wait_settled(self) -> None:
        """Until the messages in hand are deleted or given up, or the run fails."""
        with self._lock:
            while self._in_hand and not self._abandon.is_set():
                self._settled.wait(_TICK)

    # ---------------------------------------------------------------- receivers

    def _receive(self, index: int) -> None:
        try:
            self._poll(index)
        except BaseException as err:  # a defect: end the run and raise it from Worker.run
            with self._lock:
                self._error = self._error or err
            self.halt.set()

    def _poll(self, index: int) -> None:
        worker = self.worker
        failures = 0
        while not self.halt.is_set():
            try:
                messages = worker.queue.receive(
                    max_messages=worker.max_messages, wait_seconds=worker.wait_seconds
                )
            except AwsError as err:
                if not self._receive_failed(index, err, RECEIVE_BACKOFF.delay(failures)):
                    return
                failures += 1
                continue
            failures = 0
            worker.observer.polled(len(messages))
            if not messages:
                with self._lock:
                    self._idle[index] = True
                    self._halt_if_idle()  # at once: the applier may be waiting on its tick
                if self.halt.is_set():
                    break
                if not worker.wait_seconds:
                    self.halt.wait(1)  # short polling: do not hammer an empty queue
                continue
            good = worker.decode(messages)
            with self._lock:
                self._idle[index] = False
                self._in_hand += len(good)
            while good and not self._abandon.is_set():
                try:
                    self.ready.put(good, timeout=_TICK)  # waits while the applier is behind
                    break
                except queue.Full:
                    continue
            if self.lockstep:
                self._wait_settled()

    def _receive_failed(self, index: int, err: AwsError, delay: float) -> bool:
        """Whether to poll again after ``err``; the first lasting error ends the run."""
        with self._lock:
            self._idle[index] = False
            if self._error is not None:
                return False  # another receiver already stopped the run for this
            if not err.retryable:
                self._error = err
        self.worker.observer.poll_failed(err)
        self.worker.count(receive_errors=1)
        if not err.retryable:
            log.error("stopping: the queue cannot be read, and retrying will not help: %s", err)
            self.halt.set()
            return False
        log.warning("receive failed, retrying in %.0f s: %s", delay, err)
        self.halt.wait(delay)
        return True

    # ---------------------------------------------------------------- deleters

    def _delete(self) -> None:
        while True:
            chunk = self.deletes.get()
            if chunk is None:
                return
            try:
                failed = self.worker.delete(chunk)
                self.worker.count(deleted=len(chunk) - len(failed))
            except Exception:  # applied: SQS delivers them again and they change nothing
                log.exception("deleting %d applied message(s) failed", len(chunk))
            finally:
                self._settle(len(chunk))


def deleters(receivers: int) -> int:
    """Deleter threads for ``receivers``: a delete answers as slowly as a receive, but each
    receive's messages need one only after they are applied."""
    return max(1, (receivers + 1) // 2)


def connections(receivers: int) -> int:
    """HTTP connections the SQS client needs so that no stage waits for one."""
    return receivers + deleters(receivers) + 2
