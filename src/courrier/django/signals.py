"""Feedback as Django signals, sent once per newly stored event, after its commit.

The worker (``manage.py courrier worker``) and the SNS view send them through the hooks of
:func:`hooks`. Each signal's ``sender`` is the event's class, and its ``event`` argument the
typed event (:mod:`courrier.feedback.events`)::

    from django.dispatch import receiver
    from courrier.django.signals import complaint_received

    @receiver(complaint_received)
    def unsubscribe(sender, event, **kwargs):
        User.objects.filter(email__iexact=event.recipient).update(newsletter=False)

``feedback_received`` is sent for every event, after the signal of its kind;
``address_suppressed`` when an event put its recipient on the suppression list (it also
gets ``address`` and ``reason``). A receiver that raises is logged; the other receivers
still run, and nothing stored is undone.

``unsubscribed`` is sent by the unsubscribe view (:func:`courrier.django.views.unsubscribe`)
for each new one-click unsubscribe: ``sender`` is
:class:`~courrier.store.unsubscribes.Unsubscribed` and ``unsubscribe`` the stored entry
(``address``, ``list_name``, ``source``, ``created_at``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.dispatch import Signal

from courrier.feedback import events as ev
from courrier.feedback.apply import SUPPRESSED, Hook
from courrier.feedback.rules import Rules
from courrier.store.unsubscribes import Unsubscribed

__all__ = [
    "KIND_SIGNALS",
    "address_suppressed",
    "bounce_received",
    "click_received",
    "complaint_received",
    "delivery_delay_received",
    "delivery_received",
    "feedback_received",
    "hooks",
    "open_received",
    "reject_received",
    "rendering_failure_received",
    "send_received",
    "subscription_received",
    "unknown_received",
    "unsubscribed",
]

log = logging.getLogger(__name__)

bounce_received = Signal()
complaint_received = Signal()
delivery_received = Signal()
reject_received = Signal()
open_received = Signal()
click_received = Signal()
send_received = Signal()
delivery_delay_received = Signal()
rendering_failure_received = Signal()
subscription_received = Signal()
unknown_received = Signal()
#: Every event, whatever its kind.
feedback_received = Signal()
#: An event put ``address`` on the suppression list for ``reason``.
address_suppressed = Signal()
#: A recipient unsubscribed through a one-click link (``unsubscribe``: the stored entry).
unsubscribed = Signal()

#: The signal of each event kind.
KIND_SIGNALS: dict[type[ev.Event], Signal] = {
    ev.Bounce: bounce_received,
    ev.Complaint: complaint_received,
    ev.Delivery: delivery_received,
    ev.Reject: reject_received,
    ev.Open: open_received,
    ev.Click: click_received,
    ev.Send: send_received,
    ev.DeliveryDelay: delivery_delay_received,
    ev.RenderingFailure: rendering_failure_received,
    ev.Subscription: subscription_received,
    ev.Unknown: unknown_received,
}


def _send(signal: Signal, event: ev.Event, **extra: object) -> None:
    for receiver, outcome in signal.send_robust(sender=type(event), event=event, **extra):
        if isinstance(outcome, Exception):
            log.error("signal receiver %r failed on %s", receiver, event.key, exc_info=outcome)


def _sender(signal: Signal) -> Hook:
    def hook(event: ev.Event) -> None:
        _send(signal, event)
        _send(feedback_received, event)

    return hook


def _suppressed(rules: Rules) -> Callable[[ev.Event], None]:
    def hook(event: ev.Event) -> None:
        _send(address_suppressed, event, address=event.recipient, reason=rules.reason(event))

    return hook


def send_unsubscribed(entry: Unsubscribed) -> None:
    """Send :data:`unsubscribed` for ``entry``; a failing receiver is logged."""
    for receiver, outcome in unsubscribed.send_robust(sender=Unsubscribed, unsubscribe=entry):
        if isinstance(outcome, Exception):
            log.error("signal receiver %r failed on %s", receiver, entry, exc_info=outcome)


def hooks(rules: Rules | None = None) -> dict[str, list[Hook]]:
    """Hooks that send these signals, for ``Worker(hooks=...)`` or ``SnsReceiver``.

    ``rules`` should be those the worker applies: they name the suppression's ``reason``.
    """
    found: dict[str, list[Hook]] = {
        kind.kind: [_sender(signal)] for kind, signal in KIND_SIGNALS.items()
    }
    found[SUPPRESSED] = [_suppressed(rules or Rules())]
    return found
