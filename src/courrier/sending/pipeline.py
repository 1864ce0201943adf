"""The one send pipeline: build the request, take tokens, call, classify, record.

:meth:`Mailer.send <courrier.sending.Mailer.send>`, :meth:`Mailer.send_bulk
<courrier.sending.Mailer.send_bulk>` and the outbox runner all go through here:

1. the request is built (a message rendered) before anything is recorded, so a message that
   can never be sent leaves no trace;
2. the intent is one transaction (:func:`courrier.store.sends.begin_sends`): suppressed
   recipients marked, the message recorded, the send rate's tokens taken for the others and
   an outbox row started;
3. the call, retried in a moment when SES throttles it or cannot be reached;
4. :func:`classify` turns SES's answer, or the error, into a :class:`Verdict`: sent, failed,
   unknown or retry;
5. the outcome is one more transaction (:func:`courrier.store.sends.finish_sends`), with the
   outbox row it settles.

So a one-recipient send commits twice, whatever the store.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, TypeVar

from courrier.addresses import Address
from courrier.aws.ses import BulkEntry, BulkEntryResult
from courrier.backoff import Backoff
from courrier.errors import (
    AwsError,
    AwsUnreachable,
    ConfigurationError,
    CourrierError,
    DailyQuotaExceeded,
    InvalidMessage,
    OutcomeUnknown,
    ReputationGuardTripped,
    SendError,
    SendingPaused,
    StoreError,
    TenantPaused,
    Throttled,
)
from courrier.message import AddressKind, Message
from courrier.sending.results import SendResult, result_of
from courrier.statuses import MessageStatus, RecipientStatus
from courrier.store.send_rate import Grant
from courrier.store.sends import Begun, NewMessage, OutboxFinish, OutboxStart
from courrier.template_message import TemplateMessage

if TYPE_CHECKING:
    from courrier.sending.mailer import Mailer

__all__ = [
    "ACCOUNT_WAIT",
    "GUARD_WAIT",
    "Delivery",
    "Outcome",
    "Verdict",
    "classify",
    "deliver",
    "send_group",
]

log = logging.getLogger(__name__)

_M = TypeVar("_M", bound=Message | TemplateMessage)

#: The SES operations that carry a message: a failure of anything else is before the send.
SEND_OPERATIONS = frozenset({"SendEmail", "SendBulkEmail"})
#: Per-entry SendBulkEmail statuses that mean "not now" (see the SendBulkEmail API reference,
#: BulkEmailEntryResult: https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_BulkEmailEntryResult.html).
RETRY_STATUSES = frozenset({"ACCOUNT_THROTTLED", "TRANSIENT_FAILURE"})
#: Per-entry statuses of SES's refusal of every send of the account or configuration set
#: (paused, suspended, over quota): they say nothing of the entry's tenant.
_NOT_THE_MESSAGES = ("ACCOUNT_", "CONFIGURATION_SET_")
#: How long a send refused by a tripped guard waits before the next look.
GUARD_WAIT = 60.0
#: How long sends wait when SES refuses every send of the account (daily quota used up,
#: sending paused): each try would be refused the same way, and the quota is a rolling 24
#: hours (https://docs.aws.amazon.com/ses/latest/dg/manage-sending-quotas.html).
ACCOUNT_WAIT = 900.0


class Outcome(StrEnum):
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"
    #: Not sent, and it may be sent later.
    RETRY = "retry"
    #: Not sent: every recipient is on the suppression list (never an SES answer).
    SUPPRESSED = "suppressed"


@dataclass(frozen=True)
class Verdict:
    """What one answer of SES (or one error) means for the message it was about."""

    outcome: Outcome
    ses_message_id: str | None = None
    error: str | None = None
    #: RETRY: a try in a moment may succeed (throttled, unreachable).
    transient: bool = False
    #: RETRY: not before this many seconds (the account's refusal, or the guard's).
    wait: float | None = None
    #: RETRY: SES refuses every send of the account for now (quota, paused).
    account: bool = False
    #: RETRY: SES paused the message's tenant: its other sends are refused too.
    tenant_paused: bool = False
    #: RETRY: nothing will be sent until a person changes the configuration.
    fatal: bool = False
    #: SES answered for this message itself: it took it, or refused it for a reason of the
    #: message's (not the account's state, the send rate, or a request that never reached
    #: it). Only such an answer says that the message's tenant is not paused.
    answered: bool = False

    @property
    def status(self) -> MessageStatus:
        """The message's recorded status: a retry given up is ``failed`` (not sent)."""
        if self.outcome is Outcome.RETRY:
            return MessageStatus.FAILED
        return MessageStatus(self.outcome.value)


def _text(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


def classify(answer: str | BulkEntryResult | BaseException | None, *, reached_ses: bool) -> Verdict:
    """The one reading of SES's answers: a message id (SendEmail), one SendBulkEmail entry's
    result (None: SES answered fewer entries than it was given), or the error a send raised.
    ``reached_ses``: whether the request may have reached SES when the error happened."""
    if isinstance(answer, str):
        return Verdict(Outcome.SENT, ses_message_id=answer, answered=True)
    if answer is None:
        error = "SendBulkEmail answered fewer entries than it was given"
        return Verdict(Outcome.UNKNOWN, error=error)
    if isinstance(answer, BulkEntryResult):
        return _entry_verdict(answer)
    return _error_verdict(answer, reached_ses)


def _entry_verdict(answer: BulkEntryResult) -> Verdict:
    if answer.status == "SUCCESS" and answer.message_id:
        return Verdict(Outcome.SENT, ses_message_id=answer.message_id, answered=True)
    error = f"{answer.status}: {answer.error or ''}".rstrip(": ")
    if answer.status in RETRY_STATUSES:
        return Verdict(Outcome.RETRY, error=error, transient=True)
    answered = not answer.status.startswith(_NOT_THE_MESSAGES)
    return Verdict(Outcome.FAILED, error=error, answered=answered)


def _error_verdict(err: BaseException, reached_ses: bool) -> Verdict:
    text = _text(err)
    if isinstance(err, Throttled | AwsUnreachable):
        # SES refused (or never saw) this try; only a later try can reach it.
        return Verdict(Outcome.RETRY, error=text, transient=True)
    if isinstance(err, TenantPaused):
        # One tenant's pause: its messages wait, the account's other sends go on.
        return Verdict(Outcome.RETRY, error=text, wait=ACCOUNT_WAIT, tenant_paused=True)
    if isinstance(err, DailyQuotaExceeded | SendingPaused):
        return Verdict(Outcome.RETRY, error=text, wait=ACCOUNT_WAIT, account=True)
    if isinstance(err, ReputationGuardTripped):
        return Verdict(Outcome.RETRY, error=text, wait=GUARD_WAIT)
    if isinstance(err, OutcomeUnknown):
        return Verdict(Outcome.UNKNOWN, error=text)
    if isinstance(err, SendError):
        return Verdict(Outcome.FAILED, error=text, answered=True)  # SES refused the message
    if isinstance(err, InvalidMessage):
        return Verdict(Outcome.FAILED, error=text)
    if isinstance(err, StoreError):
        if err.ses_message_id is not None:
            # SES took it but the record failed: sent, as a person can check by its id.
            return Verdict(
                Outcome.SENT, ses_message_id=err.ses_message_id, error=text, answered=True
            )
        return Verdict(Outcome.RETRY, error=text)  # the intent failed: nothing reached SES
    if isinstance(err, ConfigurationError):
        # Credentials or region: found before any request went out.
        return Verdict(Outcome.RETRY, error=text, fatal=True)
    if isinstance(err, AwsError) and err.operation not in SEND_OPERATIONS:
        return Verdict(Outcome.RETRY, error=text)  # before the send (reading the rate)
    # A send call that failed in a way SES's answer does not explain, or an interruption.
    return Verdict(Outcome.UNKNOWN if reached_ses else Outcome.FAILED, error=text)


@dataclass(frozen=True)
class Delivery:
    """One message through the pipeline: what was recorded, the verdict, and the error
    behind a verdict other than sent (the caller raises it, or settles an outbox row)."""

    result: SendResult
    verdict: Verdict
    error: BaseException | None = None
    #: False when recording the outcome failed (logged): the outbox row is not settled.
    recorded: bool = True


Settle = Callable[[Verdict], OutboxFinish | None]


def everyone(message: Message | TemplateMessage) -> list[tuple[str, str, str]]:
    return [
        (a.email, kind, RecipientStatus.PENDING)
        for kind in ("to", "cc", "bcc")
        for a in message.addresses(kind)
    ]


def deliver(
    mailer: Mailer,
    message: Message | TemplateMessage,
    *,
    backoff: Backoff,
    outbox: OutboxStart | None = None,
    settle: Settle | None = None,
) -> Delivery | None:
    """Send one message (see the module); None when ``outbox`` is no longer the claimer's
    (nothing recorded or sent). ``settle`` turns the verdict into the outbox row's fate,
    recorded with the outcome. Errors before the intent (the guard, rendering) and a failure
    to record a message SES took are raised; every other path returns."""
    mailer.guard.before_send(bulk=message.bulk, tenant=message.tenant)
    message = mailer.with_defaults(message)
    call = mailer.request(message)
    intent = mailer.store.begin_send(
        [
            NewMessage(
                message.from_address.email,
                message.subject,
                message.configuration_set,
                everyone(message),
                outbox=outbox,
                bulk=message.bulk,
                list_name=message.list_name,
                tenant=message.tenant,
            )
        ],
        tokens=mailer.token_request(),
    )
    [begun] = intent.messages
    if begun.record_id is None:
        return None
    remaining = begun.sendable
    if not remaining:
        log.info("message %s not sent: every recipient is suppressed", begun.record_id)
        return record(mailer, begun, Verdict(Outcome.SUPPRESSED), None, settle)
    # Suppressed, or unsubscribed from a bulk message's list.
    suppressed = {a.lower() for a, _, s in begun.recipients if s != RecipientStatus.PENDING}
    if suppressed:
        call = mailer.request(_without(message, suppressed))
    verdict, error = _attempts(mailer, call, len(remaining), backoff, intent.grant)
    return record(mailer, begun, verdict, error, settle)


def _attempts(
    mailer: Mailer,
    call: Callable[[], str],
    recipients: int,
    backoff: Backoff,
    grant: Grant | None,
) -> tuple[Verdict, BaseException | None]:
    delays = backoff.delays()
    reached = False
    try:
        mailer.pace(recipients, grant)
        while True:
            reached = True
            try:
                return classify(call(), reached_ses=True), None
            except Exception as err:
                verdict = classify(err, reached_ses=True)
                delay = next(delays, None) if verdict.transient else None
                if delay is None:
                    return verdict, err
                reached = False
                mailer.retrying(_courrier(err), delay)
            mailer.pace(recipients, None)
    except BaseException as err:
        return classify(err, reached_ses=reached), err


def _courrier(err: Exception) -> CourrierError:
    return err if isinstance(err, CourrierError) else CourrierError(str(err))


def record(
    mailer: Mailer,
    begun: Begun,
    verdict: Verdict,
    error: BaseException | None,
    settle: Settle | None,
) -> Delivery:
    """The outcome's transaction; re-raises an interruption (Ctrl-C) once it is recorded."""
    assert begun.record_id is not None
    result = result_of(
        begun.record_id, verdict.ses_message_id, verdict.status, list(begun.recipients)
    )
    sent = verdict.outcome is Outcome.SENT
    try:
        mailer.store.finish_send(
            begun.record_id,
            status=verdict.status,
            ses_message_id=verdict.ses_message_id,
            error=None if sent else verdict.error,
            outbox=settle(verdict) if settle else None,
        )
    except StoreError as err:
        if sent:
            # SES has the message: say which one, so that it can be reconciled by hand.
            lost = StoreError(
                f"message {begun.record_id} was sent as {verdict.ses_message_id} but "
                f"recording that failed: {err}"
            )
            lost.ses_message_id = verdict.ses_message_id
            raise lost from err
        log.exception("message %s: recording the %s outcome failed", begun.record_id, verdict)
        return Delivery(result, verdict, error, recorded=False)
    if error is not None and not isinstance(error, Exception):
        raise error
    return Delivery(result, verdict, error)


def send_group(
    mailer: Mailer,
    call: Callable[[list[BulkEntry]], list[BulkEntryResult]],
    entries: Sequence[BulkEntry],
    backoff: Backoff,
    grant: Grant | None = None,
) -> tuple[list[Verdict], BaseException | None]:
    """One SendBulkEmail group (at most 50 entries): a verdict per entry, and the error of
    the call when it failed as a whole (each entry then has its verdict). Throttled calls,
    and entries SES answers ``ACCOUNT_THROTTLED`` or ``TRANSIENT_FAILURE``, are tried again
    with ``backoff``; an entry whose tries run out keeps its RETRY verdict."""
    verdicts: dict[int, Verdict] = {}
    pending = list(range(len(entries)))
    delays = backoff.delays()
    reached = False
    try:
        mailer.pace(sum(len(entries[i].to) for i in pending), grant)
        while pending:
            reached = True
            try:
                answers = call([entries[i] for i in pending])
            except Exception as err:
                verdict = classify(err, reached_ses=True)
                delay = next(delays, None) if verdict.transient else None
                if delay is None:
                    verdicts.update(dict.fromkeys(pending, verdict))
                    return [verdicts[i] for i in range(len(entries))], err
                reached = False
                mailer.retrying(_courrier(err), delay)
                mailer.pace(sum(len(entries[i].to) for i in pending), None)
                continue
            reached = False
            for n, index in enumerate(pending):
                verdicts[index] = classify(
                    answers[n] if n < len(answers) else None, reached_ses=True
                )
            pending = [i for i in pending if verdicts[i].transient]
            delay = next(delays, None) if pending else None
            if delay is None:
                break
            mailer.retrying(Throttled(f"SendBulkEmail: {len(pending)} entries throttled"), delay)
            mailer.pace(sum(len(entries[i].to) for i in pending), None)
    except BaseException as err:
        verdicts.update(dict.fromkeys(pending, classify(err, reached_ses=reached)))
        return [verdicts[i] for i in range(len(entries))], err
    return [verdicts[i] for i in range(len(entries))], None


def _without(message: _M, suppressed: set[str]) -> _M:
    def kept(kind: AddressKind) -> tuple[Address, ...]:
        return tuple(a for a in message.addresses(kind) if a.email.lower() not in suppressed)

    return dataclasses.replace(message, to=kept("to"), cc=kept("cc"), bcc=kept("bcc"))
