"""Every mailbox-simulator case, through boto3, both SES APIs, both feedback routes.

Expected fields come from the facts file: docs/ses.md#notifications (identity notifications),
docs/ses.md#event-publishing (event publishing), docs/ses.md#mailbox-simulator (simulator),
docs/ses.md#account-level-suppression-list (account suppression list).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import SENDER, SandboxClient
from tests.sandbox.helpers import (
    APIS,
    CONFIG_SET,
    error_of,
    events_route,
    kinds,
    notifications_route,
    only,
    send,
)

SIM = "simulator.amazonses.com"
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def run(
    sandbox: SandboxClient, route: str, api: str, to: list[str], **kwargs: Any
) -> tuple[str, list[dict[str, Any]]]:
    pipeline = sandbox.pipeline()
    if route == "events":
        events_route(sandbox, pipeline)
        kwargs.setdefault("configuration_set", CONFIG_SET)
    else:
        notifications_route(sandbox, pipeline)
    sandbox.feedback(pipeline.queue_url)  # setup messages out of the way
    message_id = send(sandbox, api, to, **kwargs)
    return message_id, sandbox.feedback(pipeline.queue_url)


def assert_mail(payload: dict[str, Any], message_id: str, to: list[str], *, route: str) -> None:
    mail = payload["mail"]
    assert mail["messageId"] == message_id
    assert mail["source"] == SENDER
    assert mail["destination"] == to
    assert mail["sendingAccountId"] == "123456789012"
    assert mail["sourceArn"] == f"arn:aws:ses:us-east-1:123456789012:identity/{SENDER}"
    assert mail["timestamp"].endswith("Z")
    assert "headers" in mail
    assert mail["commonHeaders"]["from"] == [SENDER]
    assert mail["commonHeaders"]["subject"] == "Hello"
    if route == "events":
        assert payload["envelope"]["Subject"] == "Amazon SES Email Event Notification"
        assert mail["tags"]["ses:configuration-set"] == [CONFIG_SET]
        assert mail["tags"]["ses:from-domain"] == ["example.com"]
    else:
        assert "Subject" not in payload["envelope"]
        assert "tags" not in mail


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("route", ["notifications", "events"])
def test_success_is_delivered(sandbox: SandboxClient, route: str, api: str) -> None:
    to = [f"success@{SIM}"]
    message_id, payloads = run(sandbox, route, api, to)
    expected = ["Delivery", "Send"] if route == "events" else ["Delivery"]
    assert kinds(payloads) == expected
    delivery = only(payloads, "Delivery")[0]
    assert_mail(delivery, message_id, to, route=route)
    assert delivery["delivery"]["recipients"] == to
    assert delivery["delivery"]["smtpResponse"].startswith("250 ")
    assert isinstance(delivery["delivery"]["processingTimeMillis"], int)
    if route == "events":
        assert only(payloads, "Send")[0]["send"] == {}


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("route", ["notifications", "events"])
def test_bounce_is_permanent_general(sandbox: SandboxClient, route: str, api: str) -> None:
    to = [f"bounce@{SIM}"]
    message_id, payloads = run(sandbox, route, api, to)
    bounces = only(payloads, "Bounce")
    assert len(bounces) == 1
    assert_mail(bounces[0], message_id, to, route=route)
    bounce = bounces[0]["bounce"]
    assert (bounce["bounceType"], bounce["bounceSubType"]) == ("Permanent", "General")
    [recipient] = bounce["bouncedRecipients"]
    assert recipient == {
        "emailAddress": to[0],
        "action": "failed",
        "status": "5.1.1",
        "diagnosticCode": "smtp; 550 5.1.1 user unknown",
    }
    assert bounce["feedbackId"].endswith("-000000")
    assert not only(payloads, "Delivery")


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("route", ["notifications", "events"])
def test_suppressionlist_is_permanent_suppressed(
    sandbox: SandboxClient, route: str, api: str
) -> None:
    to = [f"suppressionlist@{SIM}"]
    message_id, payloads = run(sandbox, route, api, to)
    [bounce] = only(payloads, "Bounce")
    assert_mail(bounce, message_id, to, route=route)
    body = bounce["bounce"]
    assert (body["bounceType"], body["bounceSubType"]) == ("Permanent", "Suppressed")
    assert body["reportingMTA"] == "dns; amazonses.com"
    assert body["bouncedRecipients"][0]["diagnosticCode"].startswith(
        "Amazon SES has suppressed sending to this address"
    )


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("route", ["notifications", "events"])
def test_complaint_follows_delivery(sandbox: SandboxClient, route: str, api: str) -> None:
    to = [f"complaint@{SIM}"]
    message_id, payloads = run(sandbox, route, api, to)
    assert "Delivery" in kinds(payloads)
    [complaint] = only(payloads, "Complaint")
    assert_mail(complaint, message_id, to, route=route)
    body = complaint["complaint"]
    assert body["complainedRecipients"] == [{"emailAddress": to[0]}]
    assert body["complaintFeedbackType"] == "abuse"
    assert body["userAgent"] == "Amazon SES Mailbox Simulator"
    assert body["complaintSubType"] is None
    assert body["feedbackId"]


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("route", ["notifications", "events"])
def test_ooto_delivers_and_auto_replies(sandbox: SandboxClient, route: str, api: str) -> None:
    to = [f"ooto@{SIM}"]
    message_id, payloads = run(sandbox, route, api, to)
    assert_mail(only(payloads, "Delivery")[0], message_id, to, route=route)
    [bounce] = only(payloads, "Bounce")
    assert (bounce["bounce"]["bounceType"], bounce["bounce"]["bounceSubType"]) == (
        "Transient",
        "General",
    )
    replies = sandbox.control("GET", f"/mailbox?recipient={SENDER}&kind=auto-reply")["messages"]
    assert len(replies) == 1
    assert replies[0]["sender"] == to[0]
    assert replies[0]["ses_message_id"] == message_id
    letter = sandbox.control("GET", f"/mailbox/{replies[0]['id']}")
    assert {"name": "Auto-Submitted", "value": "auto-replied"} in letter["headers"]


@pytest.mark.parametrize("route", ["notifications", "events"])
def test_labels_and_several_bounces_combine(sandbox: SandboxClient, route: str) -> None:
    to = [f"bounce+first@{SIM}", f"bounce+second@{SIM}", f"success+x@{SIM}"]
    message_id, payloads = run(sandbox, route, "v2", to)
    [bounce] = only(payloads, "Bounce")
    assert [r["emailAddress"] for r in bounce["bounce"]["bouncedRecipients"]] == to[:2]
    assert bounce["mail"]["destination"] == to
    [delivery] = only(payloads, "Delivery")
    assert delivery["delivery"]["recipients"] == [to[2]]
    assert delivery["mail"]["messageId"] == message_id


@pytest.mark.parametrize("api", ["v1-raw", "v2-raw"])
def test_eicar_is_accepted_then_rejected_by_event(sandbox: SandboxClient, api: str) -> None:
    sandbox.ses.verify_email_identity(EmailAddress="qa-inbox@example.com")
    to = ["qa-inbox@example.com"]
    message_id, payloads = run(sandbox, "events", api, to, attachment=EICAR)
    assert message_id
    assert kinds(payloads) == ["Reject", "Send"]
    [reject] = only(payloads, "Reject")
    assert reject["reject"] == {"reason": "Bad content"}
    assert reject["mail"]["messageId"] == message_id
    assert sandbox.control("GET", "/mailbox?recipient=qa-inbox@example.com")["messages"] == []


def test_eicar_has_no_identity_notification(sandbox: SandboxClient) -> None:
    sandbox.ses.verify_email_identity(EmailAddress="qa-inbox@example.com")
    _, payloads = run(
        sandbox, "notifications", "v2-raw", ["qa-inbox@example.com"], attachment=EICAR
    )
    assert payloads == []


def test_the_suppression_list_keeps_the_case_of_an_address(sandbox: SandboxClient) -> None:
    """Its management calls match the case exactly; sending does not
    (https://docs.aws.amazon.com/ses/latest/dg/sending-email-suppression-list.html)."""
    sandbox.set_account(production=True)
    given = "Jane.Doe@Example.org"
    sandbox.sesv2.put_suppressed_destination(EmailAddress=given, Reason="BOUNCE")
    found = sandbox.sesv2.list_suppressed_destinations()["SuppressedDestinationSummaries"]
    assert [entry["EmailAddress"] for entry in found] == [given]
    entry = sandbox.sesv2.get_suppressed_destination(EmailAddress=given)["SuppressedDestination"]
    assert entry["EmailAddress"] == given
    for call in (
        sandbox.sesv2.get_suppressed_destination,
        sandbox.sesv2.delete_suppressed_destination,
    ):
        code, _, _ = error_of(call, EmailAddress=given.lower())
        assert code == "NotFoundException"
    _, payloads = run(sandbox, "events", "v2", [given.lower()])
    [bounce] = only(payloads, "Bounce")
    assert bounce["bounce"]["bounceSubType"] == "OnAccountSuppressionList"
    sandbox.sesv2.delete_suppressed_destination(EmailAddress=given)
    assert sandbox.sesv2.list_suppressed_destinations()["SuppressedDestinationSummaries"] == []


@pytest.mark.parametrize("route", ["notifications", "events"])
def test_account_suppression_list_bounces(sandbox: SandboxClient, route: str) -> None:
    sandbox.set_account(production=True)
    address = "listed@example.org"
    sandbox.sesv2.put_suppressed_destination(EmailAddress=address, Reason="COMPLAINT")
    message_id, payloads = run(sandbox, route, "v2", [address])
    [bounce] = only(payloads, "Bounce")
    body = bounce["bounce"]
    assert (body["bounceType"], body["bounceSubType"]) == ("Permanent", "OnAccountSuppressionList")
    assert body["reportingMTA"] == "dns; amazonses.com"
    assert body["bouncedRecipients"][0]["diagnosticCode"].startswith(
        "Amazon SES did not send the message to this address because it is on the suppression "
        "list for your account."
    )
    assert bounce["mail"]["messageId"] == message_id
    assert not only(payloads, "Delivery")


def test_headers_only_when_enabled_for_notifications(sandbox: SandboxClient) -> None:
    pipeline = sandbox.pipeline()
    notifications_route(sandbox, pipeline, headers=False)
    sandbox.feedback(pipeline.queue_url)
    send(sandbox, "v2", [f"success@{SIM}"], tags={"campaign": "may"})
    [delivery] = sandbox.feedback(pipeline.queue_url)
    assert "headers" not in delivery["mail"]
    assert "commonHeaders" not in delivery["mail"]
    assert "tags" not in delivery["mail"]


def test_event_tags_carry_api_tags(sandbox: SandboxClient) -> None:
    _, payloads = run(sandbox, "events", "v1", [f"success@{SIM}"], tags={"campaign": "may"})
    tags = only(payloads, "Send")[0]["mail"]["tags"]
    assert tags["campaign"] == ["may"]
    assert tags["ses:operation"] == ["SendEmail"]
    assert tags["ses:caller-identity"]


def test_delivered_copy_lands_in_the_mailbox(sandbox: SandboxClient) -> None:
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    sandbox.ses.verify_email_identity(EmailAddress="friend@example.net")
    message_id = send(sandbox, "v2", ["friend@example.net"])
    sandbox.drain()
    [summary] = sandbox.control("GET", "/mailbox?recipient=friend@example.net")["messages"]
    assert summary["ses_message_id"] == message_id
    letter = sandbox.control("GET", f"/mailbox/{summary['id']}")
    assert letter["subject"] == "Hello"
    assert letter["text"].strip() == "Body"
