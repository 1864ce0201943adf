"""The worker on events only event publishing carries, produced by real sandbox traffic:
Open, Click, DeliveryDelay, Rendering Failure and Subscription (docs/ses.md#event-publishing)."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
from sqlalchemy import select

from courrier.aws.ses import SesClient
from courrier.aws.sqs import SqsQueue
from courrier.feedback.worker import Worker
from courrier.message import Message
from courrier.sending import Mailer, Pacer
from courrier.store import Store
from courrier.store.tables import FeedbackEventRow
from tests.conftest import SENDER, SandboxClient
from tests.sandbox.helpers import ALL_EVENT_TYPES, CONFIG_SET, events_route, letters

READER = "reader@example.net"
SLOW = "slow@example.net"
LINK = "https://example.org/offer"
HTML = f'<p>Hello</p><a href="{LINK}" ses:tags="campaign:may;">Offer</a>'
EVERY_TYPE = [*ALL_EVENT_TYPES, "OPEN", "CLICK", "SUBSCRIPTION"]


def events_of(store: Store, kind: str) -> list[tuple[str | None, str | None, dict[str, Any]]]:
    with store.transaction() as session:
        rows = session.execute(
            select(
                FeedbackEventRow.subtype, FeedbackEventRow.recipient, FeedbackEventRow.payload
            ).where(FeedbackEventRow.kind == kind)
        ).all()
    return [(subtype, recipient, json.loads(payload)) for subtype, recipient, payload in rows]


def unsubscribe_in_one_click(env: SandboxClient) -> str:
    """A send to a contact list, and the recipient's one-click unsubscribe."""
    env.sesv2.create_contact_list(
        ContactListName="news",
        Topics=[
            {"TopicName": "weekly", "DisplayName": "Weekly", "DefaultSubscriptionStatus": "OPT_IN"}
        ],
    )
    message_id = env.sesv2.send_email(
        FromEmailAddress=SENDER,
        Destination={"ToAddresses": [READER]},
        Content={"Simple": {"Subject": {"Data": "News"}, "Body": {"Text": {"Data": "x"}}}},
        ConfigurationSetName=CONFIG_SET,
        ListManagementOptions={"ContactListName": "news", "TopicName": "weekly"},
    )["MessageId"]
    env.drain()
    request = urllib.request.Request(
        f"{env.url}/_courrier/unsubscribe/{message_id}/{READER}",
        data=b"List-Unsubscribe=One-Click",
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    urllib.request.urlopen(request, timeout=10).close()
    return str(message_id)


@pytest.mark.parametrize("raw", [False, True], ids=["envelope", "raw-delivery"])
def test_engagement_delays_failures_and_unsubscribes(
    env: SandboxClient, store: Store, raw: bool
) -> None:
    for address in (READER, SLOW):
        env.ses.verify_email_identity(EmailAddress=address)
    env.control("POST", "/recipients", {"pattern": SLOW, "delay_type": "MailboxFull", "after": 0})
    pipeline = env.pipeline(raw=raw)
    events_route(env, pipeline, EVERY_TYPE)
    mailer = Mailer(store, SesClient(), pacer=Pacer(1000))
    read = mailer.send(
        Message(
            sender=SENDER,
            to=[READER],
            subject="Offer",
            text="x",
            html=HTML,
            configuration_set=CONFIG_SET,
        )
    )
    slow = mailer.send(
        Message(sender=SENDER, to=[SLOW], subject="Slow", text="x", configuration_set=CONFIG_SET)
    )
    [copy] = letters(env, READER)
    env.control("POST", f"/mailbox/{copy['id']}/open", {"user_agent": "Mail/1.0"})
    env.control("POST", f"/mailbox/{copy['id']}/click", {"user_agent": "Mail/1.0"})
    env.sesv2.create_email_template(
        TemplateName="welcome", TemplateContent={"Subject": "Hi {{name}}", "Text": "x"}
    )
    failed = env.sesv2.send_email(
        FromEmailAddress=SENDER,
        Destination={"ToAddresses": [READER]},
        Content={"Template": {"TemplateName": "welcome", "TemplateData": "{}"}},
        ConfigurationSetName=CONFIG_SET,
    )["MessageId"]
    unsubscribed = unsubscribe_in_one_click(env)
    env.drain()

    worker = Worker(SqsQueue(pipeline.queue_url), store, wait_seconds=0)
    worker.run(until_idle=True)
    assert worker.stats.rejected == 0
    assert worker.stats.deleted == worker.stats.received

    [(_, opener, opened)] = events_of(store, "Open")
    assert (opener, opened["open"]["userAgent"]) == (READER, "Mail/1.0")
    [(link, clicker, clicked)] = events_of(store, "Click")
    assert (link, clicker, clicked["click"]["linkTags"]) == (LINK, READER, {"campaign": ["may"]})
    [(delay_type, delayed, _)] = events_of(store, "DeliveryDelay")
    assert (delay_type, delayed) == ("MailboxFull", SLOW)
    [(template, failed_for, failure)] = events_of(store, "Rendering Failure")
    assert (template, failed_for, failure["mail"]["messageId"]) == ("welcome", READER, failed)
    [(contact_list, subscriber, subscription)] = events_of(store, "Subscription")
    assert (contact_list, subscriber) == ("news", READER)
    assert subscription["mail"]["messageId"] == unsubscribed

    # Statuses only move up: the delayed message was delivered in the end.
    statuses = {}
    for result in (read, slow):
        record = store.message(result.id)
        assert record is not None
        statuses.update({r.address: r.status for r in record.recipients})
    assert statuses == {READER: "clicked", SLOW: "delivered"}
