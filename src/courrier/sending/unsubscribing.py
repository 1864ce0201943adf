"""The one-click unsubscribe headers of bulk sends (see :mod:`courrier.unsubscribe`).

Every bulk path asks here: :meth:`Mailer.send <courrier.sending.Mailer.send>` of a bulk
:class:`~courrier.message.Message` (the headers go into the raw message) or
:class:`~courrier.template_message.TemplateMessage` (SESv2 ``Template.Headers``),
:meth:`Mailer.send_bulk <courrier.sending.Mailer.send_bulk>` and the outbox's grouped
SendBulkEmail calls (``ReplacementHeaders``, one per destination: the link is the
recipient's own; https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_BulkEmailEntry.html).
Transactional messages get nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from courrier.addresses import Address
from courrier.errors import InvalidMessage
from courrier.message import Message
from courrier.settings import Settings
from courrier.template_message import TemplateMessage
from courrier.unsubscribe import Links, links_for

__all__ = ["bulk_headers", "check_bulk", "headers_for"]


def check_bulk(settings: Settings) -> Links | None:
    """The links bulk sends carry (None: the lists are managed elsewhere); raises
    :class:`~courrier.errors.UnsubscribeRequired` when a bulk send would carry none."""
    return links_for(settings)


def bulk_headers(
    settings: Settings, recipients: Sequence[Address], list_name: str | None
) -> dict[str, str]:
    """``List-Unsubscribe`` and ``List-Unsubscribe-Post`` for the one recipient of a bulk
    message ({} when the lists are managed elsewhere)."""
    links = check_bulk(settings)
    if links is None:
        return {}
    if len(recipients) != 1:
        # One link per recipient (nobody can unsubscribe someone else), so one recipient.
        raise InvalidMessage(
            f"a bulk message carries its recipient's own unsubscribe link, so it goes to one "
            f"recipient, not {len(recipients)}: send one message per recipient"
        )
    return links.headers(recipients[0].email, list_name)


def headers_for(settings: Settings, message: Message | TemplateMessage) -> dict[str, str]:
    """The unsubscribe headers ``message`` must carry: none for transactional mail, nor for
    a bulk :class:`~courrier.message.Message` that brings its own ``List-Unsubscribe``."""
    if not message.bulk:
        return {}
    if isinstance(message, Message) and any(
        name.lower() == "list-unsubscribe" for name in message.headers
    ):
        return {}
    return bulk_headers(settings, message.recipients, message.list_name)
