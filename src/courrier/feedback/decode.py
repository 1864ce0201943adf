"""SQS body -> SNS envelope -> SES payload -> typed events. Pure: text in, values out.

Accepted shapes (docs/ses.md#sns-messages, #sqs):

* an SNS envelope (raw delivery off): ``Notification`` with the SES JSON as a string in
  ``Message``; ``SubscriptionConfirmation`` and ``UnsubscribeConfirmation`` are recognised and
  produce no event;
* the SES JSON itself (raw delivery on, or an SNS HTTPS body already unwrapped);
* the setup messages SES publishes when a topic is attached, which produce no event.

Anything else raises :class:`~courrier.errors.UndecodableMessage`, including bodies that
parse but could not be what AWS sends (:mod:`courrier.feedback.limits`).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from courrier.errors import UndecodableMessage
from courrier.feedback import events as ev
from courrier.feedback import limits

__all__ = ["EARLIEST", "LATEST", "Decoded", "Envelope", "decode", "parse_timestamp"]

SETUP_STRING = "Successfully validated SNS topic for Amazon SES event publishing."
SETUP_NOTIFICATION = "AmazonSnsSubscriptionSucceeded"


@dataclass(frozen=True)
class Envelope:
    type: str
    message_id: str | None
    topic_arn: str | None
    subject: str | None
    timestamp: str | None
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)


@dataclass(frozen=True)
class Decoded:
    """The events in one SQS body; ``ignored`` says why a recognised body has none."""

    events: tuple[ev.Event, ...]
    envelope: Envelope | None
    ignored: str | None = None
    payload: dict[str, Any] | None = field(default=None, repr=False, compare=False)


def decode(body: str | bytes) -> Decoded:
    """Decode one SQS message body (or SNS HTTPS body, or bare SES payload).

    Raises :class:`~courrier.errors.UndecodableMessage` for anything else.
    """
    decoded = _decode(body)
    limits.check_storable(decoded.envelope, decoded.events)
    return decoded


def _decode(body: str | bytes) -> Decoded:
    text = _text(body)
    outer = _json(text)
    if outer is None:
        if text.strip() == SETUP_STRING:
            return Decoded((), None, ignored="event publishing setup message")
        raise UndecodableMessage(f"not JSON: {text[:80]!r}")
    if not isinstance(outer, dict):
        raise UndecodableMessage(f"expected a JSON object, got {type(outer).__name__}")
    envelope = _envelope(outer)
    if envelope is None:
        return _payload(outer, None)
    if envelope.type in ("SubscriptionConfirmation", "UnsubscribeConfirmation"):
        return Decoded((), envelope, ignored=f"SNS {envelope.type}")
    if envelope.type != "Notification":
        raise UndecodableMessage(f"unknown SNS message type {envelope.type!r}")
    message = outer.get("Message")
    if not isinstance(message, str):
        raise UndecodableMessage("SNS notification without a Message string")
    if message.strip() == SETUP_STRING:
        return Decoded((), envelope, ignored="event publishing setup message")
    inner = _json(message)
    if not isinstance(inner, dict):
        raise UndecodableMessage(f"the SNS Message is not an SES payload: {message[:80]!r}")
    return _payload(inner, envelope)


def _text(body: str | bytes) -> str:
    if isinstance(body, bytes):
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError as err:
            raise UndecodableMessage(f"not UTF-8: {err}") from err
    return body


def _json(text: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    except RecursionError as err:
        # json.loads recurses once per level: "[" * 100000 exhausts the stack.
        raise UndecodableMessage("JSON nested too deeply to be an SES payload") from err
    if not limits.depth_ok(value):
        raise UndecodableMessage(
            f"JSON nested more than {limits.MAX_DEPTH} levels: not an SES payload"
        )
    return value


def _envelope(outer: dict[str, Any]) -> Envelope | None:
    kind = outer.get("Type")
    if not isinstance(kind, str) or "Message" not in outer:
        return None
    return Envelope(
        type=kind,
        message_id=_str(outer.get("MessageId")),
        topic_arn=_str(outer.get("TopicArn")),
        subject=_str(outer.get("Subject")),
        timestamp=_str(outer.get("Timestamp")),
        raw=outer,
    )


def _payload(payload: dict[str, Any], envelope: Envelope | None) -> Decoded:
    # Event publishing says eventType, identity notifications notificationType
    # (docs/ses.md#event-publishing).
    kind = payload.get("eventType") or payload.get("notificationType")
    if kind == SETUP_NOTIFICATION:
        return Decoded((), envelope, ignored="identity notification setup message", payload=payload)
    if not isinstance(kind, str):
        raise UndecodableMessage("no eventType or notificationType: not an SES payload")
    mail = payload.get("mail")
    if not isinstance(mail, dict):
        mail = {}
    tags = _tags(mail.get("tags"))
    common: dict[str, Any] = {
        "ses_message_id": _str(mail.get("messageId")) or "",
        "source": _str(mail.get("source")) or "",
        "destination": tuple(_address(a) for a in _list(mail.get("destination"))),
        "tags": tags,
        # Event publishing and identity notifications alike carry the tenant in mail.tags.
        "tenant": next(iter(tags.get(ev.TENANT_TAG, ())), None) or None,
        "sns_message_id": envelope.message_id if envelope else None,
        "topic_arn": envelope.topic_arn if envelope else None,
        "raw": payload,
    }
    builder = _BUILDERS.get(kind)
    if builder is None:
        unknown = ev.Unknown(
            recipient=None,
            timestamp=parse_timestamp(mail.get("timestamp")),
            type_name=kind,
            **common,
        )
        return Decoded((unknown,), envelope, payload=payload)
    return Decoded(tuple(builder(payload, common)), envelope, payload=payload)


# ------------------------------------------------------------------ one builder per type


def _bounce(payload: dict[str, Any], common: dict[str, Any]) -> list[ev.Event]:
    body = _dict(payload.get("bounce"))
    shared: dict[str, Any] = {
        "timestamp": parse_timestamp(body.get("timestamp")),
        "bounce_type": _str(body.get("bounceType")) or "Undetermined",
        "bounce_subtype": _str(body.get("bounceSubType")) or "Undetermined",
        "bounce_feedback_id": _str(body.get("feedbackId")),
        "reporting_mta": _str(body.get("reportingMTA")),
    }
    return [
        ev.Bounce(
            recipient=_address(r.get("emailAddress")),
            status=_str(r.get("status")),
            action=_str(r.get("action")),
            diagnostic_code=_str(r.get("diagnosticCode")),
            **shared,
            **common,
        )
        for r in _records(body.get("bouncedRecipients"))
    ]


def _complaint(payload: dict[str, Any], common: dict[str, Any]) -> list[ev.Event]:
    body = _dict(payload.get("complaint"))
    shared: dict[str, Any] = {
        "timestamp": parse_timestamp(body.get("timestamp")),
        "feedback_type": _str(body.get("complaintFeedbackType")),
        "complaint_subtype": _str(body.get("complaintSubType")),
        "complaint_feedback_id": _str(body.get("feedbackId")),
        "user_agent": _str(body.get("userAgent")),
    }
    return [
        ev.Complaint(recipient=_address(r.get("emailAddress")), **shared, **common)
        for r in _records(body.get("complainedRecipients"))
    ]


def _delivery(payload: dict[str, Any], common: dict[str, Any]) -> list[ev.Event]:
    body = _dict(payload.get("delivery"))
    time = body.get("processingTimeMillis")
    shared: dict[str, Any] = {
        "timestamp": parse_timestamp(body.get("timestamp")),
        "smtp_response": _str(body.get("smtpResponse")),
        "processing_time_ms": time if isinstance(time, int) else None,
        "reporting_mta": _str(body.get("reportingMTA")),
    }
    return [
        ev.Delivery(recipient=_address(r), **shared, **common)
        for r in _list(body.get("recipients"))
    ]


def _per_destination(
    cls: type[ev.Event], key: str, extra: Callable[[dict[str, Any]], dict[str, Any]]
) -> Callable[..., Any]:
    def build(payload: dict[str, Any], common: dict[str, Any]) -> list[ev.Event]:
        body = _dict(payload.get(key))
        when = parse_timestamp(body.get("timestamp") or _dict(payload.get("mail")).get("timestamp"))
        recipients = common["destination"] or ("",)
        return [
            cls(recipient=r or None, timestamp=when, **extra(body), **common) for r in recipients
        ]

    return build


def _not_per_recipient(
    cls: type[ev.Event], key: str, extra: Callable[[dict[str, Any]], dict[str, Any]]
) -> Callable[..., Any]:
    # SES does not say which recipient opened or clicked (docs/ses.md#event-publishing).
    def build(payload: dict[str, Any], common: dict[str, Any]) -> list[ev.Event]:
        body = _dict(payload.get(key))
        recipient = common["destination"][0] if len(common["destination"]) == 1 else None
        return [
            cls(
                recipient=recipient,
                timestamp=parse_timestamp(body.get("timestamp")),
                **extra(body),
                **common,
            )
        ]

    return build


def _delivery_delay(payload: dict[str, Any], common: dict[str, Any]) -> list[ev.Event]:
    body = _dict(payload.get("deliveryDelay"))
    shared: dict[str, Any] = {
        "timestamp": parse_timestamp(body.get("timestamp")),
        "delay_type": _str(body.get("delayType")),
        "expiration_time": parse_timestamp(body.get("expirationTime")),
    }
    return [
        ev.DeliveryDelay(
            recipient=_address(r.get("emailAddress")),
            status=_str(r.get("status")),
            diagnostic_code=_str(r.get("diagnosticCode")),
            **shared,
            **common,
        )
        for r in _records(body.get("delayedRecipients"))
    ]


def _subscription(payload: dict[str, Any], common: dict[str, Any]) -> list[ev.Event]:
    body = _dict(payload.get("subscription"))
    new = _dict(body.get("newTopicPreferences"))
    old = _dict(body.get("oldTopicPreferences"))
    unsubscribe_all = new.get("unsubscribeAll")
    previous_all = old.get("unsubscribeAll")
    # Like Open and Click, the event names no recipient: only a one-recipient send says who.
    recipient = common["destination"][0] if len(common["destination"]) == 1 else None
    return [
        ev.Subscription(
            recipient=recipient,
            timestamp=parse_timestamp(body.get("timestamp")),
            contact_list=_str(body.get("contactList")),
            unsubscribe_all=unsubscribe_all if isinstance(unsubscribe_all, bool) else None,
            topic_preferences=_topics(new),
            preference_source=_str(body.get("source")),
            previous_unsubscribe_all=previous_all if isinstance(previous_all, bool) else None,
            previous_topic_preferences=_topics(old),
            **common,
        )
    ]


def _topics(preferences: dict[str, Any]) -> dict[str, str]:
    return {
        topic: status
        for r in _records(preferences.get("topicSubscriptionStatus"))
        if isinstance(topic := r.get("topicName"), str)
        and isinstance(status := r.get("subscriptionStatus"), str)
    }


_BUILDERS: dict[str, Callable[[dict[str, Any], dict[str, Any]], list[ev.Event]]] = {
    "Bounce": _bounce,
    "Complaint": _complaint,
    "Delivery": _delivery,
    "Send": _per_destination(ev.Send, "send", lambda body: {}),
    "Reject": _per_destination(
        ev.Reject, "reject", lambda body: {"reason": _str(body.get("reason"))}
    ),
    "Rendering Failure": _per_destination(
        ev.RenderingFailure,
        "failure",
        lambda body: {
            "template_name": _str(body.get("templateName")),
            "error_message": _str(body.get("errorMessage")),
        },
    ),
    "Open": _not_per_recipient(
        ev.Open,
        "open",
        lambda body: {
            "ip_address": _str(body.get("ipAddress")),
            "user_agent": _str(body.get("userAgent")),
        },
    ),
    "Click": _not_per_recipient(
        ev.Click,
        "click",
        lambda body: {
            "ip_address": _str(body.get("ipAddress")),
            "user_agent": _str(body.get("userAgent")),
            "link": _str(body.get("link")),
            "link_tags": _tags(body.get("linkTags")),
        },
    ),
    "DeliveryDelay": _delivery_delay,
    "Subscription": _subscription,
}


# ------------------------------------------------------------------ lenient field readers


#: The UTC times every store can hold and give back: years 1..9999 (Python's range) less a
#: day at each end, because PostgreSQL hands a ``timestamptz`` back in the session's time
#: zone, which moves 0001-01-01 00:00 UTC into year 0 west of Greenwich.
EARLIEST = dt.datetime(1, 1, 2, tzinfo=dt.UTC)
LATEST = dt.datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=dt.UTC)


def parse_timestamp(value: Any) -> dt.datetime | None:
    """ISO 8601 in the shapes SES uses (``...Z``, ``... +0000``, no fraction), in UTC.

    None when it is not a time, or when in UTC it falls outside :data:`EARLIEST` ..
    :data:`LATEST`: no store can hold it, and SES never sends it. The conversion happens
    here, not in the store, because SQLite keeps the wall-clock digits and drops the offset.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace(" +", "+").replace(" -", "-")
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        parsed = dt.datetime.fromisoformat(text)
        utc = (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
    except (ValueError, OverflowError):  # OverflowError: year 1 or 9999 moved out of range
        return None
    return utc if EARLIEST <= utc <= LATEST else None


def _address(value: Any) -> str:
    """``"John <x@gmail.com>"`` -> ``x@gmail.com`` (seen in real payloads,
    docs/ses.md#notifications)."""
    if not isinstance(value, str):
        return ""
    return (email.utils.parseaddr(value)[1] or value.strip()).lower()


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _records(value: Any) -> list[dict[str, Any]]:
    return [item for item in _list(value) if isinstance(item, dict)]


def _tags(value: Any) -> dict[str, list[str]]:
    return {
        str(k): [str(x) for x in v] if isinstance(v, list) else [str(v)]
        for k, v in _dict(value).items()
    }
