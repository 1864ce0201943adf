"""Mailer: send one message through SES v2 and record every recipient's outcome."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from courrier.addresses import Address
from courrier.aws.clients import AwsConfig
from courrier.aws.ses import SesClient
from courrier.errors import (
    AwsUnreachable,
    ConfigurationError,
    CourrierError,
    OutcomeUnknown,
    SendError,
    StoreError,
    Throttled,
)
from courrier.message import Message
from courrier.mime import render
from courrier.reputation.guard import Guard
from courrier.sending.limiter import RateLimiter, SharedLimiter
from courrier.sending.pacing import pacer_for
from courrier.sending.retry import Backoff
from courrier.settings import Settings
from courrier.statuses import MessageStatus, RecipientStatus
from courrier.store import Store

__all__ = ["Mailer", "RecipientResult", "SendResult"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecipientResult:
    address: str
    kind: str  # to | cc | bcc
    status: RecipientStatus  # sent | suppressed (| unknown | failed, recorded on errors)


@dataclass(frozen=True)
class SendResult:
    """What happened to one message.

    ``status`` is ``sent`` (SES accepted it), or ``suppressed`` when every recipient was on
    the suppression list and nothing was sent.
    """

    id: int
    ses_message_id: str | None
    status: MessageStatus
    recipients: tuple[RecipientResult, ...]

    @property
    def sent(self) -> bool:
        return self.status == "sent"


class Mailer:
    """Sends :class:`~courrier.message.Message` values.

    Before the call, recipients on the suppression list are dropped (and recorded as
    ``suppressed``) and the account's send rate is respected (:attr:`pacer`). Throttling and
    unreachable endpoints are retried with backoff; every other SES refusal is raised at once as a
    :class:`~courrier.errors.SendError` after being recorded. When SES's answer is lost the
    message is recorded as ``unknown`` and :class:`~courrier.errors.OutcomeUnknown` is raised:
    it is never re-sent blindly. A bulk message (``Message.bulk``) is refused with
    :class:`~courrier.errors.ReputationGuardTripped`, before anything is recorded, while the
    reputation guard is tripped.
    """

    def __init__(
        self,
        store: Store,
        ses: SesClient,
        *,
        settings: Settings | None = None,
        pacer: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        guard: Guard | None = None,
        on_retry: Callable[[CourrierError, float], None] | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.store = store
        self.ses = ses
        #: Refuses bulk sends while the reputation guard is tripped (courrier.reputation).
        self.guard = guard or Guard(store, self.settings, account=ses.account)
        #: Called with the error and the delay before each retry (metrics count them).
        self._on_retry = on_retry
        if self.settings.send_rate_scope not in ("store", "process"):
            raise ConfigurationError(
                'send_rate_scope must be "store" or "process", '
                f"not {self.settings.send_rate_scope!r}"
            )
        if self.settings.max_send_rate is not None and not self.settings.max_send_rate >= 0:
            raise ConfigurationError(
                f"max_send_rate must be positive (or 0: SES's), not {self.settings.max_send_rate}"
            )
        if not self.settings.send_burst > 0:
            raise ConfigurationError(
                f"send_burst must be a positive number of seconds, not {self.settings.send_burst}"
            )
        self._pacer = pacer
        self._sleep = sleep
        self._backoff = Backoff(
            self.settings.send_attempts, self.settings.backoff_base, self.settings.backoff_cap
        )

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Mailer:
        settings = settings or Settings.load()
        store = Store(settings.database_url)
        ses = SesClient(AwsConfig(settings.profile, settings.region, settings.read_timeout))
        return cls(store, ses, settings=settings)

    @property
    def pacer(self) -> RateLimiter:
        """What keeps sends under the account's max send rate (``send_rate_scope``).

        "store" (the default): a bucket in the store shared by every process and machine
        using it (:class:`~courrier.sending.limiter.SharedLimiter`). "process": this
        process's own :class:`~courrier.sending.pacing.Pacer`, shared by its threads only.
        """
        if self._pacer is None:
            rate = self.settings.max_send_rate
            scope = self.settings.send_rate_scope
            if scope == "store":
                self._pacer = SharedLimiter(
                    self.store,
                    self.ses.region,
                    read_rate=lambda: self.ses.quota().max_send_rate,
                    fixed_rate=rate or None,
                    burst=self.settings.send_burst,
                    recheck_after=self.settings.send_rate_recheck,
                )
            else:
                self._pacer = pacer_for(
                    self.ses.endpoint,
                    self.ses.region,
                    lambda: rate or self.ses.quota().max_send_rate,
                )
        return self._pacer

    def send(self, message: Message) -> SendResult:
        """Send ``message``; every path out leaves each recipient in a final status.

        The message is rendered (and so fully checked, size included) before anything is
        recorded: a message that cannot be sent leaves no trace in the store.
        """
        self.guard.before_send(bulk=message.bulk)
        if message.configuration_set is None and self.settings.configuration_set:
            message = dataclasses.replace(
                message, configuration_set=self.settings.configuration_set
            )
        everyone = [(a, kind) for kind in ("to", "cc", "bcc") for a in message.addresses(kind)]
        suppressed = self.store.suppressed_among(a.email for a, _ in everyone)
        statuses = [
            (
                a.email,
                kind,
                RecipientStatus.SUPPRESSED
                if a.email.lower() in suppressed
                else RecipientStatus.PENDING,
            )
            for a, kind in everyone
        ]
        remaining = [a for a, kind in everyone if a.email.lower() not in suppressed]
        outgoing = _without(message, suppressed) if remaining else message
        raw = render(outgoing) if remaining else b""
        record_id = self.store.record_message(
            sender=message.from_address.email,
            subject=message.subject,
            configuration_set=message.configuration_set,
            recipients=statuses,
        )
        if not remaining:
            self.store.finish_send(record_id, status=MessageStatus.SUPPRESSED)
            log.info("message %s not sent: every recipient is suppressed", record_id)
            return self._result(record_id, None, MessageStatus.SUPPRESSED, statuses)
        attempt = _Attempt()
        try:
            ses_id = self._send_with_retries(outgoing, raw, [a.email for a in remaining], attempt)
        except BaseException as err:
            self._record_failure(record_id, err, attempt)
            raise
        try:
            self.store.finish_send(record_id, status=MessageStatus.SENT, ses_message_id=ses_id)
        except StoreError as err:
            # SES has the message: say which one, so that it can be reconciled by hand.
            raise StoreError(
                f"message {record_id} was sent as {ses_id} but recording that failed: {err}"
            ) from err
        return self._result(record_id, ses_id, MessageStatus.SENT, statuses)

    def _record_failure(self, record_id: int, err: BaseException, attempt: _Attempt) -> None:
        """``failed`` when SES certainly did not take the message, else ``unknown``."""
        certain = isinstance(err, SendError) and not isinstance(err, OutcomeUnknown)
        status = (
            MessageStatus.FAILED if certain or not attempt.reached_ses else MessageStatus.UNKNOWN
        )
        try:
            self.store.finish_send(record_id, status=status, error=f"{type(err).__name__}: {err}")
        except StoreError:
            log.exception("message %s: recording the %s outcome failed", record_id, status)

    def _send_with_retries(
        self, message: Message, raw: bytes, destinations: list[str], attempt: _Attempt
    ) -> str:
        delays = self._backoff.delays()
        feedback = message.feedback_address
        while True:
            self.pacer.acquire(len(destinations))
            attempt.reached_ses = True
            try:
                return self.ses.send_raw(
                    raw,
                    sender=message.from_address.email,
                    destinations=destinations,
                    configuration_set=message.configuration_set,
                    tags=message.tags,
                    feedback_address=feedback.email if isinstance(feedback, Address) else None,
                )
            except (Throttled, AwsUnreachable) as err:
                # SES refused (or never saw) this try; only a later try can have reached it.
                attempt.reached_ses = False
                delay = next(delays, None)
                if delay is None:
                    raise
                log.warning("send retried in %.2f s: %s", delay, err)
                if self._on_retry is not None:
                    self._on_retry(err, delay)
                self._sleep(delay)

    @staticmethod
    def _result(
        record_id: int,
        ses_id: str | None,
        status: MessageStatus,
        statuses: list[tuple[str, str, RecipientStatus]],
    ) -> SendResult:
        """Recipients still pending take the message's status, as the store records them."""
        return SendResult(
            id=record_id,
            ses_message_id=ses_id,
            status=status,
            recipients=tuple(
                RecipientResult(
                    address, kind, RecipientStatus(status) if s == RecipientStatus.PENDING else s
                )
                for address, kind, s in statuses
            ),
        )


@dataclass
class _Attempt:
    """Whether the current try may have reached SES (pacing and backoff waits do not)."""

    reached_ses: bool = False


def _without(message: Message, suppressed: set[str]) -> Message:
    if not suppressed:
        return message

    def kept(kind: str) -> tuple[Address, ...]:
        return tuple(a for a in message.addresses(kind) if a.email.lower() not in suppressed)

    return dataclasses.replace(message, to=kept("to"), cc=kept("cc"), bcc=kept("bcc"))
