"""The sandbox's SES errors, independent of the wire protocol."""

from __future__ import annotations


class SesFault(Exception):
    """``kind`` is one of: InvalidParameter, MessageRejected, Throttling, DailyQuota,
    AccountPaused, ConfigSetPaused, ConfigSetMissing, ConfigSetExists, DestinationExists,
    DestinationMissing, NotFound, AlreadyExists, LimitExceeded, NotAllowedInSandbox."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
