"""Every refusal the sandbox's SES makes, with the AWS error code and text
(docs/ses.md#sandbox-account, #send-errors)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from email.message import EmailMessage
from typing import Any

import pytest

from tests.conftest import SENDER, SandboxClient
from tests.sandbox.helpers import error_of, raw_message, send

SUCCESS = "success@simulator.amazonses.com"


def v1_send(sandbox: SandboxClient, to: list[str], source: str = SENDER, **extra: Any) -> Any:
    return sandbox.ses.send_email(
        Source=source,
        Destination={"ToAddresses": to},
        Message={"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}},
        **extra,
    )


def v2_send(sandbox: SandboxClient, to: list[str], source: str = SENDER, **extra: Any) -> Any:
    return sandbox.sesv2.send_email(
        FromEmailAddress=source,
        Destination={"ToAddresses": to},
        Content={"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}}},
        **extra,
    )


NOT_VERIFIED = (
    "Email address is not verified. The following identities failed the check in region US-EAST-1: "
)


@pytest.mark.parametrize("sender", [v1_send, v2_send])
def test_unverified_sender_is_rejected(sandbox: SandboxClient, sender: Any) -> None:
    code, message, status = error_of(sender, sandbox, [SUCCESS], source="nobody@example.com")
    assert (code, status) == ("MessageRejected", 400)
    assert message == NOT_VERIFIED + "nobody@example.com"


def raw_with(headers: dict[str, str]) -> bytes:
    message = EmailMessage()
    for name, value in headers.items():
        message[name] = value
    message["To"] = SUCCESS
    message["Subject"] = "s"
    message.set_content("b")
    return message.as_bytes()


def raw_send(sandbox: SandboxClient, api: str, raw: bytes) -> Any:
    if api == "v1":
        return sandbox.ses.send_raw_email(Source=SENDER, RawMessage={"Data": raw})
    return sandbox.sesv2.send_email(FromEmailAddress=SENDER, Content={"Raw": {"Data": raw}})


@pytest.mark.parametrize("api", ["v1", "v2"])
@pytest.mark.parametrize("header", ["From", "Sender", "Return-Path"])
def test_an_unverified_address_in_a_sender_header_is_rejected(
    sandbox: SandboxClient, api: str, header: str
) -> None:
    """SES checks the From, Sender and Return-Path headers of a raw message as it checks
    its Source (https://docs.aws.amazon.com/ses/latest/dg/troubleshoot-smtp.html)."""
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    headers = {"From": SENDER, header: "Someone <someone@elsewhere.example>"}
    code, message, _ = error_of(raw_send, sandbox, api, raw_with(headers))
    assert code == "MessageRejected"
    assert message == NOT_VERIFIED + "someone@elsewhere.example"


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_sender_headers_in_a_verified_domain_are_accepted(sandbox: SandboxClient, api: str) -> None:
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    sandbox.ses.verify_domain_identity(Domain="example.org")
    headers = {
        "From": "News <news@example.org>",
        "Sender": SENDER,
        "Return-Path": "<bounces@example.org>",
    }
    assert raw_send(sandbox, api, raw_with(headers))["MessageId"]


@pytest.mark.parametrize("api", ["v1", "v2"])
@pytest.mark.parametrize("header", ["Content-Type", "Subject", "From", "Message-ID"])
def test_a_repeated_single_header_is_rejected(
    sandbox: SandboxClient, api: str, header: str
) -> None:
    """https://docs.aws.amazon.com/ses/latest/dg/header-fields.html"""
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    raw = raw_with({"From": SENDER, "Message-ID": "<a@example.com>"})
    repeated = {
        "Content-Type": b"Content-Type: text/html",
        "Subject": b"Subject: again",
        "From": f"From: {SENDER}".encode(),
        "Message-ID": b"Message-ID: <b@example.com>",
    }[header]
    code, message, _ = error_of(raw_send, sandbox, api, repeated + b"\n" + raw)
    assert (code, message) == ("MessageRejected", f"Duplicate header '{header}'.")


@pytest.mark.parametrize("sender", [v1_send, v2_send])
def test_sandbox_mode_rejects_unverified_recipients(sandbox: SandboxClient, sender: Any) -> None:
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    code, message, _ = error_of(sender, sandbox, ["a@x.example", "b@y.example", SUCCESS])
    assert code == "MessageRejected"
    assert message == NOT_VERIFIED + "a@x.example, b@y.example"


def test_production_mode_accepts_any_recipient(sandbox: SandboxClient) -> None:
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    sandbox.set_account(production=True)
    assert v2_send(sandbox, ["anyone@example.org"])["MessageId"]


def test_pending_identity_cannot_send_until_verified(sandbox: SandboxClient) -> None:
    sandbox.server.app.ses.options = type(sandbox.server.app.ses.options)(pending_identities=True)
    try:
        sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    finally:
        sandbox.server.app.ses.options = type(sandbox.server.app.ses.options)()
    status = sandbox.ses.get_identity_verification_attributes(Identities=[SENDER])
    assert status["VerificationAttributes"][SENDER]["VerificationStatus"] == "Pending"
    [letter] = sandbox.control("GET", f"/mailbox?recipient={SENDER}&kind=verification")["messages"]
    assert "Verification" in letter["subject"]
    code, message, _ = error_of(v1_send, sandbox, [SUCCESS])
    assert (code, message) == ("MessageRejected", NOT_VERIFIED + SENDER)
    sandbox.control("POST", f"/identities/{SENDER}/verify")
    assert v1_send(sandbox, [SUCCESS])["MessageId"]


def test_throttling_v1(sandbox: SandboxClient) -> None:
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    # A bucket of two: both go at once, the third waits for the rate.
    sandbox.set_account(max_send_rate=2.0, max_send_burst=2.0)
    v1_send(sandbox, [SUCCESS, SUCCESS])
    code, message, status = error_of(v1_send, sandbox, [SUCCESS])
    assert (code, message, status) == ("Throttling", "Maximum sending rate exceeded.", 400)


def test_throttling_v2_is_http_429(sandbox: SandboxClient) -> None:
    sandbox.sesv2.create_email_identity(EmailIdentity=SENDER)
    sandbox.set_account(max_send_rate=1.0, max_send_burst=1.0)
    v2_send(sandbox, [SUCCESS])
    code, message, status = error_of(v2_send, sandbox, [SUCCESS])
    assert (code, message, status) == (
        "TooManyRequestsException",
        "Maximum sending rate exceeded.",
        429,
    )


@pytest.mark.parametrize(
    ("sender", "code"), [(v1_send, "Throttling"), (v2_send, "TooManyRequestsException")]
)
def test_daily_quota(sandbox: SandboxClient, sender: Any, code: str) -> None:
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    sandbox.ses.verify_email_identity(EmailAddress="friend@example.net")
    sandbox.set_account(max_24_hour_send=2.0)
    # Simulator mail does not count toward the daily quota (docs/ses.md#mailbox-simulator).
    for _ in range(3):
        sender(sandbox, [SUCCESS])
    sender(sandbox, ["friend@example.net", "friend@example.net"])
    assert error_of(sender, sandbox, ["friend@example.net"])[:2] == (
        code,
        "Daily message quota exceeded.",
    )
    assert sandbox.ses.get_send_quota()["SentLast24Hours"] == 2.0


@pytest.mark.parametrize(
    ("sender", "code"), [(v1_send, "InvalidParameterValue"), (v2_send, "BadRequestException")]
)
def test_more_than_50_recipients(sandbox: SandboxClient, sender: Any, code: str) -> None:
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    assert error_of(sender, sandbox, [SUCCESS] * 51)[:2] == (code, "Recipient count exceeds 50.")


def test_size_limit_v1_is_10_mb(sandbox: SandboxClient) -> None:
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    data = raw_message([SUCCESS], attachment=b"\0" * (8 * 1024 * 1024))
    code, message, _ = error_of(sandbox.ses.send_raw_email, RawMessage={"Data": data})
    assert code == "MessageRejected"
    assert message.startswith("Message length is more than 10485760 bytes long")


def test_size_limit_v2_is_40_mb(sandbox: SandboxClient) -> None:
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    accepted = raw_message([SUCCESS], attachment=b"\0" * (8 * 1024 * 1024))
    assert sandbox.sesv2.send_email(Content={"Raw": {"Data": accepted}})["MessageId"]
    data = raw_message([SUCCESS], attachment=b"\0" * (31 * 1024 * 1024))
    code, message, _ = error_of(sandbox.sesv2.send_email, Content={"Raw": {"Data": data}})
    assert code == "MessageRejected"
    assert message.startswith("Message length is more than 41943040 bytes long")


@pytest.mark.parametrize(
    ("address", "text"),
    [
        ("jürgen@example.com", "Local address contains illegal character"),
        ("user@bücher.example", "Domain contains illegal character"),
        ("no-at-sign", "Missing final '@domain'"),
        ("two words@example.com", "Local address contains control or whitespace"),
    ],
)
@pytest.mark.parametrize(
    ("sender", "code"), [(v1_send, "InvalidParameterValue"), (v2_send, "BadRequestException")]
)
def test_bad_recipient_addresses(
    sandbox: SandboxClient, sender: Any, code: str, address: str, text: str
) -> None:
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    assert error_of(sender, sandbox, [address])[:2] == (code, text)


@pytest.mark.parametrize(
    ("sender", "code", "status"),
    [(v1_send, "ConfigurationSetDoesNotExist", 400), (v2_send, "NotFoundException", 404)],
)
def test_missing_configuration_set(
    sandbox: SandboxClient, sender: Any, code: str, status: int
) -> None:
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    assert error_of(sender, sandbox, [SUCCESS], ConfigurationSetName="nope") == (
        code,
        "Configuration set <nope> does not exist.",
        status,
    )


@pytest.mark.parametrize(
    ("sender", "code"),
    [(v1_send, "AccountSendingPausedException"), (v2_send, "SendingPausedException")],
)
def test_account_sending_paused(sandbox: SandboxClient, sender: Any, code: str) -> None:
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    sandbox.sesv2.put_account_sending_attributes(SendingEnabled=False)
    assert sandbox.sesv2.get_account()["SendingEnabled"] is False
    assert error_of(sender, sandbox, [SUCCESS])[:2] == (code, "Sending paused for this account.")
    sandbox.ses.update_account_sending_enabled(Enabled=True)
    assert sender(sandbox, [SUCCESS])["MessageId"]


@pytest.mark.parametrize(
    ("sender", "code"),
    [(v1_send, "ConfigurationSetSendingPausedException"), (v2_send, "SendingPausedException")],
)
def test_configuration_set_paused(sandbox: SandboxClient, sender: Any, code: str) -> None:
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    sandbox.sesv2.create_configuration_set(ConfigurationSetName="paused")
    sandbox.sesv2.put_configuration_set_sending_options(
        ConfigurationSetName="paused", SendingEnabled=False
    )
    assert error_of(sender, sandbox, [SUCCESS], ConfigurationSetName="paused")[:2] == (
        code,
        "Sending paused for this configuration set.",
    )


def test_invalid_tag(sandbox: SandboxClient) -> None:
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    code, message, _ = error_of(
        v2_send, sandbox, [SUCCESS], EmailTags=[{"Name": "bad tag", "Value": "x"}]
    )
    assert code == "BadRequestException"
    assert "bad tag" in message


def test_unknown_v1_action(sandbox: SandboxClient) -> None:
    request = urllib.request.Request(
        sandbox.url,
        data=b"Action=NoSuchThing&Version=2010-12-01",
        method="POST",
        headers={
            "Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/ses/"
            "aws4_request, SignedHeaders=host, Signature=x",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 400
    with caught.value:
        body = caught.value.read().decode()
    assert "<Code>InvalidAction</Code>" in body
    assert "The action NoSuchThing is not valid for this web service." in body


def test_unknown_v2_route(sandbox: SandboxClient) -> None:
    request = urllib.request.Request(f"{sandbox.url}/v2/email/no-such-thing", method="GET")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    with caught.value:
        assert caught.value.code == 404
        assert caught.value.headers["x-amzn-ErrorType"] == "UnknownOperationException"


def test_suppression_list_writes_need_production(sandbox: SandboxClient) -> None:
    code, message, _ = error_of(
        sandbox.sesv2.put_suppressed_destination, EmailAddress="x@example.com", Reason="BOUNCE"
    )
    assert code == "BadRequestException"
    assert "sandbox" in message


def test_notification_topic_must_exist(sandbox: SandboxClient) -> None:
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    code, message, _ = error_of(
        sandbox.ses.set_identity_notification_topic,
        Identity=SENDER,
        NotificationType="Bounce",
        SnsTopic="arn:aws:sns:us-east-1:123456789012:missing",
    )
    assert code == "InvalidParameterValue"
    assert "arn:aws:sns:us-east-1:123456789012:missing" in message


def test_topic_policy_that_excludes_ses(sandbox: SandboxClient) -> None:
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    pipeline = sandbox.pipeline()
    sandbox.sns.set_topic_attributes(
        TopicArn=pipeline.topic_arn,
        AttributeName="Policy",
        AttributeValue='{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
        '"Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sns:Publish",'
        f'"Resource":"{pipeline.topic_arn}"}}]}}',
    )
    code, _, _ = error_of(
        sandbox.ses.set_identity_notification_topic,
        Identity=SENDER,
        NotificationType="Bounce",
        SnsTopic=pipeline.topic_arn,
    )
    assert code == "InvalidParameterValue"


def test_duplicate_configuration_set_and_identity(sandbox: SandboxClient) -> None:
    sandbox.sesv2.create_configuration_set(ConfigurationSetName="dup")
    assert error_of(sandbox.sesv2.create_configuration_set, ConfigurationSetName="dup")[0] == (
        "AlreadyExistsException"
    )
    assert (
        error_of(sandbox.ses.create_configuration_set, ConfigurationSet={"Name": "dup"})[0]
        == "ConfigurationSetAlreadyExists"
    )
    sandbox.sesv2.create_email_identity(EmailIdentity=SENDER)
    assert error_of(sandbox.sesv2.create_email_identity, EmailIdentity=SENDER)[0] == (
        "AlreadyExistsException"
    )


def test_errors_leave_nothing_behind(sandbox: SandboxClient) -> None:
    """A refused send produces no feedback and no mail."""
    pipeline = sandbox.pipeline()
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    sandbox.ses.set_identity_notification_topic(
        Identity=SENDER, NotificationType="Delivery", SnsTopic=pipeline.topic_arn
    )
    sandbox.feedback(pipeline.queue_url)
    error_of(v1_send, sandbox, [SUCCESS] * 51)
    assert sandbox.feedback(pipeline.queue_url) == []
    assert send(sandbox, "v2", [SUCCESS])
    assert len(sandbox.feedback(pipeline.queue_url)) == 1


def raw_request(
    sandbox: SandboxClient, method: str, path: str, body: bytes, content_type: str
) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(
        f"{sandbox.url}{path}",
        data=body,
        method=method,
        headers={
            "Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/ses/"
            "aws4_request, SignedHeaders=host, Signature=x",
            "Content-Type": content_type,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, dict(err.headers), err.read().decode()


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (
            b"Action=SendEmail&Version=2010-12-01&Source=a%40example.com",
            "must contain the parameter Destination",
        ),
        (
            b"Action=CreateConfigurationSetEventDestination&ConfigurationSetName=x"
            b"&EventDestination.Enabled=true",
            "EventDestination.Name",
        ),
        (b"Action=ListIdentities&MaxItems=lots", "InvalidParameterValue"),
        (b"Action=SendRawEmail&RawMessage.Data=%%%not-base64", "InvalidParameterValue"),
    ],
)
def test_malformed_v1_requests_are_refused_not_crashed(
    sandbox: SandboxClient, body: bytes, text: str
) -> None:
    status, _, answer = raw_request(sandbox, "POST", "/", body, "application/x-www-form-urlencoded")
    assert status == 400
    assert "<ErrorResponse" in answer
    assert text in answer


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (b"{not json", "Invalid request"),
        (b"[1, 2]", "JSON object"),
        (b'{"Content": {"Simple": {"Body": {}}}}', "Content.Simple.Subject"),
        (b'{"Content": "text", "FromEmailAddress": "a@example.com"}', "Content must be an object"),
        (b'{"Content": {"Raw": {"Data": "%%%"}}}', "Invalid request"),
    ],
)
def test_malformed_v2_requests_are_refused_not_crashed(
    sandbox: SandboxClient, body: bytes, text: str
) -> None:
    status, headers, answer = raw_request(
        sandbox, "POST", "/v2/email/outbound-emails", body, "application/json"
    )
    assert status == 400
    assert headers["x-amzn-ErrorType"] == "BadRequestException"
    assert text in json.loads(answer)["message"]
