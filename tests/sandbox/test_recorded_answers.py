"""Where the sandbox must answer as AWS was recorded answering, beyond the facts-file samples.

The shapes come from event payloads and error answers recorded against real SES (public snapshot
recordings of SES v1 calls, 2023-2025) and from the facts file (docs/ses.md#notifications,
docs/ses.md#event-publishing).
"""

from __future__ import annotations

from typing import Any

from tests.conftest import SENDER, SandboxClient
from tests.sandbox.helpers import (
    CONFIG_SET,
    error_of,
    notifications_route,
    only,
    quiet_events_route,
    raw_message,
    send,
)

SUCCESS = "success@simulator.amazonses.com"
ACCOUNT_ARN = "arn:aws:ses:us-east-1:123456789012"


def events_for(sandbox: SandboxClient, api: str) -> list[dict[str, Any]]:
    pipeline = quiet_events_route(sandbox, ["SEND", "DELIVERY"])
    send(sandbox, api, [SUCCESS], configuration_set=CONFIG_SET)
    return sandbox.feedback(pipeline.queue_url)


def test_source_arn_names_the_verified_domain_an_address_sends_under(
    sandbox: SandboxClient,
) -> None:
    pipeline = quiet_events_route(sandbox, ["SEND"])
    sandbox.sesv2.create_email_identity(EmailIdentity="mail.example.org")
    sandbox.sesv2.send_email(
        FromEmailAddress="Billing <billing@mail.example.org>",
        Destination={"ToAddresses": [SUCCESS]},
        Content={"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}}},
        ConfigurationSetName=CONFIG_SET,
    )
    [event] = only(sandbox.feedback(pipeline.queue_url), "Send")
    assert event["mail"]["source"] == "Billing <billing@mail.example.org>"
    assert event["mail"]["sourceArn"] == f"{ACCOUNT_ARN}:identity/mail.example.org"


def test_source_arn_prefers_the_address_identity_over_its_domain(sandbox: SandboxClient) -> None:
    sandbox.sesv2.create_email_identity(EmailIdentity="example.com")
    [event] = only(events_for(sandbox, "v2"), "Send")
    assert event["mail"]["sourceArn"] == f"{ACCOUNT_ARN}:identity/{SENDER}"


def test_common_headers_give_ses_s_message_id_when_the_message_has_none(
    sandbox: SandboxClient,
) -> None:
    events = events_for(sandbox, "v2")
    for event in events:
        assert event["mail"]["commonHeaders"]["messageId"] == event["mail"]["messageId"]


def test_common_headers_keep_the_caller_s_own_message_id(sandbox: SandboxClient) -> None:
    raw = raw_message([SUCCESS])
    assert b"Message-ID: <original-id@app.example.com>" in raw
    [event] = only(events_for(sandbox, "v2-raw"), "Send")
    assert event["mail"]["commonHeaders"]["messageId"] == "<original-id@app.example.com>"


def test_only_delivery_events_carry_the_outgoing_ip_tag(sandbox: SandboxClient) -> None:
    events = events_for(sandbox, "v1")
    [sent] = only(events, "Send")
    [delivered] = only(events, "Delivery")
    assert "ses:outgoing-ip" not in sent["mail"]["tags"]
    assert delivered["mail"]["tags"]["ses:outgoing-ip"]


def test_v1_event_destination_to_a_missing_topic_is_an_invalid_sns_destination(
    sandbox: SandboxClient,
) -> None:
    sandbox.ses.create_configuration_set(ConfigurationSet={"Name": "set"})
    missing = "arn:aws:sns:us-east-1:123456789012:missing"
    code, message, status = error_of(
        sandbox.ses.create_configuration_set_event_destination,
        ConfigurationSetName="set",
        EventDestination={
            "Name": "to-sns",
            "Enabled": True,
            "MatchingEventTypes": ["send"],
            "SNSDestination": {"TopicARN": missing},
        },
    )
    assert (code, message, status) == (
        "InvalidSNSDestination",
        f"SNS topic {missing} not found.",
        400,
    )


def test_v2_event_destination_to_a_missing_topic_is_a_bad_request(sandbox: SandboxClient) -> None:
    sandbox.sesv2.create_configuration_set(ConfigurationSetName="set")
    code, _, status = error_of(
        sandbox.sesv2.create_configuration_set_event_destination,
        ConfigurationSetName="set",
        EventDestinationName="to-sns",
        EventDestination={
            "Enabled": True,
            "MatchingEventTypes": ["SEND"],
            "SnsDestination": {"TopicArn": "arn:aws:sns:us-east-1:123456789012:missing"},
        },
    )
    assert (code, status) == ("BadRequestException", 400)


def test_v1_deleting_a_missing_event_destination_names_the_set(sandbox: SandboxClient) -> None:
    sandbox.ses.create_configuration_set(ConfigurationSet={"Name": "set"})
    assert error_of(
        sandbox.ses.delete_configuration_set_event_destination,
        ConfigurationSetName="set",
        EventDestinationName="absent",
    ) == ("EventDestinationDoesNotExist", "No EventDestination found for set", 400)


def test_headers_in_notifications_for_an_unknown_identity_is_message_rejected(
    sandbox: SandboxClient,
) -> None:
    assert error_of(
        sandbox.ses.set_identity_headers_in_notifications_enabled,
        Identity="unknown@example.com",
        NotificationType="Bounce",
        Enabled=True,
    ) == ("MessageRejected", "Identity unknown@example.com is not verified or does not exist.", 400)
    sandbox.ses.verify_email_identity(EmailAddress="known@example.com")
    for _ in range(2):  # idempotent
        sandbox.ses.set_identity_headers_in_notifications_enabled(
            Identity="known@example.com", NotificationType="Bounce", Enabled=True
        )


def test_v1_answers_keep_carriage_returns(sandbox: SandboxClient) -> None:
    sandbox.sesv2.create_email_template(
        TemplateName="crlf", TemplateContent={"Subject": "s", "Text": "Dear {{name}},\r\nbye"}
    )
    assert sandbox.ses.get_template(TemplateName="crlf")["Template"]["TextPart"] == (
        "Dear {{name}},\r\nbye"
    )
    rendered = sandbox.ses.test_render_template(TemplateName="crlf", TemplateData='{"name": "Jo"}')
    assert "Subject: s\r\n" in rendered["RenderedTemplate"]
    assert "Dear Jo,\r\nbye" in rendered["RenderedTemplate"]


def test_event_mail_objects_leave_the_caller_to_the_tags(sandbox: SandboxClient) -> None:
    for event in events_for(sandbox, "v2"):
        mail = event["mail"]
        assert "sourceIp" not in mail
        assert "callerIdentity" not in mail
        assert mail["tags"]["ses:source-ip"]
        assert mail["tags"]["ses:caller-identity"]


def test_notification_mail_objects_name_the_caller(sandbox: SandboxClient) -> None:
    pipeline = sandbox.pipeline()
    notifications_route(sandbox, pipeline)
    sandbox.feedback(pipeline.queue_url)
    send(sandbox, "v2", [SUCCESS])
    [delivery] = sandbox.feedback(pipeline.queue_url)
    assert delivery["mail"]["sourceIp"]
    assert delivery["mail"]["callerIdentity"]


def test_a_rendering_failure_has_no_headers_but_says_none_were_truncated(
    sandbox: SandboxClient,
) -> None:
    pipeline = quiet_events_route(sandbox, ["RENDERING_FAILURE"])
    sandbox.sesv2.create_email_template(
        TemplateName="hello", TemplateContent={"Subject": "Hi {{name}}", "Text": "Hi {{name}}"}
    )
    sandbox.sesv2.send_email(
        FromEmailAddress=SENDER,
        Destination={"ToAddresses": [SUCCESS]},
        Content={"Template": {"TemplateName": "hello", "TemplateData": "{}"}},
        ConfigurationSetName=CONFIG_SET,
    )
    [failure] = only(sandbox.feedback(pipeline.queue_url), "Rendering Failure")
    assert failure["mail"]["headersTruncated"] is False
    assert "headers" not in failure["mail"]
    assert failure["failure"]["templateName"] == "hello"


def test_a_templated_send_event_shows_the_message_before_rendering(
    sandbox: SandboxClient,
) -> None:
    pipeline = quiet_events_route(sandbox, ["SEND", "DELIVERY"])
    sandbox.sesv2.create_email_template(
        TemplateName="hello", TemplateContent={"Subject": "Hi {{name}}", "Text": "Hi {{name}}"}
    )
    sandbox.sesv2.send_email(
        FromEmailAddress=SENDER,
        Destination={"ToAddresses": [SUCCESS]},
        Content={"Template": {"TemplateName": "hello", "TemplateData": '{"name": "Jo"}'}},
        ConfigurationSetName=CONFIG_SET,
    )
    events = sandbox.feedback(pipeline.queue_url)
    [sent] = only(events, "Send")
    [delivered] = only(events, "Delivery")
    assert "subject" not in sent["mail"]["commonHeaders"]
    names = [h["name"] for h in sent["mail"]["headers"]]
    assert "From" in names
    assert "Subject" not in names
    assert not [n for n in names if n.lower().startswith("content-")]
    assert delivered["mail"]["commonHeaders"]["subject"] == "Hi Jo"


def test_a_plain_send_event_shows_the_subject(sandbox: SandboxClient) -> None:
    [sent] = only(events_for(sandbox, "v2"), "Send")
    assert sent["mail"]["commonHeaders"]["subject"] == "Hello"


def test_headers_in_notifications_for_an_unknown_type_is_an_invalid_parameter(
    sandbox: SandboxClient,
) -> None:
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    assert error_of(
        sandbox.ses.set_identity_headers_in_notifications_enabled,
        Identity=SENDER,
        NotificationType="InvalidType",
        Enabled=True,
    ) == (
        "InvalidParameterValue",
        "Invalid notification type: InvalidType. Valid values are: Bounce, Complaint, Delivery.",
        400,
    )
    # Other enums keep AWS's generic validation answer.
    assert error_of(sandbox.ses.list_identities, IdentityType="Unknown")[0] == "ValidationError"
