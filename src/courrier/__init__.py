"""courrier: send email through Amazon SES and act on what happens to it afterwards.

The public API, by concept::

    from courrier import Message, Attachment, Mailer, Settings, Store
    from courrier import TemplateMessage, BulkDestination
    from courrier import decode, Worker, Rules

Each name is imported when it is first used (PEP 562), so ``import courrier`` and every
``courrier --help`` load neither boto3 nor SQLAlchemy until a command needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from courrier.addresses import Address, parse_address
    from courrier.errors import (
        AwsError,
        AwsUnreachable,
        CertificateUnavailable,
        ConfigurationError,
        ConfigurationSetMissing,
        ContactListMissing,
        CourrierError,
        DailyQuotaExceeded,
        FeedbackError,
        IdentityNotVerified,
        InvalidAddress,
        InvalidMessage,
        InvalidRecord,
        InvalidUnsubscribeLink,
        MessageRejected,
        MessageTooLarge,
        MissingExtra,
        OutcomeUnknown,
        ReputationGuardTripped,
        SendError,
        SendingPaused,
        SetupIncomplete,
        StoreError,
        StoreUnavailable,
        StoreUnusable,
        TemplateNotFound,
        TenantNotReady,
        TenantPaused,
        Throttled,
        UndecodableMessage,
        UnsubscribeRequired,
        UntrustedSignature,
        UntrustedTopic,
    )
    from courrier.feedback import decode
    from courrier.feedback.rules import Rules
    from courrier.feedback.worker import Worker
    from courrier.message import Attachment, Message
    from courrier.sending import BulkResult, Mailer, SendResult
    from courrier.settings import Settings
    from courrier.statuses import Action, MessageStatus, RecipientStatus
    from courrier.store import Store
    from courrier.template_message import BulkDestination, TemplateMessage

__version__ = "0.1.0.dev0"

#: Where each public name lives; ``__getattr__`` imports it on first use.
_EXPORTS = {
    "Action": "courrier.statuses",
    "Address": "courrier.addresses",
    "Attachment": "courrier.message",
    "AwsError": "courrier.errors",
    "AwsUnreachable": "courrier.errors",
    "CertificateUnavailable": "courrier.errors",
    "BulkDestination": "courrier.template_message",
    "BulkResult": "courrier.sending",
    "ConfigurationError": "courrier.errors",
    "ConfigurationSetMissing": "courrier.errors",
    "ContactListMissing": "courrier.errors",
    "CourrierError": "courrier.errors",
    "DailyQuotaExceeded": "courrier.errors",
    "FeedbackError": "courrier.errors",
    "IdentityNotVerified": "courrier.errors",
    "InvalidAddress": "courrier.errors",
    "InvalidMessage": "courrier.errors",
    "InvalidRecord": "courrier.errors",
    "InvalidUnsubscribeLink": "courrier.errors",
    "Mailer": "courrier.sending",
    "Message": "courrier.message",
    "MessageRejected": "courrier.errors",
    "MessageStatus": "courrier.statuses",
    "MessageTooLarge": "courrier.errors",
    "MissingExtra": "courrier.errors",
    "OutcomeUnknown": "courrier.errors",
    "RecipientStatus": "courrier.statuses",
    "ReputationGuardTripped": "courrier.errors",
    "Rules": "courrier.feedback.rules",
    "SendError": "courrier.errors",
    "SendResult": "courrier.sending",
    "SendingPaused": "courrier.errors",
    "SetupIncomplete": "courrier.errors",
    "Settings": "courrier.settings",
    "Store": "courrier.store",
    "StoreError": "courrier.errors",
    "StoreUnavailable": "courrier.errors",
    "StoreUnusable": "courrier.errors",
    "TemplateMessage": "courrier.template_message",
    "TemplateNotFound": "courrier.errors",
    "TenantNotReady": "courrier.errors",
    "TenantPaused": "courrier.errors",
    "Throttled": "courrier.errors",
    "UndecodableMessage": "courrier.errors",
    "UnsubscribeRequired": "courrier.errors",
    "UntrustedSignature": "courrier.errors",
    "UntrustedTopic": "courrier.errors",
    "Worker": "courrier.feedback.worker",
    "decode": "courrier.feedback",
    "parse_address": "courrier.addresses",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'courrier' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "Action",
    "Address",
    "Attachment",
    "AwsError",
    "AwsUnreachable",
    "BulkDestination",
    "BulkResult",
    "CertificateUnavailable",
    "ConfigurationError",
    "ConfigurationSetMissing",
    "ContactListMissing",
    "CourrierError",
    "DailyQuotaExceeded",
    "FeedbackError",
    "IdentityNotVerified",
    "InvalidAddress",
    "InvalidMessage",
    "InvalidRecord",
    "InvalidUnsubscribeLink",
    "Mailer",
    "Message",
    "MessageRejected",
    "MessageStatus",
    "MessageTooLarge",
    "MissingExtra",
    "OutcomeUnknown",
    "RecipientStatus",
    "ReputationGuardTripped",
    "Rules",
    "SendError",
    "SendResult",
    "SendingPaused",
    "Settings",
    "SetupIncomplete",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "StoreUnusable",
    "TemplateMessage",
    "TemplateNotFound",
    "TenantNotReady",
    "TenantPaused",
    "Throttled",
    "UndecodableMessage",
    "UnsubscribeRequired",
    "UntrustedSignature",
    "UntrustedTopic",
    "Worker",
    "__version__",
    "decode",
    "parse_address",
]
