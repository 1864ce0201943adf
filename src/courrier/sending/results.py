"""What a send returns: the message's status and each recipient's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from courrier.statuses import MessageStatus, RecipientStatus

__all__ = ["RecipientResult", "SendResult", "result_of"]


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
    #: Why it was not sent (a bulk destination SES refused), else None.
    error: str | None = None

    @property
    def sent(self) -> bool:
        """Whether SES accepted the message (its SES message id is in ``ses_message_id``)."""
        return self.status == "sent"


def result_of(
    record_id: int,
    ses_id: str | None,
    status: MessageStatus,
    statuses: Sequence[tuple[str, str, str]],
    error: str | None = None,
) -> SendResult:
    """Recipients still pending take the message's status, as the store records them."""
    return SendResult(
        id=record_id,
        ses_message_id=ses_id,
        status=status,
        recipients=tuple(
            RecipientResult(
                address,
                kind,
                RecipientStatus(status if s == RecipientStatus.PENDING else s),
            )
            for address, kind, s in statuses
        ),
        error=error,
    )
