"""Apply decoded feedback to the store: one transaction per batch, exactly-once effect.

A redelivered SQS message or a duplicate SNS message changes nothing: the SNS ``MessageId`` is
claimed in ``sns_receipts`` and each event's key is unique in ``feedback_events`` (facts §9).
User hooks run after the commit, once per newly stored event: those registered under the
event's kind (``"Bounce"``, ``"Complaint"``, ...), then, for an event that put its recipient on
the suppression list, those registered under :data:`SUPPRESSED`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from courrier.feedback import events as ev
from courrier.feedback.decode import Decoded
from courrier.feedback.rules import Rules
from courrier.statuses import Action, RecipientStatus
from courrier.store import Store
from courrier.store import feedback as queries
from courrier.store.tables import utcnow

__all__ = ["SUPPRESSED", "Applied", "Hook", "apply"]

log = logging.getLogger(__name__)

Hook = Callable[[ev.Event], None]
#: The hooks key for events that suppressed their recipient (kinds are capitalised: no clash).
SUPPRESSED = "suppressed"

_STATUS = {
    "Delivery": RecipientStatus.DELIVERED,
    "Complaint": RecipientStatus.COMPLAINED,
    "Reject": RecipientStatus.REJECTED,
    "DeliveryDelay": RecipientStatus.DELIVERY_DELAYED,
    "Open": RecipientStatus.OPENED,
    "Click": RecipientStatus.CLICKED,
}
#: The width of ``feedback_events.event_key``.
_KEY_WIDTH = 400


@dataclass
class Applied:
    """What one batch did."""

    stored: list[tuple[ev.Event, Action]] = field(default_factory=list)
    duplicates: int = 0
    suppressed: list[str] = field(default_factory=list)
    ignored: int = 0
    #: The stored events that put their recipient on the suppression list.
    suppressing: list[ev.Event] = field(default_factory=list)

    def merge(self, other: Applied) -> None:
        self.stored.extend(other.stored)
        self.duplicates += other.duplicates
        self.suppressed.extend(other.suppressed)
        self.ignored += other.ignored
        self.suppressing.extend(other.suppressing)


def apply(
    store: Store,
    batch: Sequence[Decoded],
    *,
    rules: Rules | None = None,
    hooks: Mapping[str, Iterable[Hook]] | None = None,
) -> Applied:
    """Store every event of ``batch`` in one transaction, then run the hooks."""
    rules = rules or Rules()
    applied = Applied()
    with store.transaction() as session:
        for decoded in batch:
            _apply_one(session, store, decoded, rules, applied)
    hooks = hooks or {}
    suppressing = {id(event) for event in applied.suppressing}
    for event, _action in applied.stored:
        keys = [event.kind, SUPPRESSED] if id(event) in suppressing else [event.kind]
        for hook in (hook for key in keys for hook in hooks.get(key, ())):
            try:
                hook(event)
            except Exception:  # a user's hook must not undo what is stored
                log.exception("feedback hook %r failed on %s", hook, event.key)
    return applied


def _apply_one(
    session: Session, store: Store, decoded: Decoded, rules: Rules, applied: Applied
) -> None:
    if not decoded.events:
        applied.ignored += 1
        return
    sns_id = decoded.envelope.message_id if decoded.envelope else None
    if sns_id and not queries.claim_sns_message(session, sns_id):
        applied.duplicates += len(decoded.events)
        return
    for event in sorted(decoded.events, key=lambda e: e.timestamp or utcnow()):
        recipient = event.recipient

        def delivered(event: ev.Event = event) -> bool:
            return bool(event.recipient) and queries.delivered_before(
                session, event.ses_message_id, event.recipient or ""
            )

        action = rules.action(event, delivered_before=delivered)
        is_new = queries.add_event(
            session,
            {
                "event_key": stored_key(event.key),
                "kind": event.kind,
                "subtype": (event.subtype or "")[:200] or None,
                "recipient": recipient,
                "ses_message_id": event.ses_message_id,
                "feedback_id": event.feedback_id,
                "sns_message_id": event.sns_message_id,
                "topic_arn": event.topic_arn,
                "action": action,
                "occurred_at": event.timestamp,
                "payload": json.dumps(event.raw, sort_keys=True),
            },
        )
        if not is_new:
            applied.duplicates += 1
            continue
        applied.stored.append((event, action))
        _effects(session, store, event, action, rules, applied)


def stored_key(key: str) -> str:
    """``key`` as stored: a long one (a click on a long link) ends in its digest instead of
    being cut, so that two different events never share a stored key."""
    if len(key) <= _KEY_WIDTH:
        return key
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{key[: _KEY_WIDTH - len(digest) - 1]}#{digest}"


def _effects(
    session: Session, store: Store, event: ev.Event, action: Action, rules: Rules, applied: Applied
) -> None:
    recipient = event.recipient
    status = _STATUS.get(event.kind)
    if isinstance(event, ev.Bounce):
        # An auto-reply (recorded, not counted) says nothing new about delivery.
        if action == Action.RECORD:
            status = None
        else:
            status = RecipientStatus.BOUNCED if event.permanent else RecipientStatus.SOFT_BOUNCED
    if status and event.ses_message_id:
        queries.raise_recipient_status(session, event.ses_message_id, recipient, status)
    if not recipient:
        return
    suppress = action == Action.SUPPRESS
    if action == Action.COUNT_SOFT_BOUNCE:
        since = utcnow() - rules.soft_bounce_window
        suppress = queries.soft_bounces_since(session, recipient, since) >= rules.soft_bounce_limit
    if suppress:
        expires = utcnow() + rules.suppression_ttl if rules.suppression_ttl else None
        store.suppress(
            recipient,
            reason=rules.reason(event),
            source="feedback",
            detail=f"{event.kind} {event.subtype or ''} {event.key}".strip(),
            expires_at=expires,
            session=session,
        )
        applied.suppressed.append(recipient)
        applied.suppressing.append(event)
