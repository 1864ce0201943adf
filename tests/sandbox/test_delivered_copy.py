"""What SES changes in a message before a recipient gets it, and what it refuses in one."""

from __future__ import annotations

import email.policy
import email.utils
import re
import time
from email.message import EmailMessage, Message
from typing import Any

import pytest

from courrier_sandbox.simulation.mail import decoded_header
from tests.conftest import SENDER, SandboxClient, boto3_client
from tests.sandbox.helpers import delivered_copy, error_of

RECIPIENT = "rcpt@example.com"
SES_HEADERS = {
    "X-SES-CONFIGURATION-SET": "headers-set",
    "X-SES-MESSAGE-TAGS": "campaign=spring",
    "X-SES-SOURCE-ARN": "arn:aws:ses:us-east-1:123456789012:identity/example.com",
    "X-SES-FROM-ARN": "arn:aws:ses:us-east-1:123456789012:identity/example.com",
    "X-SES-RETURN-PATH-ARN": "arn:aws:ses:us-east-1:123456789012:identity/example.com",
    "X-SES-LIST-MANAGEMENT-OPTIONS": "a-list; topic=news",
}


def ready(sandbox: SandboxClient) -> None:
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    sandbox.ses.verify_email_identity(EmailAddress=RECIPIENT)


def raw_message(headers: dict[str, str] | None = None) -> bytes:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = RECIPIENT
    message["Subject"] = "Hello"
    message["Date"] = "Tue, 01 Jan 2019 00:00:00 +0000"
    message["Message-ID"] = "<original-id@app.example.com>"
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content("Body text")
    return message.as_bytes(policy=email.policy.SMTP)


def delivered(sandbox: SandboxClient, message_id: str) -> Message:
    return delivered_copy(sandbox, RECIPIENT, message_id)


def send_raw(sandbox: SandboxClient, api: str, raw: bytes) -> str:
    if api == "v1":
        answer: dict[str, Any] = sandbox.ses.send_raw_email(RawMessage={"Data": raw})
    else:
        answer = sandbox.sesv2.send_email(Content={"Raw": {"Data": raw}})
    return str(answer["MessageId"])


# ------------------------------------------------------------------ X-SES-* headers


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_ses_headers_are_removed_from_the_delivered_copy(sandbox: SandboxClient, api: str) -> None:
    ready(sandbox)
    sandbox.sesv2.create_configuration_set(ConfigurationSetName="headers-set")
    message_id = send_raw(sandbox, api, raw_message(SES_HEADERS))
    copy = delivered(sandbox, message_id)
    assert [name for name in copy if name.lower().startswith("x-ses-")] == []
    assert copy["Subject"] == "Hello"


# ------------------------------------------------------------- Date and Message-ID


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_date_and_message_id_of_a_raw_message_are_replaced_by_ses(
    sandbox: SandboxClient, api: str
) -> None:
    ready(sandbox)
    before = time.time()
    message_id = send_raw(sandbox, api, raw_message())
    copy = delivered(sandbox, message_id)
    assert copy.get_all("Message-ID") == [f"<{message_id}@email.amazonses.com>"]
    dates = copy.get_all("Date") or []
    assert len(dates) == 1
    sent_at = email.utils.parsedate_to_datetime(dates[0]).timestamp()
    assert before - 1 <= sent_at <= time.time() + 1


def test_a_simple_message_gets_a_date_and_a_message_id(sandbox: SandboxClient) -> None:
    ready(sandbox)
    answer = sandbox.sesv2.send_email(
        FromEmailAddress=SENDER,
        Destination={"ToAddresses": [RECIPIENT]},
        Content={"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}}},
    )
    copy = delivered(sandbox, answer["MessageId"])
    assert copy["Message-ID"] == f"<{answer['MessageId']}@email.amazonses.com>"
    assert re.fullmatch(r"\w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d \+0000", copy["Date"])


def test_the_message_id_names_the_region_outside_us_east_1(sandbox: SandboxClient) -> None:
    eu = boto3_client(
        "ses",
        endpoint_url=sandbox.url,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    eu.verify_email_identity(EmailAddress=SENDER)
    eu.verify_email_identity(EmailAddress=RECIPIENT)
    message_id = eu.send_raw_email(RawMessage={"Data": raw_message()})["MessageId"]
    copy = delivered(sandbox, message_id)
    assert copy["Message-ID"] == f"<{message_id}@eu-west-1.amazonses.com>"


# ------------------------------------------------------------ attachments, charsets

PDF = b"%PDF-1.4 not really"
LOGO = b"\x89PNG\r\n\x1a\n not really"
ATTACHMENTS = [
    {
        "RawContent": PDF,
        "FileName": "invoice.pdf",
        "ContentDescription": "Your invoice",
    },
    {
        "RawContent": LOGO,
        "FileName": "logo.png",
        "ContentDisposition": "INLINE",
        "ContentId": "logo",
        "ContentType": "image/png",
    },
]


Found = tuple[str, str | None, str | None, str | None, bytes]


def attachments(copy: Message) -> list[Found]:
    """Each attachment's type, disposition, file name, Content-ID and content."""
    found: list[Found] = []
    for part in copy.walk():
        disposition = part.get_content_disposition()
        if disposition is None:
            continue
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        content_id = part["Content-ID"]
        found.append(
            (
                part.get_content_type(),
                disposition,
                part.get_filename(),
                None if content_id is None else str(content_id),
                payload,
            )
        )
    return found


EXPECTED_ATTACHMENTS = [
    ("application/pdf", "attachment", "invoice.pdf", None, PDF),
    ("image/png", "inline", "logo.png", "<logo>", LOGO),
]


def test_simple_attachments_are_in_the_delivered_copy(sandbox: SandboxClient) -> None:
    ready(sandbox)
    answer = sandbox.sesv2.send_email(
        FromEmailAddress=SENDER,
        Destination={"ToAddresses": [RECIPIENT]},
        Content={
            "Simple": {
                "Subject": {"Data": "Invoice"},
                "Body": {
                    "Text": {"Data": "See attached."},
                    "Html": {"Data": '<p>See attached.</p><img src="cid:logo">'},
                },
                "Attachments": ATTACHMENTS,
            }
        },
    )
    copy = delivered(sandbox, answer["MessageId"])
    assert copy.get_content_type() == "multipart/mixed"
    assert attachments(copy) == EXPECTED_ATTACHMENTS
    descriptions = [str(p["Content-Description"]) for p in copy.walk() if p["Content-Description"]]
    assert descriptions == ["Your invoice"]
    bodies = [p.get_content_type() for p in copy.walk() if p.get_content_maintype() == "text"]
    assert bodies == ["text/plain", "text/html"]


def test_template_attachments_are_in_the_delivered_copy(sandbox: SandboxClient) -> None:
    ready(sandbox)
    answer = sandbox.sesv2.send_email(
        FromEmailAddress=SENDER,
        Destination={"ToAddresses": [RECIPIENT]},
        Content={
            "Template": {
                "TemplateContent": {"Subject": "Hi {{name}}", "Text": "Hello {{name}}"},
                "TemplateData": '{"name": "Ada"}',
                "Attachments": ATTACHMENTS,
            }
        },
    )
    copy = delivered(sandbox, answer["MessageId"])
    assert attachments(copy) == EXPECTED_ATTACHMENTS


def test_bulk_template_attachments_are_in_each_copy(sandbox: SandboxClient) -> None:
    ready(sandbox)
    answer = sandbox.sesv2.send_bulk_email(
        FromEmailAddress=SENDER,
        DefaultContent={
            "Template": {
                "TemplateContent": {"Subject": "Hi", "Text": "Hello"},
                "TemplateData": "{}",
                "Attachments": ATTACHMENTS,
            }
        },
        BulkEmailEntries=[{"Destination": {"ToAddresses": [RECIPIENT]}}],
    )
    [entry] = answer["BulkEmailEntryResults"]
    assert attachments(delivered(sandbox, entry["MessageId"])) == EXPECTED_ATTACHMENTS


def test_an_attachment_that_would_add_a_header_is_refused(sandbox: SandboxClient) -> None:
    ready(sandbox)
    code, message, _ = error_of(
        sandbox.sesv2.send_email,
        FromEmailAddress=SENDER,
        Destination={"ToAddresses": [RECIPIENT]},
        Content={
            "Simple": {
                "Subject": {"Data": "s"},
                "Body": {"Text": {"Data": "b"}},
                "Attachments": [
                    {"RawContent": PDF, "FileName": "a.pdf", "ContentDescription": "a\r\nBcc: x"}
                ],
            }
        },
    )
    assert code == "BadRequestException"
    assert message.startswith("Cannot build the message: ")


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_the_charset_of_subject_and_body_is_used(sandbox: SandboxClient, api: str) -> None:
    ready(sandbox)
    charset = "ISO-8859-1"
    message = {
        "Subject": {"Data": "Café crème", "Charset": charset},
        "Body": {
            "Text": {"Data": "Un café ?", "Charset": charset},
            "Html": {"Data": "<p>Un café ?</p>", "Charset": charset},
        },
    }
    destination = {"ToAddresses": [RECIPIENT]}
    if api == "v1":
        answer = sandbox.ses.send_email(Source=SENDER, Destination=destination, Message=message)
    else:
        answer = sandbox.sesv2.send_email(
            FromEmailAddress=SENDER, Destination=destination, Content={"Simple": message}
        )
    copy = delivered(sandbox, answer["MessageId"])
    assert str(copy["Subject"]).lower().startswith("=?iso-8859-1?")
    assert decoded_header(copy["Subject"]) == "Café crème"
    texts = [p for p in copy.walk() if p.get_content_maintype() == "text"]
    assert [p.get_content_charset() for p in texts] == ["iso-8859-1", "iso-8859-1"]
    payload = texts[0].get_payload(decode=True)
    assert isinstance(payload, bytes)
    assert payload.decode(charset).strip() == "Un café ?"


def test_an_unknown_charset_is_refused(sandbox: SandboxClient) -> None:
    ready(sandbox)
    code, _, _ = error_of(
        sandbox.ses.send_email,
        Source=SENDER,
        Destination={"ToAddresses": [RECIPIENT]},
        Message={"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b", "Charset": "no-such"}}},
    )
    assert code == "InvalidParameterValue"
