"""Bulk sends: one template to many destinations, v2 SendBulkEmail in groups of 50.

Each destination is its own message for SES (its own message id, its own feedback), so
each is recorded as its own message in the store. Suppressed recipients are dropped
before the call (a destination left with nobody is recorded ``suppressed`` and never
sent); the pacer is charged for every recipient of a group before its call, since each
destination counts toward the send rate
(https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendBulkEmail.html). Each group
goes through :func:`courrier.sending.pipeline.send_group`: a group SES throttles as a whole
is retried with backoff like :meth:`Mailer.send`; so are the entries it answers
``ACCOUNT_THROTTLED`` or ``TRANSIENT_FAILURE``. Every other per-entry status is that
destination's refusal, recorded ``failed`` with SES's error.

A failure of the whole call that no retry cures (a missing template, paused sending) is
recorded for every destination not yet sent and raised, as :meth:`Mailer.send` does: the
destinations of that group are ``unknown`` when the call may have reached SES, the later
ones ``failed``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from courrier.addresses import Address, parse_address
from courrier.aws.ses import BulkEntry
from courrier.errors import InvalidMessage, MessageRejected, StoreError
from courrier.message import AddressLike, check_list_name, check_options, check_tenant_name
from courrier.sending import pipeline
from courrier.sending.pipeline import Outcome, Verdict, send_group
from courrier.sending.results import SendResult, result_of
from courrier.sending.templated import api_form
from courrier.sending.unsubscribing import bulk_headers, list_management, managed_by_ses
from courrier.statuses import MessageStatus, RecipientStatus
from courrier.store.sends import Begun, NewMessage, finish_sends
from courrier.store.sends import Outcome as Outcome_
from courrier.template_message import (
    BulkDestination,
    TemplateMessage,
    check_template_name,
    template_data,
)

if TYPE_CHECKING:
    from courrier.sending.mailer import Mailer

__all__ = ["MAX_BULK_ENTRIES", "BulkResult", "BulkSend", "send_bulk"]

log = logging.getLogger(__name__)

#: SES's limit on the destinations of one bulk call (https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendBulkEmail.html).
MAX_BULK_ENTRIES = 50


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
    #: The list the destinations receive (their unsubscribe links name it).
    list_name: str | None = None
    #: The SES tenant the destinations are sent for (``TenantName``).
    tenant: str | None = None


@dataclass(frozen=True)
class BulkResult:
    """One :class:`SendResult` per destination, in the order given."""

    results: tuple[SendResult, ...]

    def count(self, status: str) -> int:
        """How many destinations ended with ``status`` (a :class:`MessageStatus`)."""
        return sum(1 for result in self.results if result.status == status)

    @property
    def sent(self) -> int:
        """How many destinations SES accepted."""
        return self.count(MessageStatus.SENT)

    @property
    def failed(self) -> int:
        """How many destinations SES refused, or that failed before SES."""
        return self.count(MessageStatus.FAILED)

    @property
    def suppressed(self) -> int:
        """How many destinations were left out: every recipient was suppressed."""
        return self.count(MessageStatus.SUPPRESSED)


def send_bulk(
    mailer: Mailer, spec: BulkSend, destinations: Sequence[BulkDestination]
) -> BulkResult:
    mailer.guard.before_send(bulk=True, tenant=spec.tenant)
    check_template_name(spec.template)
    sender = parse_address(spec.sender)
    default_data = template_data(spec.data)
    check_options(spec.tags, spec.configuration_set)
    reply_to = [api_form(parse_address(a)) for a in spec.reply_to]
    feedback = parse_address(spec.feedback_address) if spec.feedback_address else None
    check_list_name(spec.list_name)
    check_tenant_name(spec.tenant)
    for destination in destinations:
        if not isinstance(destination, BulkDestination):
            raise InvalidMessage(f"not a BulkDestination: {destination!r}")
    if managed_by_ses(mailer.settings):
        return _one_by_one(mailer, spec, sender, destinations)
    headers = [
        bulk_headers(mailer.settings, d.addresses, spec.list_name, spec.tenant)
        for d in destinations
    ]
    if not destinations:
        return BulkResult(())
    intent = mailer.store.begin_send(
        [
            NewMessage(
                sender.email,
                f"template {spec.template}",
                spec.configuration_set,
                [(a.email, "to", RecipientStatus.PENDING) for a in d.addresses],
                bulk=True,
                list_name=spec.list_name,
                tenant=spec.tenant,
            )
            for d in destinations
        ]
    )
    begun = list(intent.messages)
    verdicts: dict[int, Verdict] = {
        n: Verdict(Outcome.SUPPRESSED) for n, b in enumerate(begun) if not b.sendable
    }
    _record(mailer, begun, verdicts)
    call = functools.partial(
        mailer.ses.send_bulk,
        sender=api_form(sender),
        reply_to=reply_to,
        template=spec.template,
        default_data=default_data,
        configuration_set=spec.configuration_set,
        tags=spec.tags,
        feedback_address=feedback.email if feedback else None,
        tenant=spec.tenant,
    )
    sendable = [n for n in range(len(begun)) if n not in verdicts]
    error: BaseException | None = None
    for start in range(0, len(sendable), MAX_BULK_ENTRIES):
        group = sendable[start : start + MAX_BULK_ENTRIES]
        if error is not None:
            # An earlier group failed as a whole: these were never tried.
            verdicts.update(dict.fromkeys(group, Verdict(Outcome.FAILED, error=_text(error))))
        else:
            entries = [
                BulkEntry(
                    to=begun[n].sendable,
                    data=template_data(destinations[n].data),
                    tags=destinations[n].tags,
                    headers=headers[n],
                )
                for n in group
            ]
            found, error = send_group(mailer, lambda e: call(entries=e), entries, mailer.backoff)
            verdicts.update(zip(group, found, strict=True))
        _record(mailer, begun, {n: verdicts[n] for n in group}, quiet=error is not None)
    if error is not None:
        raise error
    return BulkResult(
        tuple(
            result_of(
                b.record_id or 0,
                verdicts[n].ses_message_id,
                verdicts[n].status,
                b.recipients,
                verdicts[n].error,
            )
            for n, b in enumerate(begun)
        )
    )


def _one_by_one(
    mailer: Mailer, spec: BulkSend, sender: Address, destinations: Sequence[BulkDestination]
) -> BulkResult:
    """Under SES's subscription management: one SendEmail per destination, because
    SendBulkEmail has no ``ListManagementOptions`` (botocore's sesv2 model; see
    :mod:`courrier.sending.unsubscribing`). A destination SES refuses is recorded ``failed``
    and the others go on, as with SendBulkEmail; any other error stops the send and is
    raised (the destinations after it are not recorded: nothing was sent to them)."""
    messages = [
        TemplateMessage(
            sender=sender,
            template=spec.template,
            to=d.addresses,
            data={**spec.data, **d.data},
            reply_to=spec.reply_to,
            tags={**spec.tags, **d.tags},
            configuration_set=spec.configuration_set,
            feedback_address=spec.feedback_address,
            bulk=True,
            list_name=spec.list_name,
        )
        for d in destinations
    ]
    for message in messages:
        list_management(mailer.settings, message)  # refused before anything is sent
    results: list[SendResult] = []
    for message in messages:
        delivery = pipeline.deliver(mailer, message, backoff=mailer.backoff)
        assert delivery is not None  # no outbox row: always recorded
        if delivery.error is not None and not (
            delivery.verdict.outcome is Outcome.FAILED
            and isinstance(delivery.error, MessageRejected)
        ):
            raise delivery.error
        results.append(delivery.result)
    return BulkResult(tuple(results))


def _record(
    mailer: Mailer, begun: list[Begun], verdicts: dict[int, Verdict], *, quiet: bool = False
) -> None:
    """One transaction for the outcomes of a group; ``quiet``: log a failure rather than
    raise it (an error of the call is on its way out)."""
    outcomes = [
        Outcome_(begun[n].record_id or 0, v.status, v.ses_message_id, v.error)
        for n, v in verdicts.items()
    ]
    try:
        finish_sends(mailer.store, outcomes)
    except StoreError:
        if not quiet:
            raise
        log.exception("recording the outcome of %d bulk destinations failed", len(outcomes))


def _text(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"
