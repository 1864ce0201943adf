"""The feedback worker: long-poll SQS, apply each batch in one transaction, then delete.

Loop, per batch of up to 10 messages:

1. receive (long poll, ``wait_seconds``, 20 by default);
2. decode each body; a body that cannot be decoded, that comes from a topic outside the
   allow-list, or (with a ``verifier``) whose SNS signature does not verify, is logged with
   its SQS id and left on the queue: its redrive policy moves it to the dead-letter queue
   after ``maxReceiveCount`` receives. A signing certificate that cannot be downloaded
   (:class:`~courrier.errors.CertificateUnavailable`) says nothing against the message: the
   worker holds it and retries with backoff, and leaves it to SQS, not refused, if stopped
   first. The receiver that holds it takes nothing more meanwhile, so while the certificate
   host is away the receive counts stop growing instead of running into the redrive;
3. apply the decodable ones in one transaction. If the database refuses one message's data
   (:class:`~courrier.errors.InvalidRecord`), the batch is applied again one message at a
   time and only the refused one is left for the dead-letter queue: one poison body never
   holds back the good ones it arrived with. If the database is unavailable, nothing is
   deleted, the worker backs off and retries the same messages while it holds them, and SQS
   redelivers them otherwise: nothing is acknowledged that was not stored;
4. delete the applied messages (checking each ``Failed`` entry).

The worker stops with an error (and ``courrier worker`` exits 1) instead of retrying when
retrying cannot help: the queue cannot be read for a reason that lasts (access denied, no such
queue), or the store cannot be written (read-only at start-up, or its SQLite file deleted or
replaced while running, found before anything more is deleted from SQS).

The steps run as stages (:mod:`courrier.feedback.stages`): ``concurrency`` receiver threads
receive and decode, one applier applies every batch ready at that moment in one
transaction, deleter threads delete. With ``concurrency`` 1 (the default of the class;
``courrier worker`` defaults to 8) the one receiver waits until its batch is applied and
deleted before it polls again: one batch at a time, in the order above.

Shutdown (SIGTERM/SIGINT, or :meth:`Worker.stop`): stop receiving; the batch(es) in hand are
finished, committed and deleted; :meth:`Worker.run` returns and ``courrier worker`` exits 0.
If the database is down at that moment, the batch is left undeleted (SQS delivers it again)
rather than waited for.
A shutdown requested during a long poll waits for that poll to return (at most
``wait_seconds``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from courrier.aws.clients import AwsConfig
from courrier.aws.sqs import Queue, QueueMessage, SqsQueue
from courrier.backoff import Backoff
from courrier.clock import Sleep
from courrier.errors import (
    AwsError,
    CertificateUnavailable,
    ConfigurationError,
    FeedbackError,
    InvalidRecord,
    StoreError,
    StoreUnusable,
    UntrustedSignature,
)
from courrier.feedback.apply import Applied, Hook, apply
from courrier.feedback.decode import Decoded, decode
from courrier.feedback.observer import Observers, WorkerObserver
from courrier.feedback.rules import Rules
from courrier.feedback.signature import SignatureVerifier
from courrier.feedback.stages import Stages, connections
from courrier.feedback.topics import allowed_topics as topics_allowed
from courrier.feedback.topics import check_topic
from courrier.settings import Settings
from courrier.store import Store

__all__ = ["Worker", "WorkerStats"]

log = logging.getLogger(__name__)


@dataclass
class WorkerStats:
    """Counters of one run; fixed size however long the worker runs. Updated through
    :meth:`Worker.count`, safe from the worker's threads."""

    batches: int = 0
    received: int = 0
    deleted: int = 0
    events: int = 0
    duplicates: int = 0
    rejected: int = 0
    store_retries: int = 0
    receive_errors: int = 0
    suppressed: int = 0
    #: Signature checks retried because the signing certificate could not be downloaded.
    certificate_retries: int = 0
    #: Store transactions committed (several received batches may share one).
    transactions: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


class Worker:
    """Applies SES feedback from an SQS queue to the store, exactly once, until stopped.

    Each batch is decoded, checked (topic allow-list, signatures when a verifier is given),
    applied in one transaction and then deleted from the queue; what cannot be applied is
    left for the queue's dead-letter queue. ``concurrency`` receivers (one batch at a time
    with 1) and deleters work around one applier. Observers and hooks watch the loop;
    :meth:`stop` (or SIGTERM in ``courrier worker``) finishes the batch in hand.
    """

    def __init__(
        self,
        queue: Queue,
        store: Store,
        *,
        rules: Rules | None = None,
        hooks: Mapping[str, Iterable[Hook]] | None = None,
        allowed_topics: Iterable[str] | None = None,
        verifier: SignatureVerifier | None = None,
        wait_seconds: int = 20,
        max_messages: int = 10,
        store_backoff: Backoff | None = None,
        certificate_backoff: Backoff | None = None,
        sleep: Sleep | None = None,
        observers: Iterable[WorkerObserver] = (),
        concurrency: int = 1,
        apply_limit: int = 100,
    ) -> None:
        if concurrency < 1 or apply_limit < max_messages:
            raise ConfigurationError(
                f"the worker needs a concurrency of at least 1 (not {concurrency}) and an "
                f"apply limit of at least {max_messages} messages (not {apply_limit})"
            )
        self.queue = queue
        self.store = store
        self.rules = rules or Rules()
        self.hooks = hooks or {}
        self.allowed_topics = frozenset(allowed_topics) if allowed_topics else None
        self.verifier = verifier
        self.wait_seconds = wait_seconds
        self.max_messages = max_messages
        self.store_backoff = store_backoff or Backoff(attempts=1_000_000, base=0.5, cap=30)
        self.certificate_backoff = certificate_backoff or Backoff(
            attempts=1_000_000, base=0.5, cap=30
        )
        self.concurrency = concurrency
        self.apply_limit = apply_limit
        self._stopping = threading.Event()
        # A stop wakes the store backoff: shutdown never waits out a 30 s retry delay.
        self._sleep = sleep or self._stopping.wait
        #: Set by :meth:`stop` too: the concurrent stages of the run in progress watch it.
        self._halt: threading.Event | None = None
        self._stats_lock = threading.Lock()
        self.stats = WorkerStats()
        #: Metrics and the reputation guard watch the loop through these hooks.
        self.observer = Observers(observers)

    @classmethod
    def from_settings(
        cls,
        settings: Settings | None = None,
        *,
        store: Store | None = None,
        queue_url: str | None = None,
        allow_topics: Iterable[str] = (),
        verify_signatures: bool | None = None,
        wait_seconds: int = 20,
        concurrency: int | None = None,
        rules: Rules | None = None,
        hooks: Mapping[str, Iterable[Hook]] | None = None,
        observers: Iterable[WorkerObserver] = (),
    ) -> Worker:
        """The worker ``courrier worker`` runs, on the queue, store and topics that
        ``settings`` name (by default :meth:`Settings.load`: arguments, ``COURRIER_*``,
        ``courrier.toml``).

        ``queue_url`` defaults to the ``queue_url`` setting, ``allow_topics`` to the
        ``topic_arn`` setting (both written by ``courrier setup``), ``concurrency`` to
        ``worker_concurrency``; ``store`` to a new :class:`~courrier.store.Store` on
        ``database_url`` (``worker.store``, for the caller to close). The SQS client gets a
        read timeout longer than the long poll and a connection for each receiver and
        deleter. ``verify_signatures`` (default: the ``verify_signatures`` setting, on) checks
        each SNS envelope's signature (:class:`~courrier.feedback.signature.SignatureVerifier`);
        ``rules`` default to :meth:`courrier.feedback.rules.Rules.from_settings`.
        The reputation guard and metrics watch it through ``observers``
        (:class:`courrier.reputation.observer.GuardObserver`, :class:`courrier.metrics.Metrics`).

        Raises :class:`~courrier.errors.ConfigurationError` without a queue, or without a
        topic to trust: the same rule as ``courrier receive`` (:mod:`courrier.feedback.topics`).
        """
        settings = settings or Settings.load()
        url = queue_url or settings.queue_url
        if not url:
            raise ConfigurationError("no queue: give --queue-url or run courrier setup")
        topics = topics_allowed(allow_topics, settings.topic_arn)
        concurrency = concurrency or settings.worker_concurrency
        queue = SqsQueue(
            url,
            AwsConfig(
                settings.profile,
                settings.region,
                # A long poll must not read as a timeout: SQS answers after wait_seconds.
                read_timeout=max(settings.read_timeout, wait_seconds + 10),
                max_connections=connections(concurrency),
            ),
        )
        verify = settings.verify_signatures if verify_signatures is None else verify_signatures
        return cls(
            queue,
            store or Store(settings.database_url),
            rules=rules or Rules.from_settings(settings),
            hooks=hooks,
            allowed_topics=topics,
            verifier=SignatureVerifier() if verify else None,
            wait_seconds=wait_seconds,
            observers=observers,
            concurrency=concurrency,
        )

    def stop(self) -> None:
        """Ask the worker to stop after the batch(es) in hand."""
        self._stopping.set()
        halt = self._halt
        if halt is not None:
            halt.set()

    def count(self, **changes: int) -> None:
        """Add to the stats; safe from any of the worker's threads."""
        with self._stats_lock:
            for name, change in changes.items():
                setattr(self.stats, name, getattr(self.stats, name) + change)

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called: the run in progress ends after its current batch."""
        return self._stopping.is_set()

    def run(self, *, until_idle: bool = False, max_batches: int | None = None) -> WorkerStats:
        """Process batches until stopped (or, with ``until_idle``, until a poll finds nothing).

        Raises :class:`~courrier.errors.StoreUnusable` when the store cannot be written, and
        the :class:`~courrier.errors.AwsError` of a receive that will keep failing.
        """
        self.store.check_writable()
        try:
            return self._run(until_idle, max_batches)
        finally:
            self.observer.stopped()

    def _run(self, until_idle: bool, max_batches: int | None) -> WorkerStats:
        if not self.stopping:
            halt = self._halt = threading.Event()
            if self._stopping.is_set():  # stop() came before the run could hear of it
                halt.set()
            try:
                Stages(self, halt, until_idle=until_idle, max_batches=max_batches).run()
            finally:
                self._halt = None
        log.info("worker stopped: %s", self.stats)
        return self.stats

    def process(self, messages: list[QueueMessage]) -> Applied:
        """Decode, apply and delete one batch received by the caller, on the caller's thread
        (the steps in the module docstring; :meth:`run` receives its own)."""
        outcome = self.commit(self.decode(messages))
        if outcome is None:
            return Applied()
        applied, done = outcome
        failed = self.delete(done)
        self.count(deleted=len(done) - len(failed))
        return applied

    def decode(self, messages: list[QueueMessage]) -> list[tuple[QueueMessage, Decoded]]:
        """The messages of one receive that may be applied; the others are left on SQS."""
        self.count(batches=1, received=len(messages))
        good: list[tuple[QueueMessage, Decoded]] = []
        for message in messages:
            try:
                decoded = decode(message.body)
                self._check_topic(decoded)
                verified = self._check_signature(decoded, message)
            except FeedbackError as err:
                self.count(rejected=1)
                self.observer.rejected(message.message_id, err)
                log.error(
                    "SQS message %s left for the dead-letter queue (receive %d): %s",
                    message.message_id,
                    message.receive_count,
                    err,
                )
                continue
            if verified:
                good.append((message, decoded))
        return good

    def commit(
        self, good: list[tuple[QueueMessage, Decoded]]
    ) -> tuple[Applied, list[QueueMessage]] | None:
        """Apply decoded messages in one transaction; what was applied and the messages that
        may now be deleted, or None when nothing was stored (stopping while the database
        was down)."""
        outcome = self._apply_isolating(good)
        if outcome is None:
            log.warning(
                "stopping with %d message(s) not stored; SQS will deliver them again", len(good)
            )
            return None
        applied, done = outcome
        self.count(
            transactions=1,
            events=len(applied.stored),
            duplicates=applied.duplicates,
            suppressed=len(applied.suppressed),
        )
        self.observer.applied(applied)
        return applied, done

    def _apply_isolating(
        self, good: list[tuple[QueueMessage, Decoded]]
    ) -> tuple[Applied, list[QueueMessage]] | None:
        """The batch applied and the messages it covers; one at a time if one is refused."""
        try:
            applied = self._apply_with_retries([d for _, d in good])
        except InvalidRecord as err:
            log.warning(
                "the store refused part of a batch (%s): applying it message by message", err
            )
        else:
            return (applied, [m for m, _ in good]) if applied is not None else None
        total = Applied()
        done: list[QueueMessage] = []
        for message, decoded in good:
            try:
                applied = self._apply_with_retries([decoded])
            except InvalidRecord as err:
                self.count(rejected=1)
                self.observer.rejected(message.message_id, err)
                log.error(
                    "SQS message %s left for the dead-letter queue (receive %d): the store "
                    "cannot hold it: %s",
                    message.message_id,
                    message.receive_count,
                    err,
                )
                continue
            if applied is None:
                return (total, done) if done else None
            total.merge(applied)
            done.append(message)
        return total, done

    def _check_topic(self, decoded: Decoded) -> None:
        if self.allowed_topics is None:
            return
        check_topic(decoded.envelope.topic_arn if decoded.envelope else None, self.allowed_topics)

    def _check_signature(self, decoded: Decoded, message: QueueMessage) -> bool:
        """Whether ``decoded`` may be applied: False when its signing certificate stayed
        unavailable until a stop (or the backoff ran out): it is left to SQS, not refused.

        Raises :class:`~courrier.errors.UntrustedSignature` when the signature is refused.
        """
        if self.verifier is None:
            return True
        if decoded.envelope is None:
            raise UntrustedSignature("raw delivery carries no signature to verify")
        delays = self.certificate_backoff.delays()
        while True:
            try:
                self.verifier.verify(decoded.envelope.raw)
                return True
            except CertificateUnavailable as err:
                delay = None if self.stopping else next(delays, None)
                if delay is None:
                    log.warning(
                        "SQS message %s left on the queue, not refused: %s", message.message_id, err
                    )
                    return False
                self.count(certificate_retries=1)
                log.warning("message kept, signature checked again in %.1f s: %s", delay, err)
                self._sleep(delay)

    def _apply_with_retries(self, batch: list[Decoded]) -> Applied | None:
        """The batch applied; None when a stop was asked for while the database was down.

        Only an unavailable database is waited out: refused data
        (:class:`~courrier.errors.InvalidRecord`) and an unusable store
        (:class:`~courrier.errors.StoreUnusable`) are raised at once.
        """
        delays = self.store_backoff.delays()
        while True:
            try:
                return apply(self.store, batch, rules=self.rules, hooks=self.hooks)
            except (InvalidRecord, StoreUnusable):
                raise
            except StoreError as err:
                if self.stopping:
                    return None
                delay = next(delays, None)
                if delay is None:
                    raise
                self.count(store_retries=1)
                self.observer.store_failed(err)
                log.error("database error, batch kept and retried in %.1f s: %s", delay, err)
                self._sleep(delay)

    def delete(self, messages: list[QueueMessage]) -> list[str]:
        """Delete applied messages from SQS; the ids of those that were not deleted."""
        if not messages:
            return []
        try:
            failed = self.queue.delete(messages)
        except AwsError as err:
            # Applied but not deleted: SQS redelivers them and the duplicates change nothing.
            log.warning("delete failed, the batch will be redelivered: %s", err)
            return [m.message_id for m in messages]
        for message_id in failed:
            log.warning("delete of SQS message %s failed; it will be redelivered", message_id)
        return failed
