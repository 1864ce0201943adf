"""Feedback: decode what SES sends (pure), decide what to do (rules), apply it (store)."""

from courrier.feedback.decode import Decoded, Envelope, decode
from courrier.feedback.events import (
    Bounce,
    Click,
    Complaint,
    Delivery,
    DeliveryDelay,
    Event,
    Open,
    Reject,
    RenderingFailure,
    Send,
    Subscription,
    Unknown,
)

__all__ = [
    "Bounce",
    "Click",
    "Complaint",
    "Decoded",
    "Delivery",
    "DeliveryDelay",
    "Envelope",
    "Event",
    "Open",
    "Reject",
    "RenderingFailure",
    "Send",
    "Subscription",
    "Unknown",
    "decode",
]
