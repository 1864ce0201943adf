"""Apply decoded feedback to the store: one transaction per batch, exactly-once effect.

A redelivered SQS message or a duplicate SNS message changes nothing: the SNS ``MessageId`` is
claimed in ``sns_receipts`` and each event's key is unique in ``feedback_events`` (docs/ses.md#sqs).
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
from courrier.statuses import Action, RecipientStatus, event_status
from courrier.store import Store, rollups
from courrier.store import feedback as queries
from courrier.store.tables import utcnow
from courrier.store.unsubscribes import (
    PreferenceChange,
    Unsubscribed,
    apply_preference_changes,
    fits_list_name,
)

__all__ = ["SES_SOURCE", "SUPPRESSED", "Applied", "Hook", "apply"]

log = logging.getLogger(__name__)

Hook = Callable[[ev.Event], None]
#: The hooks key for events that suppressed their recipient (kinds are capitalised: no clash).
SUPPRESSED = "suppressed"

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
    #: The unsubscribes that SES's Subscription events stored (source ``ses``).
    unsubscribed: list[Unsubscribed] = field(default_factory=list)
    #: (tenant, address) suppressed for that tenant only (a complaint about its mail).
    tenant_suppressed: list[tuple[str, str]] = field(default_factory=list)
    #: Addresses whose soft-bounce suppression was lifted: its bounces were auto-replies.
    unsuppressed: list[str] = field(default_factory=list)

    def merge(self, other: Applied) -> None:
        self.stored.extend(other.stored)
        self.duplicates += other.duplicates
        self.suppressed.extend(other.suppressed)
        self.ignored += other.ignored
        self.suppressing.extend(other.suppressing)
        self.unsubscribed.extend(other.unsubscribed)
        self.tenant_suppressed.extend(other.tenant_suppressed)
        self.unsuppressed.extend(other.unsuppressed)


def apply(
    store: Store,
    batch: Sequence[Decoded],
    *,
    rules: Rules | None = None,
    hooks: Mapping[str, Iterable[Hook]] | None = None,
) -> Applied:
    """Store every event of ``batch`` in one transaction, then run the hooks.

    The result is the same as applying the messages one after the other, each message's
    events in time order; the store sees one statement per table for the whole batch.
    """
    rules = rules or Rules()
    applied = Applied()
    with store.transaction() as session:
        _apply_batch(session, batch, rules, applied)
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


def _claimed(session: Session, batch: Sequence[Decoded], applied: Applied) -> list[ev.Event]:
    """The events to apply, in order: those of SNS messages not applied before."""
    with_events = [d for d in batch if d.events]
    applied.ignored += len(batch) - len(with_events)
    for decoded in batch:
        if not decoded.events:
            _say_ignored(decoded)
    sns_ids = [d.envelope.message_id for d in with_events if d.envelope and d.envelope.message_id]
    new_ids = queries.claim_sns_messages(session, sns_ids)
    events: list[ev.Event] = []
    for decoded in with_events:
        sns_id = decoded.envelope.message_id if decoded.envelope else None
        if sns_id:
            if sns_id not in new_ids:
                applied.duplicates += len(decoded.events)
                continue
            new_ids.discard(sns_id)  # the same SNS message twice in one batch: once
        events.extend(sorted(decoded.events, key=lambda e: e.timestamp or utcnow()))
    return events


def _say_ignored(decoded: Decoded) -> None:
    envelope = decoded.envelope
    if envelope is not None and envelope.type == "SubscriptionConfirmation":
        # A queue receives one when it is subscribed to a topic of another account
        # (https://docs.aws.amazon.com/sns/latest/dg/sns-send-message-to-sqs-cross-account.html):
        # until someone confirms it, that topic delivers nothing, and the worker never does.
        log.warning(
            "an SNS SubscriptionConfirmation from topic %s reached the queue and was left "
            "unconfirmed: if that subscription is wanted, confirm it (its SubscribeURL: %s)",
            envelope.topic_arn,
            envelope.raw.get("SubscribeURL"),
        )
        return
    log.debug(
        "SNS message %s ignored: %s", envelope.message_id if envelope else None, decoded.ignored
    )


def _apply_batch(
    session: Session, batch: Sequence[Decoded], rules: Rules, applied: Applied
) -> None:
    events = _claimed(session, batch, applied)
    if not events:
        return
    # Before anything reads messages by SES id: a send recording its outcome now waits,
    # or is waited for (courrier.store.rollups.hold_ses_ids).
    rollups.hold_ses_ids(
        session.connection(), {e.ses_message_id for e in events if e.ses_message_id}
    )
    rollups.hold_recipients(
        session.connection(),
        {e.recipient for e in events if e.recipient and e.kind in ("Bounce", "Delivery")},
    )
    known: set[tuple[str, str]] | None = None
    delivered_so_far: set[tuple[str, str]] = set()
    rows: list[dict[str, object]] = []
    actions: list[Action] = []
    for event in events:
        pair = (event.ses_message_id, event.recipient or "")

        def delivered(pair: tuple[str, str] = pair) -> bool:
            # Asked only for transient bounces: the deliveries are read once per batch.
            nonlocal known
            if not pair[1]:
                return False
            if known is None:
                known = queries.delivered_pairs(session, {e.ses_message_id for e in events})
            return pair in known or pair in delivered_so_far

        action = rules.action(event, delivered_before=delivered)
        if event.kind == "Delivery" and event.recipient:
            delivered_so_far.add(pair)
        actions.append(action)
        rows.append(_row(event, action))
    soft = {
        e.recipient
        for e, a in zip(events, actions, strict=True)
        if a == Action.COUNT_SOFT_BOUNCE and e.recipient
    }
    since = utcnow() - rules.soft_bounce_window
    soft_bounces = queries.soft_bounces_since(session, soft, since)
    unique: dict[str, int] = {}
    for n, row in enumerate(rows):
        unique.setdefault(str(row["event_key"]), n)
    new_keys = queries.add_events(session, [rows[n] for n in unique.values()])
    raises: dict[tuple[str, str | None], RecipientStatus] = {}
    suppressions: list[dict[str, object]] = []
    tenant_suppressions: list[dict[str, object]] = []
    stored_before = len(applied.stored)
    for n, (event, action) in enumerate(zip(events, actions, strict=True)):
        key = str(rows[n]["event_key"])
        if unique.get(key) != n or key not in new_keys:
            applied.duplicates += 1
            continue
        applied.stored.append((event, action))
        scoped = tenant_suppressions if _tenants_own(event) is not None else suppressions
        _effects(event, action, rules, raises, soft_bounces, scoped, applied)
    queries.raise_recipient_statuses(session, raises)
    queries.suppress_many(session, suppressions)
    applied.unsubscribed.extend(
        apply_preference_changes(
            session,
            [
                change
                for event, _ in applied.stored[stored_before:]
                if isinstance(event, ev.Subscription)
                for change in _preference_changes(event)
            ],
        )
    )
    queries.suppress_for_tenants(session, tenant_suppressions)
    # Standard SQS queues deliver in no set order, and concurrent receives reorder more: a delivery
    # applied after its recipient's auto-reply still makes that reply an auto-reply.
    auto_replied = queries.record_auto_replies(
        session,
        {
            (event.ses_message_id, event.recipient)
            for event, _ in applied.stored[stored_before:]
            if event.kind == "Delivery" and event.recipient
        },
    )
    if auto_replied:
        _auto_replies_found(session, auto_replied, rules, applied, stored_before)
    # The rates' rollups move in this same transaction: a batch counts once, or not at all.
    rollups.refresh(
        session,
        ses_message_ids={
            event.ses_message_id
            for event, _ in applied.stored[stored_before:]
            if event.recipient and event.ses_message_id
        },
        restate=auto_replied,
    )


def _auto_replies_found(
    session: Session,
    pairs: set[tuple[str, str]],
    rules: Rules,
    applied: Applied,
    stored_before: int,
) -> None:
    """Deliveries turned counted soft bounces into auto-replies: the batch's own such bounces
    say so too, and the soft-bounce suppressions they alone made are lifted. An
    out-of-office reply never suppresses, whichever of it and its delivery comes first."""
    for n in range(stored_before, len(applied.stored)):
        event, action = applied.stored[n]
        if action == Action.COUNT_SOFT_BOUNCE and (event.ses_message_id, event.recipient) in pairs:
            applied.stored[n] = (event, Action.RECORD)
    lifted = set(
        queries.lift_soft_bounce_suppressions(
            session,
            {recipient for _, recipient in pairs},
            limit=rules.soft_bounce_limit,
            window=rules.soft_bounce_window,
        )
    )
    if not lifted:
        return
    log.info("soft-bounce suppression lifted (auto-replies, not bounces): %s", sorted(lifted))
    this_batch = {a.lower() for a in applied.suppressed}
    applied.unsuppressed.extend(sorted(lifted - this_batch))
    applied.suppressed = [a for a in applied.suppressed if a.lower() not in lifted]
    applied.suppressing = [
        e for e in applied.suppressing if (e.recipient or "").lower() not in lifted
    ]


#: The ``source`` of the unsubscribes that SES's subscription management records.
SES_SOURCE = "ses"


def _preference_changes(event: ev.Subscription) -> list[PreferenceChange]:
    """What a Subscription event changes in the unsubscribes: the topic is the list name
    courrier's bulk sends name (``unsubscribe_topic`` or the message's ``list_name``), and
    ``unsubscribeAll`` is every list
    (https://docs.aws.amazon.com/ses/latest/dg/sending-email-subscription-management.html)."""
    if not event.recipient:
        # Only a one-recipient send says whose preferences changed (SES adds its links to
        # no other), so there is nobody to record.
        return []
    at = event.timestamp or utcnow()
    changes: list[PreferenceChange] = []
    for topic, left in event.changes():
        if topic is not None and not fits_list_name(topic):
            log.warning("Subscription event %s: topic %r cannot be a list name", event.key, topic)
            continue
        changes.append(PreferenceChange(event.recipient, topic, left, at, SES_SOURCE))
    return changes


def _row(event: ev.Event, action: Action) -> dict[str, object]:
    return {
        "event_key": stored_key(event.key),
        "kind": event.kind,
        "subtype": (event.subtype or "")[:200] or None,
        "recipient": event.recipient,
        "ses_message_id": event.ses_message_id,
        "feedback_id": event.feedback_id,
        "sns_message_id": event.sns_message_id,
        "topic_arn": event.topic_arn,
        "action": action,
        "occurred_at": event.timestamp,
        "payload": json.dumps(event.raw, sort_keys=True),
        "tenant": event.tenant,
    }


def stored_key(key: str) -> str:
    """``key`` as stored: a long one (a click on a long link) ends in its digest instead of
    being cut, so that two different events never share a stored key."""
    if len(key) <= _KEY_WIDTH:
        return key
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{key[: _KEY_WIDTH - len(digest) - 1]}#{digest}"


def _tenants_own(event: ev.Event) -> str | None:
    """The tenant whose own reason ``event`` is: a complaint about a tenant's message
    suppresses its recipient for that tenant, while a hard bounce (the address is gone, for
    everyone) stays account-wide, as SES keeps them
    (https://docs.aws.amazon.com/ses/latest/dg/tenants.html)."""
    return event.tenant if isinstance(event, ev.Complaint) else None


def _effects(
    event: ev.Event,
    action: Action,
    rules: Rules,
    raises: dict[tuple[str, str | None], RecipientStatus],
    soft_bounces: dict[str, int],
    suppressions: list[dict[str, object]],
    applied: Applied,
) -> None:
    """Record what a newly stored event changes, for the batch's statements."""
    recipient = event.recipient
    status = event_status(event.kind, event.subtype, action)
    if status and event.ses_message_id:
        # Statuses only move up: the strongest one per recipient is where they end.
        target = (event.ses_message_id, recipient)
        current = raises.get(target)
        if current is None or status.rank > current.rank:
            raises[target] = status
    if not recipient:
        return
    suppress = action == Action.SUPPRESS
    if action == Action.COUNT_SOFT_BOUNCE:
        soft_bounces[recipient] = soft_bounces.get(recipient, 0) + 1
        suppress = soft_bounces[recipient] >= rules.soft_bounce_limit
    if suppress:
        expires = utcnow() + rules.suppression_ttl if rules.suppression_ttl else None
        entry: dict[str, object] = {
            "address": recipient,
            "reason": rules.reason(event),
            "source": queries.FEEDBACK_SOURCE,
            "detail": f"{event.kind} {event.subtype or ''} {event.key}".strip(),
            "expires_at": expires,
        }
        tenant = _tenants_own(event)
        if tenant is not None:
            suppressions.append({**entry, "tenant": tenant})
            applied.tenant_suppressed.append((tenant, recipient))
            return
        suppressions.append(entry)
        applied.suppressed.append(recipient)
        applied.suppressing.append(event)
