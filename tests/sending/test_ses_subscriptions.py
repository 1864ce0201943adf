"""SES's own subscription management: bulk sends carry ListManagementOptions, SES adds the
headers, and the worker applies the Subscription events SES publishes
(https://docs.aws.amazon.com/ses/latest/dg/sending-email-subscription-management.html)."""

from __future__ import annotations

from typing import Any

import pytest

from courrier import BulkDestination, Message, TemplateMessage
from courrier.aws.ses import SesClient
from courrier.aws.sqs import SqsQueue
from courrier.errors import ContactListMissing, InvalidMessage
from courrier.feedback.worker import Worker
from courrier.sending import Mailer, Pacer
from courrier.sending.runner import OutboxRunner
from courrier.settings import Settings
from courrier.statuses import MessageStatus, RecipientStatus, RunOutcome
from courrier.store import Store
from courrier.store.search import find_messages
from courrier.store.unsubscribes import list_unsubscribes, record_unsubscribe
from tests.conftest import SENDER, Pipeline, SandboxClient
from tests.sandbox.helpers import ALL_EVENT_TYPES, CONFIG_SET, events_route

READER = "reader@readers.example"
OTHER = "other@readers.example"
LIST, TOPIC = "customers", "weekly"


@pytest.fixture
def pipeline(sandbox: SandboxClient, monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    """A configuration set publishing every event (Subscription too) to a queue, a contact
    list with two topics and the ``news`` template."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.url)
    sandbox.ses.verify_domain_identity(Domain="readers.example")
    route = sandbox.pipeline()
    events_route(sandbox, route, [*ALL_EVENT_TYPES, "SUBSCRIPTION"])
    sandbox.sesv2.create_contact_list(
        ContactListName=LIST,
        Topics=[
            {"TopicName": TOPIC, "DisplayName": "Weekly", "DefaultSubscriptionStatus": "OPT_IN"},
            {"TopicName": "offers", "DisplayName": "Offers", "DefaultSubscriptionStatus": "OPT_IN"},
        ],
    )
    sandbox.sesv2.create_email_template(
        TemplateName="news",
        TemplateContent={"Subject": "News for {{name}}", "Text": "Hello {{name}}"},
    )
    return route


def ses_settings(**changes: Any) -> Settings:
    given: dict[str, Any] = {
        "unsubscribe_contact_list": LIST,
        "unsubscribe_topic": TOPIC,
        "configuration_set": CONFIG_SET,
    }
    return Settings(**{**given, **changes})


@pytest.fixture
def mailer(pipeline: Pipeline, store: Store) -> Mailer:
    return Mailer(store, SesClient(), settings=ses_settings(), pacer=Pacer(1000))


def campaign(mailer: Mailer, key: str) -> dict[RunOutcome, int]:
    mailer.enqueue_bulk(
        "news", [BulkDestination(READER, {"name": "Reader"})], sender=SENDER, key=key
    )
    return OutboxRunner(mailer, idle=0.01).run(until_empty=True).outcomes


def apply_feedback(sandbox: SandboxClient, pipeline: Pipeline, store: Store) -> Worker:
    sandbox.drain()
    worker = Worker(SqsQueue(pipeline.queue_url), store, wait_seconds=0)
    worker.run(until_idle=True)
    assert worker.stats.rejected == 0
    return worker


def delivered(sandbox: SandboxClient, recipient: str) -> list[dict[str, Any]]:
    sandbox.drain()
    found = sandbox.control("GET", f"/mailbox?recipient={recipient}&kind=delivery")["messages"]
    return [sandbox.control("GET", f"/mailbox/{letter['id']}") for letter in found]


def headers_of(letter: dict[str, Any]) -> dict[str, str]:
    return {h["name"]: h["value"] for h in letter["headers"]}


def test_a_campaign_unsubscribed_on_ses_skips_the_recipient_but_not_their_receipts(
    sandbox: SandboxClient, pipeline: Pipeline, store: Store, mailer: Mailer
) -> None:
    assert campaign(mailer, "march") == {"sent": 1}
    [letter] = delivered(sandbox, READER)
    headers = headers_of(letter)
    # SES's headers, not courrier's: the link is on SES's (the sandbox's) page.
    assert headers["List-Unsubscribe"].startswith(f"<{sandbox.url}/_courrier/unsubscribe/")
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    apply_feedback(sandbox, pipeline, store)
    assert list_unsubscribes(store) == []

    # The recipient clicks unsubscribe: SES updates the contact and publishes Subscription.
    sandbox.controls.unsubscribe(letter["ses_message_id"], READER)
    worker = apply_feedback(sandbox, pipeline, store)
    assert worker.stats.deleted == worker.stats.received
    [entry] = list_unsubscribes(store)
    assert (entry.address, entry.list_name, entry.source) == (READER, TOPIC, "ses")
    # Applied once: the same event again (a redelivery) changes nothing.
    assert apply_feedback(sandbox, pipeline, store).stats.received == 0

    # The next campaign skips them, recorded as unsubscribed; SES is not asked.
    assert campaign(mailer, "april") == {"failed": 1}  # the outbox row: nobody to send to
    latest = store.message(find_messages(store, limit=1)[0].id)
    assert latest is not None
    assert latest.status == MessageStatus.SUPPRESSED
    assert [r.status for r in latest.recipients] == [RecipientStatus.UNSUBSCRIBED]
    assert len(delivered(sandbox, READER)) == 1
    # Another topic of the list still reaches them.
    offers = mailer.send(
        TemplateMessage(SENDER, "news", [READER], {"name": "R"}, bulk=True, list_name="offers")
    )
    assert offers.sent

    # A receipt (transactional) still goes, with no unsubscribe header at all.
    assert mailer.send(Message(SENDER, [READER], "Your receipt", text="Thanks")).sent
    receipt = delivered(sandbox, READER)[-1]
    assert "List-Unsubscribe" not in headers_of(receipt)
    assert len(delivered(sandbox, READER)) == 3

    # Back in on SES's page: the unsubscribe is removed, and the campaign reaches them again.
    sandbox.controls.unsubscribe(letter["ses_message_id"], READER, topics={TOPIC: "OPT_IN"})
    apply_feedback(sandbox, pipeline, store)
    assert list_unsubscribes(store) == []
    assert campaign(mailer, "may") == {"sent": 1}


def test_unsubscribe_all_on_ses_stops_every_list(
    sandbox: SandboxClient, pipeline: Pipeline, store: Store, mailer: Mailer
) -> None:
    first = mailer.send(
        TemplateMessage(SENDER, "news", [READER], {"name": "R"}, bulk=True, list_name="offers")
    )
    assert first.ses_message_id is not None
    sandbox.controls.unsubscribe(first.ses_message_id, READER, unsubscribe_all=True)
    apply_feedback(sandbox, pipeline, store)
    lists = {(u.list_name, u.source) for u in list_unsubscribes(store)}
    assert (None, "ses") in lists  # every list
    later = mailer.send(Message(SENDER, [READER], "News", text="x", bulk=True))
    assert later.status == MessageStatus.SUPPRESSED

    # Leaving "unsubscribe from all" on the page brings back what it stopped, and no more.
    record_unsubscribe(store, OTHER, None, "one-click")
    sandbox.controls.unsubscribe(first.ses_message_id, READER, unsubscribe_all=False)
    apply_feedback(sandbox, pipeline, store)
    assert [(u.address, u.list_name) for u in list_unsubscribes(store)] == [(OTHER, None)]


def test_every_bulk_path_carries_list_management_and_not_courriers_headers(
    sandbox: SandboxClient, pipeline: Pipeline, store: Store, mailer: Mailer
) -> None:
    # No unsubscribe_url: SES's subscription management is the way to unsubscribe.
    assert mailer.settings.unsubscribe_url is None
    mailer.send(Message(SENDER, [READER], "Raw", text="x", bulk=True))
    mailer.send(TemplateMessage(SENDER, "news", [READER], {"name": "T"}, bulk=True))
    result = mailer.send_bulk(
        "news", [BulkDestination(READER), BulkDestination(OTHER)], sender=SENDER, data={"name": "B"}
    )
    assert result.sent == 2
    mailer.enqueue(Message(SENDER, [READER], "Queued", text="x", bulk=True))
    # Rows the runner would group into one SendBulkEmail go one SendEmail each.
    mailer.enqueue_bulk(
        "news", [BulkDestination(READER), BulkDestination(OTHER)], sender=SENDER, data={"name": "Q"}
    )
    assert OutboxRunner(mailer, idle=0.01).run(until_empty=True).outcomes == {"sent": 3}
    letters = delivered(sandbox, READER)
    assert len(letters) == 5
    for letter in letters:
        headers = headers_of(letter)
        assert headers["List-Unsubscribe"].startswith(f"<{sandbox.url}/_courrier/unsubscribe/")
    # Each was sent to the list's default topic: SES made the recipients contacts of it.
    contact = sandbox.sesv2.get_contact(ContactListName=LIST, EmailAddress=OTHER)
    assert contact["UnsubscribeAll"] is False
    # One SendEmail per destination (SendBulkEmail has no ListManagementOptions).
    sends = sandbox.controls.events("Send")
    assert sorted(e["destinations"][0] for e in sends) == [OTHER] * 2 + [READER] * 5


def test_a_bulk_message_to_several_recipients_is_refused(store: Store, mailer: Mailer) -> None:
    # SES adds its links only to a message with one recipient.
    with pytest.raises(InvalidMessage, match="one recipient"):
        mailer.send(Message(SENDER, [READER, OTHER], "News", text="x", bulk=True))
    assert find_messages(store, limit=1) == []


def test_a_contact_list_ses_does_not_have_is_a_clear_error(
    pipeline: Pipeline, store: Store
) -> None:
    mailer = Mailer(
        store,
        SesClient(),
        settings=ses_settings(unsubscribe_contact_list="nowhere"),
        pacer=Pacer(1000),
    )
    with pytest.raises(ContactListMissing, match="courrier setup"):
        mailer.send(Message(SENDER, [READER], "News", text="x", bulk=True))
    with pytest.raises(ContactListMissing):
        mailer.send_bulk("news", [BulkDestination(READER)], sender=SENDER)


def test_a_topic_ses_does_not_have_is_a_clear_error(pipeline: Pipeline, store: Store) -> None:
    mailer = Mailer(
        store, SesClient(), settings=ses_settings(unsubscribe_topic="nope"), pacer=Pacer(1000)
    )
    with pytest.raises(ContactListMissing, match="unsubscribe_topic"):
        mailer.send(Message(SENDER, [READER], "News", text="x", bulk=True))
    # A transactional message names no list: it goes.
    assert mailer.send(Message(SENDER, [READER], "Receipt", text="x")).sent
