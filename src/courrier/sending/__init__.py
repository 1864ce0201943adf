"""Sending: the Mailer, and the pacing and retry policies it applies."""

from courrier.sending.bulk import BulkResult
from courrier.sending.limiter import SharedLimiter
from courrier.sending.mailer import Mailer, RecipientResult, SendResult
from courrier.sending.pacing import Pacer

__all__ = ["BulkResult", "Mailer", "Pacer", "RecipientResult", "SendResult", "SharedLimiter"]
