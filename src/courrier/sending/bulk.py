"""Bulk sends: one template to many destinations, v2 SendBulkEmail in groups of 50.

Each destination is its own message for SES (its own message id, its own feedback), so
each is recorded as its own message in the store. Suppressed recipients are dropped
before the call (a destination left with nobody is recorded ``suppressed`` and never
sent); the pacer is charged for every recipient of a group before its call, since each
destination counts toward the send rate (facts §11). A group SES throttles as a whole is
retried with backoff like :meth:`Mailer.send`; so are the entries it answers
``ACCOUNT_THROTTLED`` or ``TRANSIENT_FAILURE``. Every other per-entry status is that
destination's refusal, recorded ``failed`` with SES's error.

A failure of the whole call that no retry cures (a missing template, paused sending) is
recorded for every destination not yet sent and raised, as :meth:`Mailer.send` does: the
destinations of that group are ``unknown`` when the call may have reached SES, the later
ones ``failed``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from courrier.addresses import Address, parse_address
from courrier.aws.ses import BulkEntry
from courrier.errors import (
    AwsUnreachable,
    InvalidMessage,
    OutcomeUnknown,
    SendError,
    StoreError,
    Throttled,
)
from courrier.message import AddressLike, check_options
from courrier.sending.results import SendResult, result_of
from courrier.sending.templated import api_form
from courrier.statuses import MessageStatus, RecipientStatus
from courrier.store.sends import NewMessage, Outcome, finish_sends, record_messages
from courrier.template_message import BulkDestination, check_template_name, template_data

if TYPE_CHECKING:
    from courrier.sending.mailer import Mailer

__all__ = ["MAX_BULK_ENTRIES", "BulkResult", "BulkSend", "send_bulk"]

log = logging.getLogger(__name__)

#: SES's limit on the destinations of one bulk call (facts §11).
MAX_BULK_ENTRIES = 50
#: Per-entry statuses that mean "not now": the entry is tried again after a backoff.
_RETRY_STATUSES = frozenset({"ACCOUNT_THROTTLED", "TRANSIENT_FAILURE"})


@dataclass(frozen=True)
class BulkSend:
    """What every destination of one bulk send shares."""

    template: str
    sender: AddressLike
    data: Mapping[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    configuration_set: str | None = None
    reply_to: tuple[AddressLike, ...] = ()
    feedback_address: AddressLike | None = None


@dataclass(frozen=True)
class BulkResult:
    """One :class:`SendResult` per destination, in the order given."""

    results: tuple[SendResult, ...]

    def count(self, status: str) -> int:
        return sum(1 for result in self.results if result.status == status)

    @property
    def sent(self) -> int:
        return self.count(MessageStatus.SENT)

    @property
    def failed(self) -> int:
        return self.count(MessageStatus.FAILED)

    @property
    def suppressed(self) -> int:
        return self.count(MessageStatus.SUPPRESSED)


@dataclass
class _Plan:
    destination: BulkDestination
    statuses: list[tuple[str, str, RecipientStatus]]
    remaining: list[str]
    record_id: int = 0
    outcome: Outcome | None = None


def send_bulk(
    mailer: Mailer, spec: BulkSend, destinations: Sequence[BulkDestination]
) -> BulkResult:
    mailer.guard.before_send(bulk=True)
    check_template_name(spec.template)
    sender = parse_address(spec.sender)
    default_data = template_data(spec.data)
    check_options(spec.tags, spec.configuration_set)
    reply_to = [api_form(parse_address(a)) for a in spec.reply_to]
    feedback = parse_address(spec.feedback_address) if spec.feedback_address else None
    for destination in destinations:
        if not isinstance(destination, BulkDestination):
            raise InvalidMessage(f"not a BulkDestination: {destination!r}")
    if not destinations:
        return BulkResult(())
    suppressed = mailer.store.suppressed_among(a.email for d in destinations for a in d.addresses)
    plans = []
    for destination in destinations:
        statuses = [
            (
                a.email,
                "to",
                RecipientStatus.SUPPRESSED
                if a.email.lower() in suppressed
                else RecipientStatus.PENDING,
            )
            for a in destination.addresses
        ]
        remaining = [a.email for a in destination.addresses if a.email.lower() not in suppressed]
        plans.append(_Plan(destination, statuses, remaining))
    ids = record_messages(
        mailer.store,
        [
            NewMessage(
                sender=sender.email,
                subject=f"template {spec.template}",
                configuration_set=spec.configuration_set,
                recipients=plan.statuses,
            )
            for plan in plans
        ],
    )
    for plan, record_id in zip(plans, ids, strict=True):
        plan.record_id = record_id
        if not plan.remaining:
            plan.outcome = Outcome(record_id, MessageStatus.SUPPRESSED)
    finish_sends(mailer.store, [p.outcome for p in plans if p.outcome is not None])
    sendable = [plan for plan in plans if plan.outcome is None]
    call = _Call(mailer, spec, sender, default_data, reply_to, feedback)
    try:
        for start in range(0, len(sendable), MAX_BULK_ENTRIES):
            group = sendable[start : start + MAX_BULK_ENTRIES]
            call.send(group)
            finish_sends(mailer.store, [p.outcome for p in group if p.outcome is not None])
    except BaseException as err:
        _record_failure(mailer, sendable, err, call.reached_ses)
        raise
    return BulkResult(
        tuple(
            result_of(
                plan.record_id,
                plan.outcome.ses_message_id if plan.outcome else None,
                plan.outcome.status if plan.outcome else MessageStatus.UNKNOWN,
                plan.statuses,
                plan.outcome.error if plan.outcome else None,
            )
            for plan in plans
        )
    )


def _record_failure(
    mailer: Mailer, sendable: list[_Plan], err: BaseException, reached_ses: list[_Plan]
) -> None:
    """Every destination without an outcome: ``unknown`` if its call may have reached SES,
    else ``failed``."""
    certain = isinstance(err, SendError) and not isinstance(err, OutcomeUnknown)
    error = f"{type(err).__name__}: {err}"
    for plan in sendable:
        if plan.outcome is None:
            maybe = not certain and plan in reached_ses
            status = MessageStatus.UNKNOWN if maybe else MessageStatus.FAILED
            plan.outcome = Outcome(plan.record_id, status, error=error)
    try:
        finish_sends(mailer.store, [p.outcome for p in sendable if p.outcome is not None])
    except StoreError:
        log.exception("recording the outcome of %d bulk destinations failed", len(sendable))


class _Call:
    """SendBulkEmail for one group, retried as Mailer.send retries."""

    def __init__(
        self,
        mailer: Mailer,
        spec: BulkSend,
        sender: Address,
        default_data: str,
        reply_to: list[str],
        feedback: Address | None,
    ) -> None:
        self.mailer = mailer
        self.spec = spec
        self.sender = api_form(sender)
        self.default_data = default_data
        self.reply_to = reply_to
        self.feedback = feedback.email if feedback else None
        #: The entries of the call in progress, which may have reached SES.
        self.reached_ses: list[_Plan] = []

    def send(self, group: list[_Plan]) -> None:
        delays = self.mailer.backoff.delays()
        pending = group
        while pending:
            self.mailer.pacer.acquire(sum(len(p.remaining) for p in pending))
            self.reached_ses = pending
            try:
                answers = self.mailer.ses.send_bulk(
                    sender=self.sender,
                    reply_to=self.reply_to,
                    template=self.spec.template,
                    default_data=self.default_data,
                    entries=[
                        BulkEntry(
                            to=p.remaining,
                            data=template_data(p.destination.data),
                            tags=p.destination.tags,
                        )
                        for p in pending
                    ],
                    configuration_set=self.spec.configuration_set,
                    tags=self.spec.tags,
                    feedback_address=self.feedback,
                )
            except (Throttled, AwsUnreachable) as err:
                self.reached_ses = []
                delay = next(delays, None)
                if delay is None:
                    raise
                self.mailer.retrying(err, delay)
                continue
            self.reached_ses = []
            again = []
            for index, plan in enumerate(pending):
                answer = answers[index] if index < len(answers) else None
                if answer is None:
                    plan.outcome = Outcome(
                        plan.record_id,
                        MessageStatus.UNKNOWN,
                        error="SendBulkEmail answered fewer entries than it was given",
                    )
                elif answer.status == "SUCCESS" and answer.message_id:
                    plan.outcome = Outcome(
                        plan.record_id, MessageStatus.SENT, ses_message_id=answer.message_id
                    )
                else:
                    plan.outcome = Outcome(
                        plan.record_id,
                        MessageStatus.FAILED,
                        error=f"{answer.status}: {answer.error or ''}".rstrip(": "),
                    )
                    if answer.status in _RETRY_STATUSES:
                        again.append(plan)
            if not again:
                return
            delay = next(delays, None)
            if delay is None:
                return  # recorded failed with SES's status
            for plan in again:
                plan.outcome = None
            self.mailer.retrying(Throttled(f"SendBulkEmail: {len(again)} entries throttled"), delay)
            pending = again
