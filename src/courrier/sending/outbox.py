"""The outbox: messages queued now, sent later by any number of runners, each at most once.

:func:`enqueue` records a message (a :class:`~courrier.message.Message`, a
:class:`~courrier.TemplateMessage`, or one per bulk destination) under an idempotency key:
the same key twice is one row. :class:`OutboxRunner` (``courrier outbox run``) claims due
rows, marking them ``sending`` in a transaction committed before SES is called, then records
``sent`` or ``failed``. A runner killed between the two leaves its rows ``sending``; the
next runner to look turns them ``unknown`` (at once when the dead runner was on its own
machine, else once ``outbox_lease`` has passed) and never sends them again by itself.

Throttling and unreachable SES put a row back in the queue for later
(``outbox_retry_delay``, doubling) without holding up the others; every other refusal is
recorded ``failed``. While the reputation guard is tripped, bulk rows stay queued and
transactional ones go on.
"""

from __future__ import annotations

import datetime as dt
import errno
import logging
import os
import random
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from courrier.errors import (
    AwsUnreachable,
    InvalidMessage,
    OutcomeUnknown,
    ReputationGuardTripped,
    SendError,
    StoreError,
    Throttled,
)
from courrier.message import Message
from courrier.mime import render
from courrier.sending.payload import from_payload, to_payload
from courrier.statuses import MessageStatus, OutboxStatus
from courrier.store import Store
from courrier.store import guard as guard_records
from courrier.store import outbox as rows
from courrier.store.guard import TripRecord
from courrier.store.outbox import NewEntry, OutboxEntry
from courrier.template_message import BulkDestination, TemplateMessage

if TYPE_CHECKING:
    from courrier.sending.mailer import Mailer

__all__ = [
    "EnqueueReport",
    "OutboxEntry",
    "OutboxRunner",
    "OutboxStatusReport",
    "bulk_messages",
    "enqueue",
    "enqueue_many",
    "outbox_status",
    "paused_reason",
]

log = logging.getLogger(__name__)

#: The longest wait before a throttled or unreachable row is tried again.
RETRY_CAP = 300.0
#: How long a row refused by a tripped guard waits before the next look.
GUARD_WAIT = 60.0


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _new_entry(
    message: Message | TemplateMessage, send_at: dt.datetime | None, key: str | None
) -> NewEntry:
    if isinstance(message, Message):
        render(message)  # refuse now what could never be sent (size, encoding)
    elif not isinstance(message, TemplateMessage):
        raise InvalidMessage(
            f"cannot queue {type(message).__name__}: a Message or a TemplateMessage"
        )
    if send_at is not None and send_at.tzinfo is None:
        raise InvalidMessage("send_at must be timezone-aware (for example datetime.now(UTC))")
    if key is not None and not (0 < len(key) <= 200):
        raise InvalidMessage("an idempotency key is 1 to 200 characters")
    kind, payload = to_payload(message)
    return NewEntry(
        key=key or f"auto:{uuid.uuid4().hex}",
        kind=kind,
        bulk=message.bulk,
        payload=payload,
        send_at=(send_at or _utcnow()).astimezone(dt.UTC),
    )


def enqueue(
    store: Store,
    message: Message | TemplateMessage,
    *,
    send_at: dt.datetime | None = None,
    key: str | None = None,
) -> OutboxEntry:
    """Queue one message; with a ``key`` already queued, the existing row is returned."""
    [(found, _)] = rows.enqueue(store, [_new_entry(message, send_at, key)])
    return found


@dataclass(frozen=True)
class EnqueueReport:
    entries: tuple[OutboxEntry, ...]
    created: int
    existing: int


def enqueue_many(
    store: Store,
    items: Iterable[tuple[Message | TemplateMessage, str | None]],
    *,
    send_at: dt.datetime | None = None,
) -> EnqueueReport:
    """Queue (message, key) pairs in one transaction: all of them, or none on an error."""
    new = [_new_entry(message, send_at, key) for message, key in items]
    done = rows.enqueue(store, new)
    created = sum(1 for _, was_new in done if was_new)
    return EnqueueReport(tuple(e for e, _ in done), created, len(done) - created)


def bulk_messages(
    template: str,
    destinations: Sequence[BulkDestination],
    *,
    sender: Any,
    data: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    configuration_set: str | None = None,
) -> list[TemplateMessage]:
    """One bulk :class:`TemplateMessage` per destination (its data and tags over the
    defaults), for :func:`enqueue_many`."""
    return [
        TemplateMessage(
            sender=sender,
            to=list(d.addresses),
            template=template,
            data={**(data or {}), **d.data},
            tags={**(tags or {}), **d.tags},
            configuration_set=configuration_set,
            bulk=True,
        )
        for d in destinations
    ]


# ---------------------------------------------------------------------------- running


def claimer_id() -> str:
    """host:pid:random — the pid lets runners on the same machine tell the dead ones."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _gone_locally(claimer: str) -> bool:
    host, _, rest = claimer.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except OSError as err:
        return err.errno == errno.ESRCH
    return False


@dataclass
class RunReport:
    """What one run did, row by row outcome counts."""

    outcomes: dict[str, int] = field(default_factory=dict)
    expired: int = 0

    def add(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


def paused_reason(trip: TripRecord | None) -> str | None:
    """``paused: bounce rate 4.3% >= 4%`` while the guard is tripped, else None."""
    if trip is None:
        return None
    if trip.value is None or trip.threshold is None:
        return f"paused: {trip.detail}"
    return f"paused: {trip.rate.replace('_', ' ')} {trip.value:.1%} >= {trip.threshold * 100:.4g}%"


class OutboxRunner:
    """Sends due outbox rows through ``mailer`` until stopped (or until none is left).

    ``on_row(entry, outcome)`` is called after each row with what became of it (``sent``,
    ``failed``, ``requeued``, ``unknown``).
    """

    def __init__(
        self,
        mailer: Mailer,
        *,
        batch: int = 10,
        idle: float = 1.0,
        on_row: Callable[[OutboxEntry, str], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if batch < 1:
            raise InvalidMessage("--batch must be at least 1")
        self.mailer = mailer
        self.store = mailer.store
        self.settings = mailer.settings
        self.batch = batch
        self.idle = idle
        self.on_row = on_row
        self.claimer = claimer_id()
        self._rng = rng or random.Random()
        self._stop = threading.Event()
        self._last_recovery: dt.datetime | None = None

    def stop(self) -> None:
        """Finish the row in hand, give the other claimed rows back, return (signal-safe)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def recover(self) -> int:
        """Settle the rows of runners that went away: the one each had started becomes
        ``unknown``, the rest go back to the queue. How many became ``unknown``."""
        lease = dt.timedelta(seconds=self.settings.outbox_lease)
        gone = [c for c in rows.claimers(self.store) if _gone_locally(c)]
        unknown, requeued = rows.expire_claims(
            self.store, claimed_before=_utcnow() - lease, gone=gone
        )
        if unknown or requeued:
            log.warning(
                "rows of outbox runners that went away: %d unknown, %d queued again",
                unknown,
                requeued,
            )
        self._last_recovery = _utcnow()
        return unknown

    def paused(self) -> TripRecord | None:
        return self.mailer.guard.tripped()

    def run(self, *, until_empty: bool = False) -> RunReport:
        report = RunReport()
        report.expired += self.recover()
        while not self.stopping:
            if self._last_recovery is None or _utcnow() - self._last_recovery > dt.timedelta(
                seconds=min(60.0, self.settings.outbox_lease / 10)
            ):
                report.expired += self.recover()
            paused = self.paused() is not None
            include_bulk = not paused
            if paused and self.settings.guard_blocks_transactional:
                # Every send would be refused: nothing to claim until the guard is reset.
                if until_empty:
                    break
                self._stop.wait(self.idle)
                continue
            claimed = rows.claim(
                self.store, claimer=self.claimer, limit=self.batch, include_bulk=include_bulk
            )
            if not claimed:
                if until_empty and not rows.due_waiting(self.store, include_bulk=include_bulk):
                    break
                self._stop.wait(self._idle_wait(include_bulk))
                continue
            for index, entry in enumerate(claimed):
                if self._stop.is_set():  # a signal arrived during the previous row
                    rows.release(self.store, [e.id for e in claimed[index:]], claimer=self.claimer)
                    break
                outcome = self.process(entry)
                report.add(outcome)
                if self.on_row is not None:
                    self.on_row(entry, outcome)
        return report

    def _idle_wait(self, include_bulk: bool) -> float:
        upcoming = rows.next_due(self.store, include_bulk=include_bulk)
        if upcoming is None:
            return self.idle
        return max(0.01, min(self.idle, (upcoming - _utcnow()).total_seconds()))

    def process(self, entry: OutboxEntry) -> str:
        """Send one claimed row and record what became of it; the outcome's name."""
        if not rows.start(self.store, entry.id, claimer=self.claimer):
            return "skipped"  # its claim expired: another runner has it now
        entry = replace(entry, attempts=entry.attempts + 1)
        try:
            message = from_payload(entry.kind, entry.payload)
            result = self.mailer.deliver(message, retry=False)
        except (Throttled, AwsUnreachable, ReputationGuardTripped) as err:
            return self._again(entry, err)
        except OutcomeUnknown as err:
            self._finish(entry, OutboxStatus.UNKNOWN, _text(err))
            return "unknown"
        except (SendError, InvalidMessage) as err:
            self._finish(entry, OutboxStatus.FAILED, _text(err))
            return "failed"
        except StoreError as err:
            if err.ses_message_id is None:
                return self._again(entry, err)  # nothing reached SES
            # SES took it but the record failed: sent, as a person can check by its id.
            self._finish(entry, OutboxStatus.SENT, _text(err))
            return "sent"
        except BaseException as err:
            self._finish(entry, OutboxStatus.UNKNOWN, _text(err), quiet=True)
            raise
        if result.status == MessageStatus.SUPPRESSED:
            error = "not sent: every recipient is on the suppression list"
            self._finish(entry, OutboxStatus.FAILED, error, message_id=result.id)
            return "failed"
        self._finish(entry, OutboxStatus.SENT, None, message_id=result.id)
        return "sent"

    def _again(self, entry: OutboxEntry, err: Exception) -> str:
        if isinstance(err, ReputationGuardTripped):
            delay = GUARD_WAIT
        elif entry.attempts >= self.settings.outbox_max_attempts:
            self._finish(entry, OutboxStatus.FAILED, f"{_text(err)} (after {entry.attempts} tries)")
            return "failed"
        else:
            ceiling = min(RETRY_CAP, self.settings.outbox_retry_delay * 2 ** (entry.attempts - 1))
            delay = self._rng.uniform(ceiling / 2, ceiling)
        later = _utcnow() + dt.timedelta(seconds=delay)
        rows.finish(
            self.store,
            entry.id,
            claimer=self.claimer,
            status=OutboxStatus.QUEUED,
            error=_text(err),
            next_attempt_at=later,
        )
        return "requeued"

    def _finish(
        self,
        entry: OutboxEntry,
        status: OutboxStatus,
        error: str | None,
        *,
        message_id: int | None = None,
        quiet: bool = False,
    ) -> None:
        try:
            rows.finish(
                self.store,
                entry.id,
                claimer=self.claimer,
                status=status,
                error=error,
                message_id=message_id,
            )
        except StoreError:
            if not quiet:
                raise
            log.exception("outbox row %s: recording %s failed", entry.id, status)


def _text(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


# ---------------------------------------------------------------------------- status


@dataclass(frozen=True)
class OutboxStatusReport:
    counts: dict[str, int]
    unknown: tuple[OutboxEntry, ...]
    paused: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "counts": self.counts,
            "paused": self.paused,
            "unknown": [e.as_dict() for e in self.unknown],
        }


def outbox_status(store: Store, *, limit: int = 100) -> OutboxStatusReport:
    """Rows per status, the ``unknown`` ones (oldest first), and why bulk rows wait."""
    return OutboxStatusReport(
        counts=rows.counts(store),
        unknown=tuple(rows.entries(store, status=OutboxStatus.UNKNOWN, limit=limit)),
        paused=paused_reason(guard_records.open_trip(store)),
    )


def retry(store: Store, entry_id: int) -> OutboxEntry | None:
    """Queue an ``unknown`` or ``failed`` row again: a person decided it was not sent."""
    return rows.set_status(
        store,
        entry_id,
        allowed=(OutboxStatus.UNKNOWN, OutboxStatus.FAILED),
        status=OutboxStatus.QUEUED,
    )


def resolve(store: Store, entry_id: int, *, sent: bool) -> OutboxEntry | None:
    """Settle an ``unknown`` row as ``sent`` or ``failed`` (a person checked)."""
    return rows.set_status(
        store,
        entry_id,
        allowed=(OutboxStatus.UNKNOWN,),
        status=OutboxStatus.SENT if sent else OutboxStatus.FAILED,
        note="resolved by hand",
    )
