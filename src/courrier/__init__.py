"""courrier: send email through Amazon SES and act on what happens to it afterwards.

The public API, by concept::

    from courrier import Message, Attachment, Mailer, Settings, Store
    from courrier import TemplateMessage, BulkDestination
    from courrier import decode, Worker, Rules
"""

from __future__ import annotations

from courrier.addresses import Address, parse_address
from courrier.errors import (
    AwsError,
    AwsUnreachable,
    CertificateUnavailable,
    ConfigurationError,
    ConfigurationSetMissing,
    CourrierError,
    DailyQuotaExceeded,
    FeedbackError,
    IdentityNotVerified,
    InvalidAddress,
    InvalidMessage,
    InvalidRecord,
    MessageRejected,
    MessageTooLarge,
    OutcomeUnknown,
    ReputationGuardTripped,
    SandboxError,
    SendError,
    SendingPaused,
    StoreError,
    StoreUnavailable,
    StoreUnusable,
    TemplateNotFound,
    Throttled,
    UndecodableMessage,
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
    "CourrierError",
    "DailyQuotaExceeded",
    "FeedbackError",
    "IdentityNotVerified",
    "InvalidAddress",
    "InvalidMessage",
    "InvalidRecord",
    "Mailer",
    "Message",
    "MessageRejected",
    "MessageStatus",
    "MessageTooLarge",
    "OutcomeUnknown",
    "RecipientStatus",
    "ReputationGuardTripped",
    "Rules",
    "SandboxError",
    "SendError",
    "SendResult",
    "SendingPaused",
    "Settings",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "StoreUnusable",
    "TemplateMessage",
    "TemplateNotFound",
    "Throttled",
    "UndecodableMessage",
    "UntrustedSignature",
    "UntrustedTopic",
    "Worker",
    "__version__",
    "decode",
    "parse_address",
]
