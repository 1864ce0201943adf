"""The one-click unsubscribe headers of bulk sends (see :mod:`courrier.unsubscribe`).

Every bulk path asks here: :meth:`Mailer.send <courrier.sending.Mailer.send>` of a bulk
:class:`~courrier.message.Message` (the headers go into the raw message) or
:class:`~courrier.template_message.TemplateMessage` (SESv2 ``Template.Headers``),
:meth:`Mailer.send_bulk <courrier.sending.Mailer.send_bulk>` and the outbox's grouped
SendBulkEmail calls (``ReplacementHeaders``, one per destination: the link is the
recipient's own; https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_BulkEmailEntry.html).
Transactional messages get nothing.

With ``unsubscribe_contact_list`` set, SES manages the subscriptions instead: a bulk send
carries ``ListManagementOptions`` (the contact list, and the message's topic) and no header of
courrier's; SES adds ``List-Unsubscribe`` and ``List-Unsubscribe-Post`` itself, to a message
with one recipient only
(https://docs.aws.amazon.com/ses/latest/dg/sending-email-subscription-management.html).
SendBulkEmail has no ``ListManagementOptions`` (botocore's sesv2 model: SendEmail only), so
such sends go one SendEmail per destination.
"""

from __future__ import annotations

from collections.abc import Sequence

from courrier.addresses import Address
from courrier.errors import InvalidMessage
from courrier.message import Message
from courrier.settings import Settings
from courrier.template_message import TemplateMessage
from courrier.unsubscribe import Links, links_for

__all__ = [
    "bulk_headers",
    "check_bulk",
    "headers_for",
    "list_management",
    "managed_by_ses",
    "topic_for",
]


def managed_by_ses(settings: Settings) -> bool:
    """Whether SES's subscription management (a contact list) carries the unsubscribes."""
    return bool(settings.unsubscribe_contact_list)


def topic_for(settings: Settings, list_name: str | None) -> str | None:
    """The list a bulk send belongs to: its own, else the default topic when SES manages
    the subscriptions (the stored unsubscribes it is checked against name that topic)."""
    if list_name is None and managed_by_ses(settings):
        return settings.unsubscribe_topic
    return list_name


def _one_recipient(recipients: Sequence[Address], why: str) -> None:
    if len(recipients) != 1:
        raise InvalidMessage(
            f"a bulk message {why}, so it goes to one recipient, not {len(recipients)}: "
            "send one message per recipient"
        )


def list_management(
    settings: Settings, message: Message | TemplateMessage
) -> dict[str, str] | None:
    """The ``ListManagementOptions`` of ``message`` (None: transactional, or courrier's own
    links carry the unsubscribes)."""
    contact_list = settings.unsubscribe_contact_list
    if not message.bulk or not contact_list:
        return None
    # SES adds its headers only to a message with one recipient (see the module's page).
    _one_recipient(message.recipients, "carries SES's unsubscribe headers only when alone")
    options = {"ContactListName": contact_list}
    topic = topic_for(settings, message.list_name)
    if topic:
        options["TopicName"] = topic
    return options


def check_bulk(settings: Settings) -> Links | None:
    """The links bulk sends carry (None: the lists are managed elsewhere); raises
    :class:`~courrier.errors.UnsubscribeRequired` when a bulk send would carry none."""
    if managed_by_ses(settings):
        return None
    return links_for(settings)


def bulk_headers(
    settings: Settings,
    recipients: Sequence[Address],
    list_name: str | None,
    tenant: str | None = None,
) -> dict[str, str]:
    """``List-Unsubscribe`` and ``List-Unsubscribe-Post`` for the one recipient of a bulk
    message ({} when the lists are managed elsewhere, or by SES); a tenant's message gets a
    link that unsubscribes from that tenant's mail only."""
    links = check_bulk(settings)
    if links is None:
        return {}
    # One link per recipient (nobody can unsubscribe someone else), so one recipient.
    _one_recipient(recipients, "carries its recipient's own unsubscribe link")
    return links.headers(recipients[0].email, list_name, tenant=tenant)


def headers_for(settings: Settings, message: Message | TemplateMessage) -> dict[str, str]:
    """The unsubscribe headers ``message`` must carry: none for transactional mail, nor for
    a bulk :class:`~courrier.message.Message` that brings its own ``List-Unsubscribe``."""
    if not message.bulk:
        return {}
    if isinstance(message, Message) and any(
        name.lower() == "list-unsubscribe" for name in message.headers
    ):
        return {}
    return bulk_headers(settings, message.recipients, message.list_name, message.tenant)
