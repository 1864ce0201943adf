"""Applying feedback on SQLite and PostgreSQL: exactly once, the rules, statuses, hooks."""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import threading
from typing import Any

import pytest
from sqlalchemy import Row, func, select, text
from sqlalchemy.orm import Session

from courrier.feedback import decode
from courrier.feedback import events as ev
from courrier.feedback.apply import SUPPRESSED, Applied, apply
from courrier.feedback.rules import Rules
from courrier.statuses import MessageStatus
from courrier.store import Store, rollups
from courrier.store import feedback as queries
from courrier.store.rollups import Flag
from courrier.store.sends import NewMessage
from courrier.store.tables import FeedbackEventRow, RecipientHourRow, RecipientRow, SnsReceiptRow
from tests.fakes import wait_until
from tests.feedback.test_decode import envelope, sample


def count(store: Store, table: Any) -> int:
    with store.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def bounce(
    recipient: str, bounce_type: str, subtype: str, feedback_id: str, message_id: str = "m-1"
) -> dict[str, Any]:
    payload = copy.deepcopy(sample("S1"))
    payload["mail"]["messageId"] = message_id
    payload["bounce"].update(
        bounceType=bounce_type,
        bounceSubType=subtype,
        feedbackId=feedback_id,
        bouncedRecipients=[{"emailAddress": recipient}],
    )
    return payload


def test_redelivered_sns_message_changes_nothing(store: Store) -> None:
    body = envelope(sample("S1"), message_id="sns-a")
    first = apply(store, [decode(body)])
    again = apply(store, [decode(body), decode(body)])
    assert (len(first.stored), first.suppressed) == (1, ["gone@example.net"])
    assert (len(again.stored), again.duplicates) == (0, 2)
    assert count(store, FeedbackEventRow) == 1
    assert count(store, SnsReceiptRow) == 1


def test_same_event_under_two_sns_ids_is_stored_once(store: Store) -> None:
    # SNS can publish the same SES notification twice with different MessageIds; the
    # feedback id per recipient still identifies it (docs/ses.md#sqs).
    applied = apply(
        store,
        [
            decode(envelope(sample("S4"), message_id="one")),
            decode(envelope(sample("S4"), message_id="two")),
            decode(json.dumps(sample("S4"))),
        ],
    )
    assert (len(applied.stored), applied.duplicates) == (1, 2)


def test_rules_on_the_facts_samples(store: Store) -> None:
    applied = apply(store, [decode(json.dumps(sample(n))) for n in SAMPLE_NAMES])
    actions = {(type(e).__name__, e.subtype): a for e, a in applied.stored}
    assert actions == {
        ("Bounce", "Permanent/General"): "suppress",
        ("Bounce", "Permanent/OnAccountSuppressionList"): "suppress",
        ("Bounce", "Transient/MailboxFull"): "count_soft_bounce",
        ("Complaint", "abuse"): "suppress",
        ("Delivery", None): "record",
        ("Reject", "Bad content"): "record",
        ("DeliveryDelay", "TransientCommunicationFailure"): "record",
        ("Open", None): "record",
    }
    entries = {s.address: s.reason for s in store.suppressions()}
    assert entries == {
        "gone@example.net": "bounce",
        "complainer@example.org": "bounce",
        "reader@example.org": "complaint",
    }


SAMPLE_NAMES = ["S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8"]


def test_not_spam_complaints_do_not_suppress(store: Store) -> None:
    payload = sample("S4")
    payload["complaint"]["complaintFeedbackType"] = "not-spam"
    applied = apply(store, [decode(json.dumps(payload))])
    assert applied.stored[0][1] == "record"
    assert store.suppressions() == []


def test_soft_bounces_suppress_after_the_limit(store: Store) -> None:
    rules = Rules(soft_bounce_limit=3)
    for n in range(2):
        apply(
            store,
            [
                decode(
                    json.dumps(
                        bounce("soft@x.example", "Transient", "MailboxFull", f"fb-{n}", f"m-{n}")
                    )
                )
            ],
            rules=rules,
        )
    assert store.suppressions() == []
    applied = apply(
        store,
        [decode(json.dumps(bounce("soft@x.example", "Transient", "MailboxFull", "fb-2", "m-2")))],
        rules=rules,
    )
    assert applied.suppressed == ["soft@x.example"]
    [entry] = store.suppressions()
    assert (entry.address, entry.reason) == ("soft@x.example", "soft-bounce")


def test_out_of_office_reply_never_suppresses(store: Store) -> None:
    delivery = sample("S5")
    delivery["mail"]["messageId"] = "m-ooto"
    delivery["delivery"]["recipients"] = ["ooto@simulator.amazonses.com"]
    auto_reply = bounce("ooto@simulator.amazonses.com", "Transient", "General", "fb-ooto", "m-ooto")
    rules = Rules(soft_bounce_limit=1)
    applied = apply(
        store, [decode(json.dumps(delivery)), decode(json.dumps(auto_reply))], rules=rules
    )
    assert [a for _, a in applied.stored] == ["record", "record"]
    assert store.suppressions() == []


def test_recipient_status_follows_feedback(store: Store) -> None:
    message_id = store.record_message(
        sender="a@example.com",
        subject="s",
        configuration_set=None,
        recipients=[("gone@example.net", "to", "pending"), ("other@example.net", "to", "pending")],
    )
    store.finish_send(message_id, status=MessageStatus.SENT, ses_message_id="m-status")
    delivery = sample("S5")
    delivery["mail"]["messageId"] = "m-status"
    delivery["delivery"]["recipients"] = ["gone@example.net", "other@example.net"]
    later_bounce = bounce("gone@example.net", "Permanent", "General", "fb-s", "m-status")
    apply(store, [decode(json.dumps(later_bounce)), decode(json.dumps(delivery))])
    # Applied in any order, the strongest status wins: bounced is never overwritten.
    record = store.message(message_id)
    assert record is not None
    assert {r.address: r.status for r in record.recipients} == {
        "gone@example.net": "bounced",
        "other@example.net": "delivered",
    }


def test_hooks_run_once_after_commit(store: Store) -> None:
    seen: list[ev.Event] = []

    def on_complaint(event: ev.Event) -> None:
        assert store.suppressed_among([event.recipient or ""])  # already committed
        seen.append(event)

    def broken(event: ev.Event) -> None:
        raise RuntimeError("user code failed")

    hooks = {"Complaint": [broken, on_complaint]}
    body = envelope(sample("S4"), message_id="sns-hook")
    apply(store, [decode(body)], hooks=hooks)
    apply(store, [decode(body)], hooks=hooks)
    assert [e.recipient for e in seen] == ["reader@example.org"]


def test_suppressed_hooks_run_for_the_events_that_suppress(store: Store) -> None:
    seen: list[tuple[str, str | None]] = []
    hooks = {SUPPRESSED: [lambda event: seen.append((event.kind, event.recipient))]}
    soft = [bounce("full@example.net", "Transient", "MailboxFull", f"soft-{n}") for n in range(3)]
    batch = [
        decode(envelope(sample("S5"), message_id="delivery")),
        decode(envelope(sample("S1"), message_id="hard")),
        *(decode(json.dumps(payload)) for payload in soft[:2]),
    ]
    apply(store, batch, hooks=hooks)
    assert seen == [("Bounce", "gone@example.net")]  # not the delivery, not two soft bounces
    third = decode(json.dumps(soft[2]))
    apply(store, [third, decode(envelope(sample("S1"), message_id="hard"))], hooks=hooks)
    apply(store, [third], hooks=hooks)
    assert seen[1:] == [("Bounce", "full@example.net")]  # the third, once; no duplicates
    complaint = decode(envelope(sample("S4"), message_id="complaint"))
    apply(store, [complaint, complaint], hooks=hooks)
    assert seen[2:] == [("Complaint", "reader@example.org")]


def test_a_confirmation_on_the_queue_is_reported(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """A cross-account subscription of the queue waits for a confirmation nobody sees:
    the worker says so, with the URL that confirms it."""
    body = json.dumps(
        {
            "Type": "SubscriptionConfirmation",
            "MessageId": "sns-confirm",
            "TopicArn": "arn:aws:sns:eu-west-1:111111111111:theirs",
            "Token": "t",
            "SubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=t",
            "Message": "You have chosen to subscribe",
        }
    )
    with caplog.at_level(logging.WARNING, logger="courrier.feedback.apply"):
        applied = apply(store, [decode(body)])
    assert (applied.ignored, applied.stored) == (1, [])
    assert (
        "SubscriptionConfirmation from topic arn:aws:sns:eu-west-1:111111111111:theirs"
        in caplog.text
    )
    assert "Action=ConfirmSubscription&Token=t" in caplog.text


def test_ignored_messages_are_counted(store: Store) -> None:
    applied = apply(
        store, [decode("Successfully validated SNS topic for Amazon SES event publishing.")]
    )
    assert (applied.ignored, applied.stored) == (1, [])


def test_suppression_ttl(store: Store) -> None:
    apply(
        store,
        [decode(json.dumps(sample("S1")))],
        rules=Rules(suppression_ttl=dt.timedelta(days=30)),
    )
    [entry] = store.suppressions()
    assert entry.expires_at is not None
    assert entry.expires_at > dt.datetime.now(dt.UTC) + dt.timedelta(days=29)


def mixed_batch() -> list[str]:
    """Bodies whose effects depend on what came before them in the same batch."""
    delivery = sample("S5")
    delivery["mail"]["messageId"] = "m-mix"
    delivery["delivery"]["recipients"] = ["ooto@x.example", "soft@x.example"]
    bodies = [
        envelope(delivery, message_id="sns-d"),
        # After the delivery above: an auto-reply, recorded and never counted.
        envelope(bounce("ooto@x.example", "Transient", "General", "fb-o", "m-mix"), message_id="o"),
        envelope(sample("S1"), message_id="sns-p"),
        envelope(sample("S1"), message_id="sns-p"),  # the same SNS message twice
        envelope(sample("S4"), message_id="sns-c1"),
        envelope(sample("S4"), message_id="sns-c2"),  # the same event under another id
    ]
    bodies += [
        envelope(
            bounce("soft@x.example", "Transient", "MailboxFull", f"fb-{n}", "m-mix"),
            message_id=f"sns-s{n}",
        )
        for n in range(4)
    ]
    bodies.append(json.dumps({"notificationType": "AmazonSnsSubscriptionSucceeded"}))
    return bodies


def snapshot(
    store: Store, message_id: int
) -> tuple[list[Row[str, str]], list[tuple[str, str, str, str | None]], list[tuple[str, str]]]:
    with store.transaction() as session:
        events = sorted(
            session.execute(select(FeedbackEventRow.event_key, FeedbackEventRow.action)).all()
        )
    suppressions = [(s.address, s.reason, s.source, s.detail) for s in store.suppressions()]
    record = store.message(message_id)
    assert record is not None
    return events, suppressions, [(r.address, r.status) for r in record.recipients]


def test_a_batch_applies_as_its_messages_one_after_the_other(database_url: str) -> None:
    results = []
    for batched in (True, False):
        store = Store(database_url)
        with store.transaction() as session:  # each round starts empty on the same database
            for table in ("feedback_events", "sns_receipts", "suppressions", "recipients"):
                session.execute(text(f"DELETE FROM {table}"))
            session.execute(text("DELETE FROM messages"))
        message_id = store.record_message(
            sender="a@example.com",
            subject="s",
            configuration_set=None,
            recipients=[("ooto@x.example", "to", "pending"), ("soft@x.example", "to", "pending")],
        )
        store.finish_send(message_id, status=MessageStatus.SENT, ses_message_id="m-mix")
        decoded = [decode(body) for body in mixed_batch()]
        rules = Rules(soft_bounce_limit=3)
        if batched:
            outcome = apply(store, decoded, rules=rules)
        else:
            outcome = Applied()
            for one in decoded:
                outcome.merge(apply(store, [one], rules=rules))
        summary = (
            [(e.key, a) for e, a in outcome.stored],
            outcome.duplicates,
            outcome.ignored,
            outcome.suppressed,
            [e.key for e in outcome.suppressing],
        )
        results.append((summary, snapshot(store, message_id)))
        store.close()
    assert results[0] == results[1]
    summary, (events, suppressions, statuses) = results[0]
    assert [a for k, a in events if "fb-o" in k] == ["record"]
    assert next(a for a in suppressions if a[0] == "soft@x.example")[1] == "soft-bounce"
    assert (summary[1], summary[2]) == (2, 1)  # the repeats, and the subscription notice
    assert dict(statuses) == {"ooto@x.example": "delivered", "soft@x.example": "soft_bounced"}


def test_an_auto_reply_applied_before_its_delivery_is_still_an_auto_reply(store: Store) -> None:
    delivery = sample("S5")
    delivery["mail"]["messageId"] = "m-late"
    delivery["delivery"]["recipients"] = ["ooto@x.example"]
    auto_reply = bounce("ooto@x.example", "Transient", "General", "fb-late", "m-late")
    other = bounce("ooto@x.example", "Transient", "General", "fb-other", "m-other")
    apply(store, [decode(json.dumps(auto_reply)), decode(json.dumps(other))])
    apply(store, [decode(json.dumps(delivery))])
    with store.transaction() as session:
        actions = dict(
            session.execute(
                select(FeedbackEventRow.ses_message_id, FeedbackEventRow.action).where(
                    FeedbackEventRow.kind == "Bounce"
                )
            ).all()
        )
    # Only the bounce of the delivered message: the other one is still counted.
    assert actions == {"m-late": "record", "m-other": "count_soft_bounce"}


def ooto_traffic(store: Store, count: int) -> tuple[list[int], list[str], list[str]]:
    """``count`` messages to one address, each auto-replied to at 13:10 after its delivery at
    13:00: (record ids, auto-reply bodies, delivery bodies)."""
    records, replies, deliveries = [], [], []
    for n in range(count):
        record = store.record_message(
            sender="a@example.com",
            subject=f"s{n}",
            configuration_set=None,
            recipients=[("away@x.example", "to", "pending")],
        )
        store.finish_send(record, status=MessageStatus.SENT, ses_message_id=f"m-ooto-{n}")
        records.append(record)
        reply = bounce("away@x.example", "Transient", "General", f"fb-ooto-{n}", f"m-ooto-{n}")
        reply["bounce"]["timestamp"] = "2026-12-07T13:10:00.000Z"
        replies.append(envelope(reply, message_id=f"sns-r{n}"))
        delivery = sample("S5")
        delivery["mail"]["messageId"] = f"m-ooto-{n}"
        delivery["delivery"].update(
            recipients=["away@x.example"], timestamp="2026-12-07T13:00:00.000Z"
        )
        deliveries.append(envelope(delivery, message_id=f"sns-d{n}"))
    return records, replies, deliveries


def ooto_outcome(store: Store, records: list[int]) -> tuple[set[str], list[str], list[str]]:
    with store.transaction() as session:
        actions = set(
            session.scalars(
                select(FeedbackEventRow.action).where(FeedbackEventRow.kind == "Bounce")
            ).all()
        )
    statuses: list[str] = []
    for record_id in records:
        record = store.message(record_id)
        assert record is not None
        statuses.extend(r.status for r in record.recipients)
    return actions, [s.address for s in store.suppressions()], statuses


@pytest.mark.parametrize("one_batch", [True, False], ids=["one-batch", "two-batches"])
def test_auto_replies_applied_before_their_deliveries_never_suppress(
    store: Store, one_batch: bool
) -> None:
    """Three out-of-office replies that SQS hands over ahead of their deliveries (a backlog
    received at once, or in separate receives): once the deliveries are applied, nothing
    counts as a soft bounce, the address is not suppressed and the recipients are delivered,
    as when the deliveries come first."""
    records, replies, deliveries = ooto_traffic(store, 3)
    rules = Rules(soft_bounce_limit=3)
    if one_batch:
        applied = apply(store, [decode(body) for body in replies + deliveries], rules=rules)
        assert (applied.suppressed, applied.suppressing) == ([], [])
    else:
        first = apply(store, [decode(body) for body in replies], rules=rules)
        assert first.suppressed == ["away@x.example"]  # three soft bounces, as far as known
        applied = apply(store, [decode(body) for body in deliveries], rules=rules)
        assert applied.unsuppressed == ["away@x.example"]
    assert ooto_outcome(store, records) == ({"record"}, [], ["delivered"] * 3)
    with store.transaction() as session:
        rollups.rebuild(session)
    assert ooto_outcome(store, records)[2] == ["delivered"] * 3


def test_a_suppression_that_real_soft_bounces_justify_stays(store: Store) -> None:
    """An auto-reply among four counted soft bounces: once its delivery makes it an
    auto-reply, the three real ones still reach the limit, and the address stays suppressed."""
    records, replies, deliveries = ooto_traffic(store, 1)
    soft = [
        envelope(
            bounce("away@x.example", "Transient", "MailboxFull", f"fb-full-{n}", f"m-full-{n}"),
            message_id=f"sns-f{n}",
        )
        for n in range(3)
    ]
    rules = Rules(soft_bounce_limit=3)
    apply(store, [decode(body) for body in replies + soft], rules=rules)
    assert [s.reason for s in store.suppressions()] == ["soft-bounce"]
    applied = apply(store, [decode(body) for body in deliveries], rules=rules)
    assert applied.unsuppressed == []
    assert [s.address for s in store.suppressions()] == ["away@x.example"]
    assert ooto_outcome(store, records)[2] == ["delivered"]


def test_a_manual_soft_bounce_entry_is_never_lifted(store: Store) -> None:
    records, replies, deliveries = ooto_traffic(store, 1)
    store.suppress("away@x.example", reason="soft-bounce", source="manual")
    rules = Rules(soft_bounce_limit=2)  # the auto-reply alone does not suppress
    apply(store, [decode(body) for body in replies], rules=rules)
    applied = apply(store, [decode(body) for body in deliveries], rules=rules)
    assert applied.unsuppressed == []
    assert ooto_outcome(store, records)[0] == {"record"}
    assert [(s.address, s.source) for s in store.suppressions()] == [("away@x.example", "manual")]


@pytest.mark.parametrize(("reason", "source"), [("manual", "manual"), ("complaint", "feedback")])
def test_an_entry_of_another_reason_outlives_auto_replies(
    store: Store, reason: str, source: str
) -> None:
    """Three auto-replies counted as soft bounces reach the limit on an address suppressed
    for another reason: the entry keeps its reason, and the deliveries that turn the
    replies into auto-replies do not lift it."""
    _, replies, deliveries = ooto_traffic(store, 3)
    store.suppress("away@x.example", reason=reason, source=source)
    rules = Rules(soft_bounce_limit=3)
    apply(store, [decode(body) for body in replies], rules=rules)
    assert [(s.reason, s.source) for s in store.suppressions()] == [(reason, source)]
    applied = apply(store, [decode(body) for body in deliveries], rules=rules)
    assert applied.unsuppressed == []
    assert [(s.reason, s.source) for s in store.suppressions()] == [(reason, source)]


def test_an_auto_reply_and_a_delivery_applied_at_once_take_turns(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL, two workers: one applies the third auto-reply, the other the delivery of
    the first. The second to decide sees what the first committed, so the address ends
    unsuppressed with two soft bounces counted, whichever commits first."""
    if store.dialect != "postgresql":
        pytest.skip("SQLite runs one writer at a time")
    _, replies, deliveries = ooto_traffic(store, 3)
    rules = Rules(soft_bounce_limit=3)
    apply(store, [decode(replies[0]), decode(replies[1])], rules=rules)
    delivery_started, delivery_done = threading.Event(), threading.Event()
    original = queries.suppress_many

    def suppress_late(session: Session, entries: Any) -> None:
        # The reply's worker has counted its soft bounces; the delivery's comes now.
        if entries and threading.current_thread().name == "reply":
            delivery_started.set()
            delivery_done.wait(2)
        original(session, entries)

    monkeypatch.setattr(queries, "suppress_many", suppress_late)
    reply = threading.Thread(
        target=apply, args=(store, [decode(replies[2])]), kwargs={"rules": rules}, name="reply"
    )
    reply.start()
    assert delivery_started.wait(10)
    apply(store, [decode(deliveries[0])], rules=rules)
    delivery_done.set()
    reply.join(10)
    with store.transaction() as session:
        counted = session.scalars(
            select(FeedbackEventRow.ses_message_id).where(
                FeedbackEventRow.action == "count_soft_bounce"
            )
        ).all()
    assert sorted(counted) == ["m-ooto-1", "m-ooto-2"]
    assert store.suppressions() == []


def test_feedback_applied_before_the_outcome_still_moves_its_recipients(store: Store) -> None:
    """A sender held up between SES's answer and its record: the worker stores the message's
    feedback first, when no message has that SES id yet; the outcome then gives each
    recipient the status its feedback says, as the rates already count it."""
    intent = store.begin_send(
        [
            NewMessage(
                "me@example.com",
                "s",
                None,
                [("gone@example.net", "to", "pending"), ("ok@example.net", "to", "pending")],
            )
        ]
    )
    [begun] = intent.messages
    assert begun.record_id is not None
    delivery = sample("S5")
    delivery["mail"]["messageId"] = "m-early"
    delivery["delivery"]["recipients"] = ["ok@example.net"]
    early = bounce("gone@example.net", "Permanent", "General", "fb-early", "m-early")
    apply(store, [decode(json.dumps(early)), decode(json.dumps(delivery))])
    store.finish_send(begun.record_id, status=MessageStatus.SENT, ses_message_id="m-early")
    with store.transaction() as session:
        statuses = dict(
            session.execute(
                select(RecipientRow.address, RecipientRow.status).where(
                    RecipientRow.message_id == begun.record_id
                )
            ).all()
        )
    assert statuses == {"gone@example.net": "bounced", "ok@example.net": "delivered"}


def test_feedback_applied_while_an_outcome_is_recorded_is_counted_once(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The outcome has read the feedback stored for its SES id (none yet) and not committed;
    the worker applies a bounce for that id. Without a common lock the worker cannot see the
    outcome's SES id and the outcome cannot see the bounce: neither would count it."""
    if store.dialect != "postgresql":
        pytest.skip("SQLite runs one writer at a time: the worker waits for the outcome")
    intent = store.begin_send(
        [NewMessage("me@example.com", "s", None, [("gone@example.net", "to", "pending")])]
    )
    [begun] = intent.messages
    assert begun.record_id is not None
    early = bounce("gone@example.net", "Permanent", "General", "fb-race", "m-race")
    applied: list[Applied] = []
    worker = threading.Thread(
        target=lambda: applied.append(apply(store, [decode(json.dumps(early))]))
    )
    real = rollups.refresh

    def refresh_then_feedback(session: Session, **given: Any) -> None:
        real(session, **given)
        if given.get("settle"):
            worker.start()
            wait_until(lambda: applied or _waiting_for_a_lock(store), what="the worker's batch")

    monkeypatch.setattr(rollups, "refresh", refresh_then_feedback)
    store.finish_send(begun.record_id, status=MessageStatus.SENT, ses_message_id="m-race")
    worker.join(timeout=30)
    assert [len(a.stored) for a in applied] == [1]
    with store.transaction() as session:
        status = session.scalar(
            select(RecipientRow.status).where(RecipientRow.message_id == begun.record_id)
        )
        counted = {
            int(flags): int(n)
            for flags, n in session.execute(
                select(RecipientHourRow.flags, RecipientHourRow.recipients)
            ).all()
        }
    assert status == "bounced"
    hard = [flags for flags, n in counted.items() if n and flags > 0 and flags & Flag.HARD_BOUNCE]
    assert hard, counted


def _waiting_for_a_lock(store: Store) -> bool:
    with store.engine.connect() as connection:
        waiting = connection.execute(
            text("SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'advisory'")
        ).scalar()
    return bool(waiting)
