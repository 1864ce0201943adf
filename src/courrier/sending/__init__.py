"""Sending: the Mailer, and the pacing and retry policies it applies."""

from courrier.sending.limiter import SharedLimiter
from courrier.sending.mailer import Mailer, RecipientResult, SendResult
from courrier.sending.pacing import Pacer

__all__ = ["Mailer", "Pacer", "RecipientResult", "SendResult", "SharedLimiter"]
