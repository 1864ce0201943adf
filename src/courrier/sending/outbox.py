"""The outbox: messages queued now, sent later by any number of runners, each at most once.

:func:`enqueue` records a message (a :class:`~courrier.message.Message`, a
:class:`~courrier.TemplateMessage`, or one per bulk destination) under an idempotency key:
the same key twice is one row. :class:`OutboxRunner` (``courrier outbox run``,
:mod:`courrier.sending.runner`) claims due rows, marking them ``sending`` in a transaction
committed before SES is called, commits that it starts one just before handing it to SES,
then records ``sent`` or ``failed``. A runner killed in between leaves its rows
``sending``; the next runner to look turns the started one ``unknown`` and queues the others
again (at once when the dead runner was on its own machine, else once ``outbox_lease`` has
passed). An ``unknown`` row is never sent again by itself.

Throttling and unreachable SES put a row back in the queue for later
(``outbox_retry_delay``, doubling) without holding up the others; every other refusal is
recorded ``failed``. While the reputation guard is tripped, bulk rows stay queued and
transactional ones go on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from courrier.errors import InvalidMessage
from courrier.message import Message
from courrier.mime import render
from courrier.sending.payload import to_payload
from courrier.sending.runner import OutboxRunner, paused_reason
from courrier.statuses import OutboxStatus
from courrier.store import Store
from courrier.store import guard as guard_records
from courrier.store import outbox as rows
from courrier.store.outbox import NewEntry, OutboxEntry
from courrier.template_message import BulkDestination, TemplateMessage

__all__ = [
    "EnqueueReport",
    "OutboxEntry",
    "OutboxRunner",
    "OutboxStatusReport",
    "bulk_messages",
    "destination_key",
    "enqueue",
    "enqueue_many",
    "outbox_status",
    "paused_reason",
]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _new_entry(
    message: Message | TemplateMessage, send_at: dt.datetime | None, key: str | None
) -> NewEntry:
    if isinstance(message, Message):
        render(message)  # refuse now what could never be sent (size, encoding)
    elif not isinstance(message, TemplateMessage):
        raise InvalidMessage(
            f"cannot queue {type(message).__name__}: a Message or a TemplateMessage"
        )
    if send_at is not None and send_at.tzinfo is None:
        raise InvalidMessage("send_at must be timezone-aware (for example datetime.now(UTC))")
    if key is not None and not (0 < len(key) <= 200):
        raise InvalidMessage("an idempotency key is 1 to 200 characters")
    kind, payload = to_payload(message)
    return NewEntry(
        key=key or f"auto:{uuid.uuid4().hex}",
        kind=kind,
        bulk=message.bulk,
        payload=payload,
        send_at=(send_at or _utcnow()).astimezone(dt.UTC),
        tenant=message.tenant,
    )


def enqueue(
    store: Store,
    message: Message | TemplateMessage,
    *,
    send_at: dt.datetime | None = None,
    key: str | None = None,
) -> OutboxEntry:
    """Queue one message; with a ``key`` already queued, the existing row is returned."""
    [(found, _)] = rows.enqueue(store, [_new_entry(message, send_at, key)])
    return found


@dataclass(frozen=True)
class EnqueueReport:
    entries: tuple[OutboxEntry, ...]
    created: int
    existing: int


def enqueue_many(
    store: Store,
    items: Iterable[tuple[Message | TemplateMessage, str | None]],
    *,
    send_at: dt.datetime | None = None,
) -> EnqueueReport:
    """Queue (message, key) pairs in one transaction: all of them, or none on an error."""
    new = [_new_entry(message, send_at, key) for message, key in items]
    done = rows.enqueue(store, new)
    created = sum(1 for _, was_new in done if was_new)
    return EnqueueReport(tuple(e for e, _ in done), created, len(done) - created)


def destination_key(campaign: str, addresses: Sequence[str]) -> str:
    """The idempotency key of one destination of a campaign (its addresses, any case)."""
    joined = "\0".join(sorted(a.lower() for a in addresses))
    return "campaign:" + hashlib.sha256(f"{campaign}\0{joined}".encode()).hexdigest()


def bulk_messages(
    template: str,
    destinations: Sequence[BulkDestination],
    *,
    sender: Any,
    data: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    configuration_set: str | None = None,
    list_name: str | None = None,
    tenant: str | None = None,
) -> list[TemplateMessage]:
    """One bulk :class:`TemplateMessage` per destination (its data and tags over the
    defaults), for :func:`enqueue_many`."""
    return [
        TemplateMessage(
            sender=sender,
            to=list(d.addresses),
            template=template,
            data={**(data or {}), **d.data},
            tags={**(tags or {}), **d.tags},
            configuration_set=configuration_set,
            bulk=True,
            list_name=list_name,
            tenant=tenant,
        )
        for d in destinations
    ]


# ---------------------------------------------------------------------------- status


@dataclass(frozen=True)
class OutboxStatusReport:
    counts: dict[str, int]
    unknown: tuple[OutboxEntry, ...]
    paused: str | None
    #: The tenants SES paused, whose rows wait.
    held: tuple[rows.HeldTenant, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "counts": self.counts,
            "paused": self.paused,
            "unknown": [e.as_dict() for e in self.unknown],
            "held_tenants": [
                {"tenant": h.tenant, "until": h.held_until.isoformat(), "error": h.error}
                for h in self.held
            ],
        }


def outbox_status(store: Store, *, limit: int = 100) -> OutboxStatusReport:
    """Rows per status, the ``unknown`` ones (oldest first), why bulk rows wait, and the
    tenants whose rows are held."""
    return OutboxStatusReport(
        counts=rows.counts(store),
        unknown=tuple(rows.entries(store, status=OutboxStatus.UNKNOWN, limit=limit)),
        paused=paused_reason(guard_records.open_trip(store)),
        held=tuple(rows.holds(store)),
    )


def retry(store: Store, entry_id: int) -> OutboxEntry | None:
    """Queue an ``unknown`` or ``failed`` row again: a person decided it was not sent."""
    return rows.set_status(
        store,
        entry_id,
        allowed=(OutboxStatus.UNKNOWN, OutboxStatus.FAILED),
        status=OutboxStatus.QUEUED,
    )


def resolve(store: Store, entry_id: int, *, sent: bool) -> OutboxEntry | None:
    """Settle an ``unknown`` row as ``sent`` or ``failed`` (a person checked)."""
    return rows.set_status(
        store,
        entry_id,
        allowed=(OutboxStatus.UNKNOWN,),
        status=OutboxStatus.SENT if sent else OutboxStatus.FAILED,
        note="resolved by hand",
    )
