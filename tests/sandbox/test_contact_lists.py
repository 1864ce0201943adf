"""v2 list management: contact lists, contacts, unsubscribe links, Subscription events."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from courrier_sandbox.client import SandboxControlError
from tests.conftest import SENDER, SandboxClient
from tests.sandbox.helpers import (
    ALL_EVENT_TYPES,
    CONFIG_SET,
    control_error,
    kinds,
    letters,
    only,
    quiet_events_route,
)
from tests.sandbox.helpers import error_of as error

LIST = "newsletter"
READER = "reader@example.net"
OTHER = "other@example.net"
TOPICS = [
    {"TopicName": "weekly", "DisplayName": "Weekly news", "DefaultSubscriptionStatus": "OPT_IN"},
    {
        "TopicName": "offers",
        "DisplayName": "Offers",
        "Description": "Now and then",
        "DefaultSubscriptionStatus": "OPT_OUT",
    },
]


def create_list(sandbox: SandboxClient) -> None:
    sandbox.sesv2.create_contact_list(
        ContactListName=LIST,
        Topics=TOPICS,
        Description="Our news",
        Tags=[{"Key": "team", "Value": "growth"}],
    )


def test_contact_list_lifecycle(sandbox: SandboxClient) -> None:
    create_list(sandbox)
    got = sandbox.sesv2.get_contact_list(ContactListName=LIST)
    assert got["Topics"] == TOPICS
    assert got["Description"] == "Our news"
    assert got["Tags"] == [{"Key": "team", "Value": "growth"}]
    assert got["CreatedTimestamp"] <= got["LastUpdatedTimestamp"]
    listed = sandbox.sesv2.list_contact_lists()["ContactLists"]
    assert [c["ContactListName"] for c in listed] == [LIST]
    assert error(sandbox.sesv2.create_contact_list, ContactListName=LIST) == (
        "AlreadyExistsException",
        f"List with name {LIST} already exists.",
        400,
    )
    # One contact list per account (SES's quota).
    assert error(sandbox.sesv2.create_contact_list, ContactListName="second") == (
        "LimitExceededException",
        "Maximum number of contact lists (1) reached.",
        400,
    )
    sandbox.sesv2.update_contact_list(ContactListName=LIST, Topics=TOPICS[:1])
    updated = sandbox.sesv2.get_contact_list(ContactListName=LIST)
    assert updated["Topics"] == TOPICS[:1]
    assert "Description" not in updated  # a complete replacement
    sandbox.sesv2.delete_contact_list(ContactListName=LIST)
    assert error(sandbox.sesv2.get_contact_list, ContactListName=LIST) == (
        "NotFoundException",
        f"List with name {LIST} does not exist.",
        404,
    )
    assert error(sandbox.sesv2.delete_contact_list, ContactListName=LIST)[0] == "NotFoundException"


@pytest.mark.parametrize(
    ("topics", "text"),
    [
        ([TOPICS[0], TOPICS[0]], "Topic names must be unique within a contact list."),
        (
            [{**TOPICS[0], "TopicName": f"t{n}"} for n in range(21)],
            "A contact list can have at most 20 topics.",
        ),
    ],
)
def test_invalid_topics_are_refused(
    sandbox: SandboxClient, topics: list[dict[str, str]], text: str
) -> None:
    assert error(sandbox.sesv2.create_contact_list, ContactListName=LIST, Topics=topics) == (
        "BadRequestException",
        text,
        400,
    )


def test_contacts_and_their_preferences(sandbox: SandboxClient) -> None:
    create_list(sandbox)
    sandbox.sesv2.create_contact(
        ContactListName=LIST,
        EmailAddress=READER,
        TopicPreferences=[{"TopicName": "offers", "SubscriptionStatus": "OPT_IN"}],
        AttributesData='{"name": "Ada"}',
    )
    contact = sandbox.sesv2.get_contact(ContactListName=LIST, EmailAddress=READER)
    assert contact["TopicPreferences"] == [{"TopicName": "offers", "SubscriptionStatus": "OPT_IN"}]
    assert contact["TopicDefaultPreferences"] == [
        {"TopicName": "weekly", "SubscriptionStatus": "OPT_IN"}
    ]
    assert (contact["UnsubscribeAll"], contact["AttributesData"]) == (False, '{"name": "Ada"}')
    assert error(sandbox.sesv2.create_contact, ContactListName=LIST, EmailAddress=READER) == (
        "AlreadyExistsException",
        f"Contact already exists in list {LIST}.",
        400,
    )
    # An update replaces every preference (botocore's model).
    sandbox.sesv2.update_contact(ContactListName=LIST, EmailAddress=READER, UnsubscribeAll=True)
    contact = sandbox.sesv2.get_contact(ContactListName=LIST, EmailAddress=READER)
    assert (contact["TopicPreferences"], contact["UnsubscribeAll"]) == ([], True)
    refusals: list[tuple[Callable[..., Any], dict[str, Any], tuple[str, str, int]]] = [
        (
            sandbox.sesv2.update_contact,
            {
                "EmailAddress": READER,
                "TopicPreferences": [{"TopicName": "daily", "SubscriptionStatus": "OPT_IN"}],
            },
            ("BadRequestException", f"Topic daily does not exist in contact list {LIST}.", 400),
        ),
        (
            sandbox.sesv2.update_contact,
            {"EmailAddress": OTHER},
            ("NotFoundException", f"Contact {OTHER} does not exist in list {LIST}.", 404),
        ),
        (
            sandbox.sesv2.create_contact,
            {"EmailAddress": "no-at-sign"},
            ("BadRequestException", "Missing final '@domain'", 400),
        ),
    ]
    for call, kwargs, expected in refusals:
        assert error(call, ContactListName=LIST, **kwargs) == expected
    assert (
        error(sandbox.sesv2.create_contact, ContactListName="missing", EmailAddress=READER)[0]
        == "NotFoundException"
    )
    sandbox.sesv2.delete_contact(ContactListName=LIST, EmailAddress=READER)
    assert error(sandbox.sesv2.get_contact, ContactListName=LIST, EmailAddress=READER)[2] == 404


def test_list_contacts_filters_and_pages(sandbox: SandboxClient) -> None:
    create_list(sandbox)
    for n in range(5):
        preferences = [{"TopicName": "weekly", "SubscriptionStatus": "OPT_OUT"}] if n < 2 else []
        sandbox.sesv2.create_contact(
            ContactListName=LIST, EmailAddress=f"c{n}@example.net", TopicPreferences=preferences
        )

    def names(**kwargs: Any) -> list[str]:
        found = sandbox.sesv2.list_contacts(ContactListName=LIST, **kwargs)["Contacts"]
        return [c["EmailAddress"] for c in found]

    assert len(names()) == 5
    weekly = {"TopicName": "weekly"}
    assert names(Filter={"FilteredStatus": "OPT_OUT", "TopicFilter": weekly}) == [
        "c0@example.net",
        "c1@example.net",
    ]
    # Without UseDefaultIfPreferenceUnavailable, a contact with no preference does not match.
    assert names(Filter={"FilteredStatus": "OPT_IN", "TopicFilter": weekly}) == []
    with_default = {**weekly, "UseDefaultIfPreferenceUnavailable": True}
    assert len(names(Filter={"FilteredStatus": "OPT_IN", "TopicFilter": with_default})) == 3
    first = sandbox.sesv2.list_contacts(ContactListName=LIST, PageSize=2)
    rest = sandbox.sesv2.list_contacts(
        ContactListName=LIST, PageSize=10, NextToken=first["NextToken"]
    )
    assert len(first["Contacts"]) + len(rest["Contacts"]) == 5
    assert "NextToken" not in rest
    assert error(sandbox.sesv2.list_contacts, ContactListName=LIST, PageSize=1001)[0] == (
        "BadRequestException"
    )
    assert error(sandbox.sesv2.list_contacts, ContactListName=LIST, NextToken="x")[0] == (
        "BadRequestException"
    )


def listed_send(
    sandbox: SandboxClient, how: str, to: list[str], topic: str | None = "weekly"
) -> str:
    options: dict[str, Any] = {"ContactListName": LIST}
    if topic:
        options["TopicName"] = topic
    common: dict[str, Any] = {
        "FromEmailAddress": SENDER,
        "ConfigurationSetName": CONFIG_SET,
        "ListManagementOptions": options,
    }
    template = {
        "TemplateContent": {
            "Subject": "News for {{name}}",
            "Text": "Hello {{name}}. Unsubscribe: {{amazonSESUnsubscribeUrl}}",
            "Html": '<p>Hello {{name}}</p><a href="{{amazonSESUnsubscribeUrl}}">stop</a>',
        },
        "TemplateData": json.dumps({"name": "Ada"}),
    }
    content: dict[str, Any] = {"Template": template}
    if how == "simple":
        body = "Unsubscribe: {{amazonSESUnsubscribeUrl}}"
        content = {"Simple": {"Subject": {"Data": "News"}, "Body": {"Text": {"Data": body}}}}
    response = sandbox.sesv2.send_email(Destination={"ToAddresses": to}, Content=content, **common)
    return str(response["MessageId"])


def one_click(url: str) -> dict[str, Any]:
    """What a mail provider does with List-Unsubscribe-Post (RFC 8058)."""
    request = urllib.request.Request(
        url,
        data=b"List-Unsubscribe=One-Click",
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def listed_setup(sandbox: SandboxClient) -> Any:
    for address in (READER, OTHER):
        sandbox.ses.verify_email_identity(EmailAddress=address)
    create_list(sandbox)
    return quiet_events_route(sandbox, [*ALL_EVENT_TYPES, "SUBSCRIPTION"])


# SendBulkEmail has no ListManagementOptions (botocore's sesv2 model): SendEmail only.
@pytest.mark.parametrize("how", ["simple", "template"])
def test_one_click_unsubscribe_and_the_subscription_event(sandbox: SandboxClient, how: str) -> None:
    pipeline = listed_setup(sandbox)
    message_id = listed_send(sandbox, how, [READER])
    [copy] = letters(sandbox, READER)
    headers = {h["name"]: h["value"] for h in copy["headers"]}
    url = f"{sandbox.url}/_courrier/unsubscribe/{message_id}/{urllib.parse.quote(READER, safe='@')}"
    assert headers["List-Unsubscribe"] == f"<{url}>"
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert url in copy["text"]
    assert "amazonSESUnsubscribeUrl" not in copy["text"]
    sandbox.feedback(pipeline.queue_url)

    new = one_click(url)
    assert new["topicSubscriptionStatus"][0] == {
        "topicName": "weekly",
        "subscriptionStatus": "OptOut",
    }
    [event] = sandbox.feedback(pipeline.queue_url)
    assert event["eventType"] == "Subscription"
    assert event["mail"]["messageId"] == message_id
    subscription = event["subscription"]
    assert (subscription["contactList"], subscription["source"]) == (LIST, "UnsubscribeHeader")
    assert subscription["oldTopicPreferences"] == {
        "unsubscribeAll": False,
        "topicSubscriptionStatus": [
            {"topicName": "weekly", "subscriptionStatus": "OptIn"},
            {"topicName": "offers", "subscriptionStatus": "OptOut"},
        ],
    }
    assert subscription["newTopicPreferences"]["topicSubscriptionStatus"][0] == {
        "topicName": "weekly",
        "subscriptionStatus": "OptOut",
    }
    contact = sandbox.sesv2.get_contact(ContactListName=LIST, EmailAddress=READER)
    assert contact["TopicPreferences"] == [{"TopicName": "weekly", "SubscriptionStatus": "OPT_OUT"}]

    # The next send on that topic is not sent to the contact (SES bounces it:
    # sending-email-list-management.html); the other recipient gets it.
    listed_send(sandbox, "simple", [READER, OTHER])
    events = sandbox.feedback(pipeline.queue_url)
    assert kinds(events) == ["Bounce", "Delivery", "Send"]
    [bounce] = only(events, "Bounce")
    assert [r["emailAddress"] for r in bounce["bounce"]["bouncedRecipients"]] == [READER]
    assert len(letters(sandbox, READER)) == 1
    assert len(letters(sandbox, OTHER)) == 1


def test_without_a_topic_one_click_unsubscribes_from_everything(sandbox: SandboxClient) -> None:
    pipeline = listed_setup(sandbox)
    message_id = listed_send(sandbox, "simple", [READER], topic=None)
    sandbox.feedback(pipeline.queue_url)
    assert one_click(f"{sandbox.url}/_courrier/unsubscribe/{message_id}/{READER}")["unsubscribeAll"]
    listed_send(sandbox, "simple", [READER], topic="offers")
    assert only(sandbox.feedback(pipeline.queue_url), "Delivery") == []


def test_the_preferences_page_behind_the_link(sandbox: SandboxClient) -> None:
    pipeline = listed_setup(sandbox)
    message_id = listed_send(sandbox, "simple", [READER])
    sandbox.feedback(pipeline.queue_url)
    page = f"/unsubscribe/{message_id}/{READER}"
    shown = sandbox.control("GET", page)
    assert (shown["contact_list"], shown["topic"], shown["unsubscribeAll"]) == (
        LIST,
        "weekly",
        False,
    )
    changed = sandbox.control("POST", page, {"topics": {"offers": "OPT_IN"}})
    assert changed["topicSubscriptionStatus"][1]["subscriptionStatus"] == "OptIn"
    [event] = sandbox.feedback(pipeline.queue_url)
    assert event["subscription"]["source"] == "UnsubscribeLink"
    for body, text in [
        ({"topics": {"daily": "OPT_OUT"}}, "Unknown topics: daily."),
        ({"topics": {"offers": "maybe"}}, 'topics must map topic names to "OPT_IN" or'),
        ({"unsubscribe_all": "yes"}, "unsubscribe_all must be true or false"),
        ({}, "expected the form body List-Unsubscribe=One-Click"),
    ]:
        status, message = control_error(sandbox, "POST", page, body)
        assert (status, message[: len(text)]) == (400, text)
    assert control_error(sandbox, "GET", f"/unsubscribe/0100-none-000000/{READER}")[0] == 404
    status, message = control_error(
        sandbox, "POST", f"/unsubscribe/{message_id}/{OTHER}", {"unsubscribe_all": True}
    )
    assert status == 404
    assert message == f"{OTHER} is not a recipient of message {message_id}."


def test_list_management_names_a_list_and_topic_that_exist(sandbox: SandboxClient) -> None:
    listed_setup(sandbox)
    for options, text in [
        ({"ContactListName": "missing"}, "List with name missing does not exist."),
        (
            {"ContactListName": LIST, "TopicName": "daily"},
            f"Topic daily does not exist in contact list {LIST}.",
        ),
    ]:
        assert error(
            sandbox.sesv2.send_email,
            FromEmailAddress=SENDER,
            Destination={"ToAddresses": [READER]},
            Content={"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}}},
            ListManagementOptions=options,
        ) == ("NotFoundException", text, 404)


def test_the_control_client_clicks_unsubscribe_for_the_recipient(sandbox: SandboxClient) -> None:
    pipeline = listed_setup(sandbox)
    message_id = listed_send(sandbox, "simple", [READER])
    sandbox.feedback(pipeline.queue_url)
    # A recipient SES never had is a contact from the send on (sending-email-list-management).
    assert (
        sandbox.sesv2.get_contact(ContactListName=LIST, EmailAddress=READER)["UnsubscribeAll"]
        is False
    )

    new = sandbox.controls.unsubscribe(message_id, READER)
    assert {"topicName": "weekly", "subscriptionStatus": "OptOut"} in new["topicSubscriptionStatus"]
    [event] = sandbox.feedback(pipeline.queue_url)
    assert (event["eventType"], event["subscription"]["source"]) == (
        "Subscription",
        "UnsubscribeHeader",
    )
    assert event["mail"]["destination"] == [READER]

    back = sandbox.controls.unsubscribe(message_id, READER, topics={"weekly": "OPT_IN"})
    assert {"topicName": "weekly", "subscriptionStatus": "OptIn"} in back["topicSubscriptionStatus"]
    [event] = sandbox.feedback(pipeline.queue_url)
    assert event["subscription"]["source"] == "UnsubscribeLink"

    with pytest.raises(SandboxControlError) as refused:
        sandbox.controls.unsubscribe(message_id, OTHER)
    assert refused.value.status == 404


def test_ses_adds_its_links_only_to_a_message_with_one_recipient(sandbox: SandboxClient) -> None:
    listed_setup(sandbox)
    listed_send(sandbox, "simple", [READER, OTHER])
    for address in (READER, OTHER):
        [copy] = letters(sandbox, address)
        names = {h["name"] for h in copy["headers"]}
        assert "List-Unsubscribe" not in names
