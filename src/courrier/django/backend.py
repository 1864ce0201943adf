"""``EMAIL_BACKEND = "courrier.django.EmailBackend"``: Django's mail through courrier.

Each message goes through :class:`courrier.Mailer`, as :mod:`courrier.django.convert`
describes: suppressed recipients are dropped and recorded, every send is in the store, the
account's send rate is respected, throttling is retried. Afterwards each message carries
``message.courrier_status`` (a :class:`SendStatus`), in the manner of django-anymail's
``anymail_status``: ``status`` is the message's single status (anymail's set of statuses
is ``statuses``) and ``recipients`` maps each address to its status.
A CR or LF in a header value raises Django's ``BadHeaderError`` (also an ``InvalidMessage``),
as Django's SMTP backend does.

``send_messages`` returns how many messages SES accepted or the outbox queued (``enqueue``,
``send_at``; their status is ``pending`` with ``courrier_status.outbox_id``): one whose
recipients are all suppressed is not sent, and not counted. courrier's errors are raised
as they are, or, with ``fail_silently``, logged and left on ``courrier_status.error`` -- except
:class:`~courrier.errors.ConfigurationError`, which is always raised: a wrong setting is not
a passing failure.

``get_connection(**kwargs)`` takes courrier settings (``configuration_set="..."``), which
rank above ``settings.COURRIER``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend

from courrier.django import settings as courrier_settings
from courrier.django.convert import delivery_of, to_message
from courrier.errors import ConfigurationError, CourrierError, OutcomeUnknown, StoreError
from courrier.message import Message
from courrier.sending import Mailer, SendResult
from courrier.statuses import MessageStatus, RecipientStatus
from courrier.template_message import TemplateMessage

__all__ = ["EmailBackend", "SendStatus"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendStatus:
    """What became of one Django message (``message.courrier_status``).

    ``status`` is the message's: ``sent`` (SES accepted it), ``suppressed`` (every recipient
    is on the suppression list: nothing was sent), ``failed`` (nothing was sent: refused by
    courrier or SES) or ``unknown`` (it may have been sent: SES's answer was lost, or the
    store failed). ``recipients`` maps each address to its status, ``message_id`` is SES's
    message id, ``record_id`` the message's id in courrier's store, and ``error`` the
    courrier error swallowed under ``fail_silently``.
    """

    status: MessageStatus
    recipients: Mapping[str, RecipientStatus] = field(default_factory=dict)
    message_id: str | None = None
    record_id: int | None = None
    error: CourrierError | None = None
    #: The outbox row of a queued message (``enqueue``/``send_at``): status ``pending``.
    outbox_id: int | None = None

    @property
    def statuses(self) -> frozenset[RecipientStatus]:
        """The recipients' statuses, as a set (anymail's ``anymail_status.status``)."""
        return frozenset(self.recipients.values())

    @classmethod
    def of(cls, result: SendResult) -> SendStatus:
        return cls(
            result.status,
            {r.address: r.status for r in result.recipients},
            result.ses_message_id,
            result.id,
        )

    @classmethod
    def queued(cls, outbox_id: int, recipients: Sequence[str]) -> SendStatus:
        pending = MessageStatus.PENDING
        return cls(
            pending, dict.fromkeys(recipients, RecipientStatus(pending)), outbox_id=outbox_id
        )

    @classmethod
    def failure(
        cls, error: CourrierError, recipients: Sequence[str], *, attempted: bool = True
    ) -> SendStatus:
        """``unknown`` when the send may have happened: SES's answer was lost, or the store
        failed during an attempt (before or after SES took the message)."""
        unknown = attempted and isinstance(error, OutcomeUnknown | StoreError)
        status = MessageStatus.UNKNOWN if unknown else MessageStatus.FAILED
        return cls(status, dict.fromkeys(recipients, RecipientStatus(status)), error=error)


class EmailBackend(BaseEmailBackend):
    def __init__(self, fail_silently: bool = False, **kwargs: Any) -> None:
        super().__init__(fail_silently=fail_silently)
        self.overrides = kwargs
        self.mailer: Mailer | None = None
        self._open_error: CourrierError | None = None

    def open(self) -> bool:
        """Look up the shared mailer for these settings; True when this call did."""
        if self.mailer is not None:
            return False
        self._open_error = None
        try:
            self.mailer = courrier_settings.mailer(courrier_settings.load(**self.overrides))
        except ConfigurationError:
            raise
        except CourrierError as err:
            if not self.fail_silently:
                raise
            log.warning("courrier could not open its store: %s", err)
            self._open_error = err
            return False
        return True

    def close(self) -> None:
        # The mailer and its store are shared by the process: nothing to close here.
        self.mailer = None

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        if not email_messages:
            return 0
        opened = self.open()
        if self.mailer is None:  # could not open, under fail_silently
            error = self._open_error or CourrierError("the backend is not open")
            for message in email_messages:
                status = SendStatus.failure(error, message.recipients(), attempted=False)
                message.courrier_status = status  # type: ignore[attr-defined]
            return 0
        try:
            return sum(self._send(self.mailer, message) for message in email_messages)
        finally:
            if opened:
                self.close()

    def _send(self, mailer: Mailer, message: EmailMessage) -> bool:
        if not message.recipients():
            return False  # as Django's own backends: nobody to send to
        converted: Message | TemplateMessage | None = None
        try:
            converted = to_message(message)
            how = delivery_of(message)
            if how.enqueue:
                entry = mailer.enqueue(converted, send_at=how.send_at, key=how.key)
                status = SendStatus.queued(entry.id, [a.email for a in converted.recipients])
                message.courrier_status = status  # type: ignore[attr-defined]
                return True
            result = mailer.send(converted)
        except ConfigurationError:
            raise
        except CourrierError as err:
            # Converted addresses as sent (Punycode), else as the message gave them.
            recipients = (
                [a.email for a in converted.recipients] if converted else message.recipients()
            )
            message.courrier_status = SendStatus.failure(err, recipients)  # type: ignore[attr-defined]
            if not self.fail_silently:
                raise
            log.warning("message %r not sent: %s: %s", message.subject, type(err).__name__, err)
            return False
        message.courrier_status = SendStatus.of(result)  # type: ignore[attr-defined]
        if not result.sent:
            log.info("message %r not sent: every recipient is suppressed", message.subject)
        return result.sent
