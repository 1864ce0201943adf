"""courrier: send email through Amazon SES and act on what happens to it afterwards."""

from __future__ import annotations

from courrier.errors import (
    AwsError,
    AwsUnreachable,
    ConfigurationError,
    ConfigurationSetMissing,
    CourrierError,
    DailyQuotaExceeded,
    IdentityNotVerified,
    InvalidAddress,
    InvalidMessage,
    MessageRejected,
    MessageTooLarge,
    OutcomeUnknown,
    SandboxError,
    SendError,
    SendingPaused,
    StoreError,
    Throttled,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "AwsError",
    "AwsUnreachable",
    "ConfigurationError",
    "ConfigurationSetMissing",
    "CourrierError",
    "DailyQuotaExceeded",
    "IdentityNotVerified",
    "InvalidAddress",
    "InvalidMessage",
    "MessageRejected",
    "MessageTooLarge",
    "OutcomeUnknown",
    "SandboxError",
    "SendError",
    "SendingPaused",
    "StoreError",
    "Throttled",
    "__version__",
]
