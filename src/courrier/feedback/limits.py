"""What decoded feedback may carry into the store: field sizes, characters and nesting.

A body that parses but could not be what AWS sends is refused here, before any database
sees it: fields courrier stores that are longer than AWS's own values or carry a NUL or an
unpaired surrogate, and JSON nested deeper than any SES payload. SQLite would take most of
them silently and PostgreSQL refuse them; refusing them at decode time makes both stores
behave the same and keeps one poison body from failing the batch it arrived in.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from courrier.errors import UndecodableMessage
from courrier.feedback import events as ev

if TYPE_CHECKING:
    from courrier.feedback.decode import Envelope

__all__ = ["FIELD_LIMITS", "MAX_DEPTH", "check_storable", "depth_ok"]

#: The longest value courrier accepts in each field it stores, with room to spare over what AWS
#: sends (docs/ses.md#notifications, #sns-messages): SNS MessageIds are UUIDs (36), SES message and
#: feedback ids about 60 characters, addresses at most 320 (RFC 3696), topic ARNs at most 256 +
#: prefix. The store's columns are at least this wide (tests/store checks it).
FIELD_LIMITS = {
    "sns_message_id": 100,
    "topic_arn": 300,
    "ses_message_id": 100,
    "recipient": 320,
    "feedback_id": 200,
    # SES tenant names are at most 64 characters (CreateTenant API reference).
    "tenant": 64,
}
#: SES payloads nest five levels deep at most (mail.headers[].value); envelopes one more.
MAX_DEPTH = 32


def check_storable(envelope: Envelope | None, events: Iterable[ev.Event]) -> None:
    """Raise UndecodableMessage for a field no database column should receive."""
    if envelope is not None:
        _check_field("SNS MessageId", envelope.message_id, "sns_message_id")
        _check_field("SNS TopicArn", envelope.topic_arn, "topic_arn")
    for event in events:
        _check_field("mail.messageId", event.ses_message_id, "ses_message_id")
        _check_field(f"{event.kind} recipient", event.recipient, "recipient")
        _check_field(f"{event.kind} feedbackId", event.feedback_id, "feedback_id")
        _check_field(f"{event.kind} subtype", event.subtype, None)
        _check_field(f"{event.kind} {ev.TENANT_TAG} tag", event.tenant, "tenant")
        # The stored key also holds what only it carries (an open's or a click's IP
        # address, a link): its length is handled when stored (apply.stored_key).
        _check_field(f"{event.kind} key", event.key, None)


def _check_field(what: str, value: str | None, limit_key: str | None) -> None:
    if value is None:
        return
    limit = FIELD_LIMITS.get(limit_key or "")
    if limit is not None and len(value) > limit:
        raise UndecodableMessage(
            f"{what} is {len(value)} characters long; AWS never sends more than {limit}"
        )
    if "\0" in value:
        raise UndecodableMessage(f"{what} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise UndecodableMessage(f"{what} contains an unpaired surrogate: {err}") from err


def depth_ok(value: Any) -> bool:
    """True when ``value`` nests at most :data:`MAX_DEPTH` containers deep (no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_DEPTH:
            return False
        stack.extend((child, depth + 1) for child in children)
    return True
