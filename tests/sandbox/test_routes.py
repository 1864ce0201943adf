"""Feedback routing: forwarding by email, topics SES cannot reach, timing, identities, sets."""

from __future__ import annotations

import json
import urllib.error
from typing import Any

import pytest
from werkzeug.datastructures import Headers
from werkzeug.test import EnvironBuilder

from tests.conftest import SENDER, SandboxClient
from tests.sandbox.helpers import events_route, notifications_route, send

BOUNCE = "bounce@simulator.amazonses.com"
COMPLAINT = "complaint@simulator.amazonses.com"


def feedback_letters(sandbox: SandboxClient) -> list[dict[str, Any]]:
    sandbox.drain()
    letters: list[dict[str, Any]] = sandbox.control(
        "GET", f"/mailbox?recipient={SENDER}&kind=feedback"
    )["messages"]
    return letters


def test_without_any_route_feedback_is_mailed(sandbox: SandboxClient) -> None:
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    sandbox.ses.set_identity_feedback_forwarding_enabled(Identity=SENDER, ForwardingEnabled=False)
    message_id = send(sandbox, "v1", [BOUNCE])
    send(sandbox, "v1", [COMPLAINT])
    letters = feedback_letters(sandbox)
    assert sorted(letter["subject"].split(":")[0] for letter in letters) == [
        "Complaint about message",
        "Delivery Status Notification (Failure)",
    ]
    assert message_id in {letter["ses_message_id"] for letter in letters}


def test_forwarding_off_with_topics_sends_no_email(sandbox: SandboxClient) -> None:
    pipeline = sandbox.pipeline()
    notifications_route(sandbox, pipeline, forwarding=False)
    send(sandbox, "v1", [BOUNCE])
    assert feedback_letters(sandbox) == []
    assert len(sandbox.feedback(pipeline.queue_url)) == 1


def test_forwarding_on_with_topics_duplicates(sandbox: SandboxClient) -> None:
    pipeline = sandbox.pipeline()
    notifications_route(sandbox, pipeline, forwarding=True)
    send(sandbox, "v1", [BOUNCE])
    assert len(feedback_letters(sandbox)) == 1
    assert len(sandbox.feedback(pipeline.queue_url)) == 1


def test_event_destination_counts_as_a_route(sandbox: SandboxClient) -> None:
    pipeline = sandbox.pipeline()
    events_route(sandbox, pipeline)
    send(sandbox, "v2", [BOUNCE], configuration_set="feedback-set")
    assert feedback_letters(sandbox) == []


def test_deleted_topic_is_removed_and_forwarding_restored(sandbox: SandboxClient) -> None:
    pipeline = sandbox.pipeline()
    notifications_route(sandbox, pipeline, forwarding=False)
    sandbox.sns.delete_topic(TopicArn=pipeline.topic_arn)
    send(sandbox, "v1", [BOUNCE])
    sandbox.drain()
    attributes = sandbox.ses.get_identity_notification_attributes(Identities=[SENDER])[
        "NotificationAttributes"
    ][SENDER]
    assert "BounceTopic" not in attributes
    assert attributes["DeliveryTopic"] == pipeline.topic_arn  # delivery topics are left alone
    assert attributes["ForwardingEnabled"] is True
    assert len(feedback_letters(sandbox)) == 1


def test_feedback_waits_for_the_response(sandbox: SandboxClient) -> None:
    """The send's feedback is released by the WSGI close() that follows the response."""
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    pipeline = sandbox.pipeline()
    sandbox.ses.set_identity_notification_topic(
        Identity=SENDER, NotificationType="Delivery", SnsTopic=pipeline.topic_arn
    )
    sandbox.receive_all(pipeline.queue_url)
    body = (
        "Action=SendEmail&Version=2010-12-01&Source=sender%40example.com"
        "&Destination.ToAddresses.member.1=success%40simulator.amazonses.com"
        "&Message.Subject.Data=s&Message.Body.Text.Data=b"
    )
    environ = EnvironBuilder(
        method="POST",
        path="/",
        data=body,
        headers=Headers(
            {
                "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ses/"
                "aws4_request, SignedHeaders=host, Signature=x"
            }
        ),
        content_type="application/x-www-form-urlencoded",
    ).get_environ()
    status: list[str] = []
    response = sandbox.server.app(environ, lambda s, h, e=None: status.append(s))
    assert status == ["200 OK"]
    assert sandbox.server.drain(0.2) is False  # promised, not released before it is written
    payload = b"".join(response)
    assert b"<MessageId>" in payload
    sandbox.drain()
    [delivery] = sandbox.feedback(pipeline.queue_url)
    assert delivery["notificationType"] == "Delivery"


def test_domain_identity_tokens_and_coverage(sandbox: SandboxClient) -> None:
    token = sandbox.ses.verify_domain_identity(Domain="Example.COM")["VerificationToken"]
    assert token
    dkim = sandbox.ses.verify_domain_dkim(Domain="example.com")["DkimTokens"]
    assert len(dkim) == 3
    attributes = sandbox.ses.get_identity_verification_attributes(Identities=["example.com"])
    assert attributes["VerificationAttributes"]["example.com"] == {
        "VerificationStatus": "Success",
        "VerificationToken": token,
    }
    # Any address of a verified domain may send (docs/ses.md#notifications).
    assert send(sandbox, "v1", ["success@simulator.amazonses.com"])
    identity = sandbox.sesv2.get_email_identity(EmailIdentity="example.com")
    assert identity["IdentityType"] == "DOMAIN"
    assert identity["DkimAttributes"]["Tokens"] == dkim
    assert identity["VerifiedForSendingStatus"] is True


def test_identity_listing_and_deletion_both_apis(sandbox: SandboxClient) -> None:
    sandbox.ses.verify_email_identity(EmailAddress="a@example.com")
    sandbox.sesv2.create_email_identity(EmailIdentity="example.org")
    assert sorted(sandbox.ses.list_identities()["Identities"]) == ["a@example.com", "example.org"]
    assert sandbox.ses.list_identities(IdentityType="Domain")["Identities"] == ["example.org"]
    v2 = {
        i["IdentityName"]: i["IdentityType"]
        for i in sandbox.sesv2.list_email_identities()["EmailIdentities"]
    }
    assert v2 == {"a@example.com": "EMAIL_ADDRESS", "example.org": "DOMAIN"}
    sandbox.ses.delete_identity(Identity="a@example.com")
    sandbox.sesv2.delete_email_identity(EmailIdentity="example.org")
    assert sandbox.ses.list_identities()["Identities"] == []


def test_notification_attributes_round_trip(sandbox: SandboxClient) -> None:
    pipeline = sandbox.pipeline()
    notifications_route(sandbox, pipeline, headers=True, forwarding=False)
    attributes = sandbox.ses.get_identity_notification_attributes(Identities=[SENDER])[
        "NotificationAttributes"
    ][SENDER]
    assert attributes == {
        "BounceTopic": pipeline.topic_arn,
        "ComplaintTopic": pipeline.topic_arn,
        "DeliveryTopic": pipeline.topic_arn,
        "ForwardingEnabled": False,
        "HeadersInBounceNotificationsEnabled": True,
        "HeadersInComplaintNotificationsEnabled": True,
        "HeadersInDeliveryNotificationsEnabled": True,
    }
    setup = sandbox.receive_all(pipeline.queue_url)
    messages = [json.loads(envelope["Message"]) for envelope in setup]
    assert {m["notificationType"] for m in messages} == {"AmazonSnsSubscriptionSucceeded"}
    assert sorted(m["message"].split("'")[3] for m in messages) == [
        "Bounce",
        "Complaint",
        "Delivery",
    ]
    assert (
        sandbox.sesv2.get_email_identity(EmailIdentity=SENDER)["FeedbackForwardingStatus"] is False
    )


def test_configuration_sets_both_apis(sandbox: SandboxClient) -> None:
    pipeline = sandbox.pipeline()
    sandbox.ses.create_configuration_set(ConfigurationSet={"Name": "set-1"})
    sandbox.ses.create_configuration_set_event_destination(
        ConfigurationSetName="set-1",
        EventDestination={
            "Name": "sns",
            "Enabled": True,
            "MatchingEventTypes": ["bounce", "complaint", "renderingFailure"],
            "SNSDestination": {"TopicARN": pipeline.topic_arn},
        },
    )
    [validated] = sandbox.receive_all(pipeline.queue_url)
    assert validated["Message"] == (
        "Successfully validated SNS topic for Amazon SES event publishing."
    )
    destinations = sandbox.sesv2.get_configuration_set_event_destinations(
        ConfigurationSetName="set-1"
    )["EventDestinations"]
    assert destinations == [
        {
            "Name": "sns",
            "Enabled": True,
            "MatchingEventTypes": ["BOUNCE", "COMPLAINT", "RENDERING_FAILURE"],
            "SnsDestination": {"TopicArn": pipeline.topic_arn},
        }
    ]
    # v1 answers with the attributes the call names, and only those.
    plain = sandbox.ses.describe_configuration_set(ConfigurationSetName="set-1")
    assert "EventDestinations" not in plain
    assert plain["ConfigurationSet"] == {"Name": "set-1"}
    described = sandbox.ses.describe_configuration_set(
        ConfigurationSetName="set-1", ConfigurationSetAttributeNames=["eventDestinations"]
    )
    assert described["EventDestinations"][0]["MatchingEventTypes"] == [
        "bounce",
        "complaint",
        "renderingFailure",
    ]
    assert sandbox.sesv2.get_configuration_set(ConfigurationSetName="set-1")["SendingOptions"] == {
        "SendingEnabled": True
    }
    sandbox.sesv2.delete_configuration_set(ConfigurationSetName="set-1")
    assert sandbox.sesv2.list_configuration_sets()["ConfigurationSets"] == []


def test_account_and_quota_both_apis(sandbox: SandboxClient) -> None:
    sandbox.set_account(max_send_rate=3.0, max_24_hour_send=100.0)
    assert sandbox.ses.get_send_quota()["MaxSendRate"] == 3.0
    account = sandbox.sesv2.get_account()
    assert account["ProductionAccessEnabled"] is False
    assert account["SendQuota"] == {
        "Max24HourSend": 100.0,
        "MaxSendRate": 3.0,
        "SentLast24Hours": 0.0,
    }
    assert account["SuppressionAttributes"]["SuppressedReasons"] == ["BOUNCE", "COMPLAINT"]


def test_suppression_list_crud(sandbox: SandboxClient) -> None:
    sandbox.set_account(production=True)
    sandbox.sesv2.put_suppressed_destination(EmailAddress="X@Example.com", Reason="BOUNCE")
    found = sandbox.sesv2.get_suppressed_destination(EmailAddress="X@Example.com")
    assert found["SuppressedDestination"]["Reason"] == "BOUNCE"
    summaries = sandbox.sesv2.list_suppressed_destinations(Reasons=["BOUNCE"])[
        "SuppressedDestinationSummaries"
    ]
    assert [s["EmailAddress"] for s in summaries] == ["X@Example.com"]
    assert (
        sandbox.sesv2.list_suppressed_destinations(Reasons=["COMPLAINT"])[
            "SuppressedDestinationSummaries"
        ]
        == []
    )
    sandbox.sesv2.delete_suppressed_destination(EmailAddress="X@Example.com")
    assert sandbox.sesv2.list_suppressed_destinations()["SuppressedDestinationSummaries"] == []


def test_mailbox_clear_and_missing_letter(sandbox: SandboxClient) -> None:
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    send(sandbox, "v1", [BOUNCE])
    assert feedback_letters(sandbox)
    sandbox.control("DELETE", "/mailbox")
    assert feedback_letters(sandbox) == []
    with pytest.raises(urllib.error.HTTPError) as caught:
        sandbox.control("GET", "/mailbox/999")
    with caught.value:
        assert caught.value.code == 404
