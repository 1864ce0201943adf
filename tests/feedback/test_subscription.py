"""Subscription events (SES's subscription management) decoded and applied to the
unsubscribes (https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-contents.html)."""

from __future__ import annotations

import json
from typing import Any

from courrier.feedback import events as ev
from courrier.feedback.apply import apply
from courrier.feedback.decode import decode
from courrier.feedback.rules import Rules
from courrier.statuses import Action
from courrier.store import Store
from courrier.store.rollups import Flag, event_flags
from courrier.store.unsubscribes import list_unsubscribes, record_unsubscribe

READER = "reader@example.net"


def preferences(every: bool, **topics: str) -> dict[str, Any]:
    return {
        "unsubscribeAll": every,
        "topicSubscriptionStatus": [
            {"topicName": name, "subscriptionStatus": status} for name, status in topics.items()
        ],
    }


def body(sns_id: str, when: str, old: dict[str, Any], new: dict[str, Any], to: str = READER) -> str:
    payload = {
        "eventType": "Subscription",
        "mail": {"messageId": f"ses-{sns_id}", "destination": [to], "timestamp": when},
        "subscription": {
            "contactList": "customers",
            "timestamp": when,
            "source": "UnsubscribeHeader",
            "newTopicPreferences": new,
            "oldTopicPreferences": old,
        },
    }
    envelope = {"Type": "Notification", "MessageId": sns_id, "Message": json.dumps(payload)}
    return json.dumps(envelope)


def test_a_subscription_event_says_what_changed() -> None:
    [event] = decode(
        body(
            "1",
            "2026-01-02T03:04:05.000Z",
            preferences(False, weekly="OptIn", offers="OptOut"),
            preferences(False, weekly="OptOut", offers="OptOut"),
        )
    ).events
    assert isinstance(event, ev.Subscription)
    assert (event.recipient, event.contact_list) == (READER, "customers")
    assert event.previous_topic_preferences == {"weekly": "OptIn", "offers": "OptOut"}
    assert event.changes() == [("weekly", True)]
    # SES counts no rate on them, nor does courrier: no flag, no suppression.
    assert Rules().action(event) == Action.RECORD
    assert event_flags(event.kind, event.subtype, Action.RECORD) == Flag(0)


def test_unsubscribe_all_and_back(store: Store) -> None:
    out = body("1", "2026-01-02T03:00:00Z", preferences(False), preferences(True))
    back = body("2", "2026-01-02T04:00:00Z", preferences(True), preferences(False))
    applied = apply(store, [decode(out)])
    assert [(u.address, u.list_name, u.source) for u in applied.unsubscribed] == [
        (READER, None, "ses")
    ]
    assert apply(store, [decode(out)]).duplicates == 1  # redelivered: applied once
    apply(store, [decode(back)])
    assert list_unsubscribes(store) == []


def test_the_latest_change_wins_whatever_the_order(store: Store) -> None:
    leave = body(
        "1",
        "2026-01-02T05:00:00Z",
        preferences(False, weekly="OptIn"),
        preferences(False, weekly="OptOut"),
    )
    older_return = body(
        "2",
        "2026-01-02T04:00:00Z",
        preferences(False, weekly="OptOut"),
        preferences(False, weekly="OptIn"),
    )
    # Both in one batch, the newer first: the unsubscribe stays.
    apply(store, [decode(leave), decode(older_return)])
    [entry] = list_unsubscribes(store)
    assert (entry.list_name, entry.created_at.isoformat()) == (
        "weekly",
        "2026-01-02T05:00:00+00:00",
    )
    # An older return arriving in a later batch does not undo the newer unsubscribe either.
    late = body(
        "3",
        "2026-01-02T04:30:00Z",
        preferences(False, weekly="OptOut"),
        preferences(False, weekly="OptIn"),
    )
    apply(store, [decode(late)])
    assert [u.list_name for u in list_unsubscribes(store)] == ["weekly"]


def test_an_unsubscribe_already_stored_keeps_its_first_record(store: Store) -> None:
    first = record_unsubscribe(store, READER, "weekly", "one-click")
    assert first is not None
    out = body(
        "1",
        "2026-01-02T03:00:00Z",
        preferences(False, weekly="OptIn"),
        preferences(False, weekly="OptOut"),
    )
    assert apply(store, [decode(out)]).unsubscribed == []
    [entry] = list_unsubscribes(store)
    assert entry.source == "one-click"


def test_a_topic_that_cannot_be_a_list_name_is_skipped(store: Store) -> None:
    out = body(
        "1",
        "2026-01-02T03:00:00Z",
        preferences(False, **{"a b": "OptIn"}),
        preferences(False, **{"a b": "OptOut"}),
    )
    applied = apply(store, [decode(out)])
    assert len(applied.stored) == 1  # the event is kept
    assert list_unsubscribes(store) == []
