"""The outbox runner (``courrier outbox run``): claim due rows, send each at most once.

See :mod:`courrier.sending.outbox` for what happens to a row, and
:mod:`courrier.store.outbox` for how rows are claimed, started and finished.
"""

from __future__ import annotations

import datetime as dt
import errno
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from courrier.errors import (
    AwsError,
    AwsUnreachable,
    ConfigurationError,
    DailyQuotaExceeded,
    InvalidMessage,
    OutcomeUnknown,
    ReputationGuardTripped,
    SendError,
    SendingPaused,
    StoreError,
    Throttled,
)
from courrier.sending.payload import from_payload
from courrier.statuses import MessageStatus, OutboxStatus
from courrier.store import outbox as rows
from courrier.store.guard import TripRecord
from courrier.store.outbox import OutboxEntry

if TYPE_CHECKING:
    from courrier.sending.mailer import Mailer

__all__ = ["OutboxRunner", "RunReport", "claimer_id", "paused_reason"]

log = logging.getLogger(__name__)

#: The longest wait before a throttled or unreachable row is tried again.
RETRY_CAP = 300.0
#: The SES operations that carry a message: a failure of anything else is before the send.
_SEND_OPERATIONS = frozenset({"SendEmail", "SendBulkEmail"})
#: How long a row refused by a tripped guard waits before the next look.
GUARD_WAIT = 60.0
#: How long the runner leaves the queue alone when SES refuses every send of the account
#: (daily quota used up, sending paused): each try would be refused the same way, and the
#: quota is a rolling 24 hours (facts §6.2), so rows wait rather than fail.
ACCOUNT_WAIT = 900.0


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


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
        #: Until when SES refuses every send of the account (quota, paused sending).
        self._account_blocked_until = 0.0

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
            blocked = self._account_blocked_until - time.monotonic()
            if blocked > 0:
                if until_empty:
                    break
                self._stop.wait(min(blocked, self.idle * 10))
                continue
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
                if self._stop.is_set() or self._account_blocked_until > time.monotonic():
                    # A signal arrived during the previous row, or SES refuses the account.
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
        except (DailyQuotaExceeded, SendingPaused) as err:
            log.warning("SES refuses the account's sends, the outbox waits: %s", err)
            self._account_blocked_until = time.monotonic() + ACCOUNT_WAIT
            return self._again(entry, err)
        except (SendError, InvalidMessage) as err:
            self._finish(entry, OutboxStatus.FAILED, _text(err))
            return "failed"
        except StoreError as err:
            if err.ses_message_id is None:
                return self._again(entry, err)  # nothing reached SES
            # SES took it but the record failed: sent, as a person can check by its id.
            self._finish(entry, OutboxStatus.SENT, _text(err))
            return "sent"
        except ConfigurationError as err:
            # Credentials or region: found before any call to SES, so the row goes back.
            self._finish(entry, OutboxStatus.QUEUED, _text(err), quiet=True)
            raise
        except AwsError as err:
            if err.operation in _SEND_OPERATIONS:
                # The send call failed in a way SES's answer does not explain: it may be sent.
                self._finish(entry, OutboxStatus.UNKNOWN, _text(err))
                return "unknown"
            return self._again(entry, err)  # before the send (reading the rate): not sent
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
        elif isinstance(err, DailyQuotaExceeded | SendingPaused):
            delay = ACCOUNT_WAIT  # the account's state, not the row's: never failed for it
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
