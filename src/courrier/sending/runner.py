"""The outbox runner (``courrier outbox run``): claim due rows, send each at most once.

See :mod:`courrier.sending.outbox` for what happens to a row, and
:mod:`courrier.store.outbox` for how rows are claimed, started and finished.
"""

from __future__ import annotations

import datetime as dt
import errno
import functools
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from courrier.aws.ses import BulkEntry, BulkEntryResult
from courrier.backoff import Backoff
from courrier.errors import InvalidMessage, StoreError
from courrier.message import Message
from courrier.sending import pipeline
from courrier.sending.bulk import MAX_BULK_ENTRIES
from courrier.sending.payload import from_payload
from courrier.sending.pipeline import Outcome, Verdict, classify
from courrier.sending.templated import api_form
from courrier.sending.unsubscribing import headers_for, managed_by_ses
from courrier.statuses import OutboxStatus, RunOutcome
from courrier.store import outbox as rows
from courrier.store.guard import TripRecord
from courrier.store.outbox import Hold, OutboxEntry
from courrier.store.sends import NewMessage, OutboxFinish, OutboxStart, finish_sends
from courrier.store.sends import Outcome as Recorded
from courrier.template_message import TemplateMessage

if TYPE_CHECKING:
    from courrier.sending.mailer import Mailer

__all__ = ["OutboxRunner", "RunReport", "claimer_id", "paused_reason"]

log = logging.getLogger(__name__)

#: The longest wait before a throttled or unreachable row is tried again.
RETRY_CAP = 300.0
#: Kept for callers of the old names; the pipeline owns them now.
GUARD_WAIT = pipeline.GUARD_WAIT
ACCOUNT_WAIT = pipeline.ACCOUNT_WAIT
_NAMES = {
    OutboxStatus.SENT: RunOutcome.SENT,
    OutboxStatus.FAILED: RunOutcome.FAILED,
    OutboxStatus.UNKNOWN: RunOutcome.UNKNOWN,
    OutboxStatus.QUEUED: RunOutcome.REQUEUED,
}
_ALL_SUPPRESSED = "not sent: every recipient is on the suppression list (or unsubscribed)"


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

    outcomes: dict[RunOutcome, int] = field(default_factory=dict)
    expired: int = 0

    def add(self, outcome: RunOutcome) -> None:
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
    ``failed``, ``requeued``, ``unknown``). ``concurrency``: how many sends are in flight at
    once, each in a thread of its own claiming its own rows (they share the store's rate
    bucket). Queued bulk rows with the same template, sender and configuration set go out
    together, up to 50 a SendBulkEmail call.
    """

    def __init__(
        self,
        mailer: Mailer,
        *,
        batch: int = 10,
        idle: float = 1.0,
        on_row: Callable[[OutboxEntry, RunOutcome], None] | None = None,
        rng: random.Random | None = None,
        concurrency: int = 1,
    ) -> None:
        if batch < 1:
            raise InvalidMessage("--batch must be at least 1")
        if concurrency < 1:
            raise InvalidMessage("--concurrency must be at least 1")
        self.mailer = mailer
        self.store = mailer.store
        self.settings = mailer.settings
        self.batch = batch
        self.idle = idle
        self.on_row = on_row
        self.concurrency = concurrency
        self.claimer = claimer_id()
        self._rng = rng or random.Random()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._last_recovery: dt.datetime | None = None
        #: Until when SES refuses every send of the account (quota, paused sending).
        self._account_blocked_until = 0.0
        #: Tenants SES paused while this runner held their rows (monotonic time until when):
        #: the rows of the batch in hand go back; the store's hold keeps every claim off them.
        self._tenant_held_until: dict[str, float] = {}
        self._retry = Backoff(
            self.settings.outbox_max_attempts,
            self.settings.outbox_retry_delay,
            RETRY_CAP,
            jitter="equal",
        )

    def stop(self) -> None:
        """Finish the rows in hand, give the other claimed rows back, return (signal-safe)."""
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
        if self.concurrency == 1:
            self._loop(report, until_empty)
            return report
        failures: list[BaseException] = []

        def work() -> None:
            try:
                self._loop(report, until_empty)
            except BaseException as err:
                failures.append(err)
                self.stop()  # the others finish their rows in hand and give the rest back

        threads = [
            threading.Thread(target=work, name=f"outbox-{n}", daemon=True)
            for n in range(self.concurrency)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failures:
            raise failures[0]
        return report

    def _loop(self, report: RunReport, until_empty: bool) -> None:
        while not self.stopping:
            self._recover_now_and_then(report)
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
            claimed = self._claim(include_bulk)
            if not claimed:
                if until_empty and not rows.due_waiting(self.store, include_bulk=include_bulk):
                    break
                self._stop.wait(self._idle_wait(include_bulk))
                continue
            units = _units(claimed, group=not managed_by_ses(self.settings))
            for index, unit in enumerate(units):
                if self._stop.is_set() or self._account_blocked_until > time.monotonic():
                    # A signal arrived during the previous send, or SES refuses the account.
                    left = [entry.id for later in units[index:] for entry, _ in later]
                    rows.release(self.store, left, claimer=self.claimer)
                    break
                if self._held(unit):
                    # SES paused this tenant during the batch: its rows wait for the hold.
                    rows.release(self.store, [entry.id for entry, _ in unit], claimer=self.claimer)
                    continue
                if len(unit) == 1:
                    [(entry, message)] = unit
                    done = [(entry, self._process(entry, message))]
                else:
                    done = self._process_group(unit)
                for entry, outcome in done:
                    self._report(report, entry, outcome)

    def _recover_now_and_then(self, report: RunReport) -> None:
        every = dt.timedelta(seconds=min(60.0, self.settings.outbox_lease / 10))
        with self._lock:
            if self._last_recovery is not None and _utcnow() - self._last_recovery <= every:
                return
            self._last_recovery = _utcnow()
        expired = self.recover()
        with self._lock:
            report.expired += expired

    def _report(self, report: RunReport, entry: OutboxEntry, outcome: RunOutcome) -> None:
        with self._lock:
            report.add(outcome)
            if self.on_row is not None:
                self.on_row(entry, outcome)

    def _held(self, unit: Unit) -> bool:
        """Whether SES paused the unit's tenant since its rows were claimed: as this runner
        heard, or as another one recorded in the store (a probe goes all the same)."""
        tenant = unit[0][0].tenant
        if tenant is None:
            return False
        with self._lock:
            if self._tenant_held_until.get(tenant, 0.0) > time.monotonic():
                return True
        return not any(entry.probe for entry, _ in unit) and rows.held(self.store, tenant)

    def _claim(self, include_bulk: bool) -> list[OutboxEntry]:
        claimed = rows.claim(
            self.store,
            claimer=self.claimer,
            limit=self.batch,
            include_bulk=include_bulk,
            lease=self.settings.outbox_lease,
        )
        bulk = sum(1 for entry in claimed if entry.bulk)
        short = -bulk % MAX_BULK_ENTRIES
        if bulk and short and len(claimed) == self.batch:
            # Fill the SendBulkEmail call: one call carries 50 destinations.
            claimed += rows.claim(
                self.store, claimer=self.claimer, limit=short, include_bulk=True, bulk_only=True
            )
        return claimed

    def _idle_wait(self, include_bulk: bool) -> float:
        upcoming = rows.next_due(self.store, include_bulk=include_bulk)
        if upcoming is None:
            return self.idle
        return max(0.01, min(self.idle, (upcoming - _utcnow()).total_seconds()))

    def process(self, entry: OutboxEntry) -> RunOutcome:
        """Send one claimed row and record what became of it; the outcome's name."""
        return self._process(entry, None)

    def _process(self, entry: OutboxEntry, message: Message | TemplateMessage | None) -> RunOutcome:
        entry = replace(entry, attempts=entry.attempts + 1)
        fates: list[RunOutcome] = []

        def settle(verdict: Verdict) -> OutboxFinish:
            finish, name = self._fate(entry, verdict)
            fates.append(name)
            return finish

        try:
            if message is None:
                message = from_payload(entry.kind, entry.payload)
            delivery = pipeline.deliver(
                self.mailer,
                message,
                backoff=Backoff(1),
                outbox=OutboxStart(entry.id, self.claimer),
                settle=settle,
            )
        except Exception as err:
            # Before the intent (the guard, the payload), or SES took it and its record failed.
            return self._settle_apart(entry, classify(err, reached_ses=False), err)
        except BaseException:
            self._finish_quietly(entry, OutboxStatus.UNKNOWN, "interrupted")
            raise
        if delivery is None:
            return RunOutcome.SKIPPED  # its claim expired: another runner has it now
        if not delivery.recorded:
            return self._settle_apart(entry, delivery.verdict, delivery.error)
        if delivery.verdict.fatal and delivery.error is not None:
            raise delivery.error
        return fates[-1]

    def _process_group(
        self, unit: list[tuple[OutboxEntry, Message | TemplateMessage | None]]
    ) -> list[tuple[OutboxEntry, RunOutcome]]:
        """Bulk rows of one template, sender and configuration set: one SendBulkEmail."""
        group = [(replace(e, attempts=e.attempts + 1), m) for e, m in unit]
        messages = [m for _, m in group if isinstance(m, TemplateMessage)]
        assert len(messages) == len(group)
        try:
            # The rows of a group share a tenant (_group_key): its guard judges them.
            self.mailer.guard.before_send(bulk=True, tenant=messages[0].tenant)
            headers = {
                e.id: headers_for(self.settings, m)
                for (e, _), m in zip(group, messages, strict=True)
            }
            intent = self.store.begin_send(
                [
                    NewMessage(
                        m.from_address.email,
                        m.subject,
                        m.configuration_set,
                        pipeline.everyone(m),
                        outbox=OutboxStart(e.id, self.claimer),
                        bulk=True,
                        list_name=m.list_name,
                        tenant=m.tenant,
                    )
                    for (e, _), m in zip(group, messages, strict=True)
                ],
                tokens=self.mailer.token_request(),
            )
        except Exception as err:
            verdict = classify(err, reached_ses=False)
            return [(e, self._settle_apart(e, verdict, err)) for e, _ in group]
        live = [
            (entry, message, begun)
            for (entry, _), message, begun in zip(group, messages, intent.messages, strict=True)
            if begun.record_id is not None
        ]
        done = [
            (e, RunOutcome.SKIPPED)
            for (e, _), b in zip(group, intent.messages, strict=True)
            if b.record_id is None
        ]
        sendable = [(e, m, b) for e, m, b in live if b.sendable]
        verdicts = {e.id: Verdict(Outcome.SUPPRESSED) for e, _, b in live if not b.sendable}
        error: BaseException | None = None
        if sendable:
            first = sendable[0][1]
            call = _bulk_call(self.mailer, first)
            found, error = pipeline.send_group(
                self.mailer,
                call,
                [
                    BulkEntry(to=b.sendable, data=m.data_json, tags=m.tags, headers=headers[e.id])
                    for e, m, b in sendable
                ],
                Backoff(1),
                intent.grant,
            )
            verdicts.update({e.id: v for (e, _, _), v in zip(sendable, found, strict=True)})
        done += self._record_group(live, verdicts)
        if error is not None and (
            not isinstance(error, Exception) or any(v.fatal for v in verdicts.values())
        ):
            raise error
        return done

    def _record_group(
        self, live: list[Any], verdicts: dict[int, Verdict]
    ) -> list[tuple[OutboxEntry, RunOutcome]]:
        fates = {e.id: self._fate(e, verdicts[e.id]) for e, _, _ in live}
        try:
            finish_sends(
                self.store,
                [
                    Recorded(
                        b.record_id,
                        verdicts[e.id].status,
                        verdicts[e.id].ses_message_id,
                        None if verdicts[e.id].outcome is Outcome.SENT else verdicts[e.id].error,
                        outbox=fates[e.id][0],
                    )
                    for e, _, b in live
                ],
            )
        except StoreError as err:
            log.exception("recording the outcome of %d bulk rows failed", len(live))
            return [(e, self._settle_apart(e, verdicts[e.id], err)) for e, _, _ in live]
        return [(e, fates[e.id][1]) for e, _, _ in live]

    def _fate(self, entry: OutboxEntry, verdict: Verdict) -> tuple[OutboxFinish, RunOutcome]:
        """What ``verdict`` makes of the row: its finish, and the outcome's name."""
        status = {
            Outcome.SENT: OutboxStatus.SENT,
            Outcome.FAILED: OutboxStatus.FAILED,
            Outcome.UNKNOWN: OutboxStatus.UNKNOWN,
            Outcome.SUPPRESSED: OutboxStatus.FAILED,
            Outcome.RETRY: OutboxStatus.QUEUED,
        }[verdict.outcome]
        error = _ALL_SUPPRESSED if verdict.outcome is Outcome.SUPPRESSED else verdict.error
        hold = self._hold(entry, verdict)
        later: dt.datetime | None = None
        if verdict.outcome is Outcome.RETRY and not verdict.fatal:
            if verdict.account:
                log.warning("SES refuses the account's sends, the outbox waits: %s", error)
                self._account_blocked_until = time.monotonic() + (verdict.wait or 0)
            if hold is not None and hold.until is not None:
                delay = self.settings.outbox_tenant_hold  # due when its tenant's hold ends
            elif verdict.wait is not None:
                delay = verdict.wait  # the account's or the guard's state: never failed for it
            elif entry.attempts >= self.settings.outbox_max_attempts:
                status, error = OutboxStatus.FAILED, f"{error} (after {entry.attempts} tries)"
                delay = 0.0
            else:
                delay = self._retry.delay(entry.attempts - 1, self._rng)
            if status is OutboxStatus.QUEUED:
                later = _utcnow() + dt.timedelta(seconds=delay)
        finish = OutboxFinish(entry.id, self.claimer, status, error, later, hold)
        return finish, _NAMES[status]

    def _hold(self, entry: OutboxEntry, verdict: Verdict) -> Hold | None:
        """What ``entry``'s answer says of its tenant's shared hold: SES paused the tenant
        (hold every row of it), or SES answered the probe otherwise (lift the hold)."""
        if entry.tenant is None:
            return None
        if verdict.outcome is Outcome.RETRY and verdict.tenant_paused and not verdict.fatal:
            wait = self.settings.outbox_tenant_hold
            log.warning(
                "SES paused tenant %s, its rows wait %gs: %s", entry.tenant, wait, verdict.error
            )
            with self._lock:
                self._tenant_held_until[entry.tenant] = time.monotonic() + wait
            return Hold(entry.tenant, _utcnow() + dt.timedelta(seconds=wait), verdict.error)
        if not entry.probe:
            return None
        # Only SES's own answer says the tenant is not paused: settled without one (every
        # recipient suppressed, the guard, SES unreachable), another row asks it at once.
        return Hold(entry.tenant, asked=verdict.answered)

    def _settle_apart(
        self, entry: OutboxEntry, verdict: Verdict, err: BaseException | None
    ) -> RunOutcome:
        """Record the row's fate in a transaction of its own (no message was recorded for
        it, or recording its outcome failed); a configuration error is raised after."""
        finish, name = self._fate(entry, verdict)
        if verdict.fatal:
            self._finish_quietly(entry, finish.status, finish.error)
            assert err is not None
            raise err
        rows.finish(
            self.store,
            entry.id,
            claimer=self.claimer,
            status=finish.status,
            error=finish.error,
            next_attempt_at=finish.next_attempt_at,
            hold=finish.hold,
        )
        return name

    def _finish_quietly(self, entry: OutboxEntry, status: OutboxStatus, error: str | None) -> None:
        try:
            rows.finish(self.store, entry.id, claimer=self.claimer, status=status, error=error)
        except StoreError:
            log.exception("outbox row %s: recording %s failed", entry.id, status)


Unit = list[tuple[OutboxEntry, Message | TemplateMessage | None]]


def _units(claimed: list[OutboxEntry], *, group: bool = True) -> list[Unit]:
    """The claimed rows as sends: bulk templated rows that can share a SendBulkEmail call
    grouped (at most 50 a group, where the first of them was), every other row alone.
    ``group`` False: every row alone (SES's subscription management needs SendEmail's
    ``ListManagementOptions``, which SendBulkEmail lacks)."""
    units: list[Unit] = []
    groups: dict[tuple[Any, ...], Unit] = {}
    for entry in claimed:
        message: Message | TemplateMessage | None = None
        key = None
        if entry.bulk:
            try:
                message = from_payload(entry.kind, entry.payload)
            except InvalidMessage:
                message = None  # sent alone, where reading it again fails it
            if group and isinstance(message, TemplateMessage):
                key = _group_key(message)
        if key is None:
            units.append([(entry, message)])
            continue
        unit = groups.get(key)
        if unit is None or len(unit) >= MAX_BULK_ENTRIES:
            unit = groups[key] = []
            units.append(unit)
        unit.append((entry, message))
    return units


def _group_key(message: TemplateMessage) -> tuple[Any, ...] | None:
    """What the destinations of one SendBulkEmail call share; None for a message that
    cannot be one entry of it (Cc or Bcc: an entry here has To addresses only)."""
    if message.cc or message.bcc:
        return None
    feedback = message.feedback_address
    return (
        message.template,
        api_form(message.from_address),
        message.configuration_set,
        tuple(api_form(a) for a in message.addresses("reply_to")),
        feedback.email if feedback is not None else None,
        message.tenant,
    )


def _bulk_call(
    mailer: Mailer, first: TemplateMessage
) -> Callable[[list[BulkEntry]], list[BulkEntryResult]]:
    message = mailer.with_defaults(first)
    feedback = message.feedback_address
    send = functools.partial(
        mailer.ses.send_bulk,
        sender=api_form(message.from_address),
        reply_to=[api_form(a) for a in message.addresses("reply_to")],
        template=message.template,
        default_data="{}",
        configuration_set=message.configuration_set,
        tags={},
        feedback_address=feedback.email if feedback is not None else None,
        tenant=message.tenant,
    )
    return lambda entries: send(entries=entries)
