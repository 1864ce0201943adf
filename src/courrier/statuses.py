"""The words courrier records: message, recipient and outbox statuses, feedback actions,
suppression reasons, the outbox runner's outcomes and the reputation guard's levels.

They are :class:`~enum.StrEnum` members, so they compare equal to (and are stored as) the
plain strings users see in the store, the CLI and JSON output.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "Action",
    "GuardLevel",
    "MessageStatus",
    "OutboxStatus",
    "RecipientStatus",
    "RunOutcome",
    "SuppressionReason",
    "event_status",
]


class MessageStatus(StrEnum):
    """What became of one send call."""

    #: Recorded, SES not asked yet (only ever seen while a send is in progress).
    PENDING = "pending"
    #: SES accepted it and returned a message id.
    SENT = "sent"
    #: The request may have reached SES but no answer came: never re-sent automatically.
    UNKNOWN = "unknown"
    #: SES (or courrier, before the call) refused it; nothing was sent.
    FAILED = "failed"
    #: Every recipient was on the suppression list (or, for bulk mail, unsubscribed);
    #: nothing was sent.
    SUPPRESSED = "suppressed"


class RecipientStatus(StrEnum):
    """One recipient's status, weakest first: feedback only ever moves it up this order."""

    PENDING = "pending"
    UNKNOWN = "unknown"
    SENT = "sent"
    DELIVERY_DELAYED = "delivery_delayed"
    DELIVERED = "delivered"
    OPENED = "opened"
    CLICKED = "clicked"
    SOFT_BOUNCED = "soft_bounced"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    #: Nothing was sent: SES (or courrier, before the call) refused it, or SES accepted it
    #: and then could not render its template (a Rendering Failure event). Ranked above
    #: ``sent`` so that the Rendering Failure moves a sent recipient here; SES stops
    #: processing such a message, so no delivery or bounce follows.
    FAILED = "failed"
    REJECTED = "rejected"
    SUPPRESSED = "suppressed"
    #: Left the bulk message's list (one-click unsubscribe): not sent. Never set for
    #: transactional mail.
    UNSUBSCRIBED = "unsubscribed"

    @property
    def rank(self) -> int:
        """The status's place in the order statuses move up in: applying feedback never moves a
        recipient to a lower rank (a bounce is not undone by a later delivery)."""
        return _RANK[self]


_RANK = {status: rank for rank, status in enumerate(RecipientStatus)}


class Action(StrEnum):
    """What courrier does with a feedback event (see :class:`courrier.Rules`)."""

    SUPPRESS = "suppress"
    COUNT_SOFT_BOUNCE = "count_soft_bounce"
    #: The recipient was never sent to (a Rendering Failure): its status becomes ``failed``.
    FAIL = "fail"
    RECORD = "record"
    IGNORE = "ignore"


#: The status each kind of feedback event moves its recipient up to (bounces: see
#: :func:`event_status`).
_EVENT_STATUS = {
    "Delivery": RecipientStatus.DELIVERED,
    "Complaint": RecipientStatus.COMPLAINED,
    "Reject": RecipientStatus.REJECTED,
    "DeliveryDelay": RecipientStatus.DELIVERY_DELAYED,
    "Open": RecipientStatus.OPENED,
    "Click": RecipientStatus.CLICKED,
}


def event_status(kind: str, subtype: str | None, action: str) -> RecipientStatus | None:
    """The status a feedback event (its kind, its stored sub-type such as
    ``Permanent/General``, and what courrier did with it) moves its recipient up to, or
    None. An auto-reply (a bounce only recorded) says nothing new about delivery."""
    if action == Action.FAIL:
        return RecipientStatus.FAILED
    if kind == "Bounce":
        if action == Action.RECORD:
            return None
        permanent = (subtype or "").startswith("Permanent/")
        return RecipientStatus.BOUNCED if permanent else RecipientStatus.SOFT_BOUNCED
    return _EVENT_STATUS.get(kind)


class OutboxStatus(StrEnum):
    """Where a queued message stands in the outbox."""

    #: Waiting for ``send_at`` / ``next_attempt_at`` and a runner.
    QUEUED = "queued"
    #: Claimed by a runner, which committed the claim before calling SES.
    SENDING = "sending"
    #: SES accepted it (``message_id`` links to the store's record).
    SENT = "sent"
    #: Not sent: SES refused it, every recipient is suppressed, or retries ran out.
    FAILED = "failed"
    #: Its runner went away between the claim and the record: it may have been sent. A
    #: person decides (``courrier outbox resolve`` / ``retry``); never re-sent blindly.
    UNKNOWN = "unknown"


class RunOutcome(StrEnum):
    """What the outbox runner did with one claimed row (its progress callback and report)."""

    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"
    #: Queued again for a later attempt (throttled, unreachable, or the guard paused it).
    REQUEUED = "requeued"
    #: Not sent by this runner: its claim expired and another runner has the row now.
    SKIPPED = "skipped"


class SuppressionReason(StrEnum):
    """Why an address is on the local suppression list.

    The store takes any text (``courrier suppression add --reason``); these are the reasons
    courrier itself records and the dashboard offers.
    """

    #: Added by a person (CLI or dashboard).
    MANUAL = "manual"
    #: A permanent bounce, or SES's account-level list (reason BOUNCE).
    BOUNCE = "bounce"
    #: A complaint, or SES's account-level list (reason COMPLAINT).
    COMPLAINT = "complaint"
    #: Transient bounces counted up to ``soft_bounce_limit``.
    SOFT_BOUNCE = "soft-bounce"


class GuardLevel(StrEnum):
    """Where a bounce or complaint rate stands against the reputation guard's lines, and
    (with ``tripped``) the guard's state as a whole."""

    OK = "ok"
    WARNING = "warning"
    #: At or above the guard's trip line.
    OVER = "over"
    #: Too few recipients in the window for the rate to mean anything.
    LOW_VOLUME = "low volume"
    #: The guard is tripped (only ever the whole guard's state, never a rate's level).
    TRIPPED = "tripped"
