"""Sending through the sandbox the four ways SES accepts mail, and the two feedback routes."""

from __future__ import annotations

import base64
import email.policy
import json
import urllib.error
from email.message import EmailMessage, Message
from email.parser import BytesParser
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import SENDER, Pipeline, SandboxClient

CONFIG_SET = "feedback-set"
ALL_EVENT_TYPES = [
    "SEND",
    "REJECT",
    "BOUNCE",
    "COMPLAINT",
    "DELIVERY",
    "DELIVERY_DELAY",
    "RENDERING_FAILURE",
]
APIS = ["v1", "v1-raw", "v2", "v2-raw"]


def raw_message(to: list[str], subject: str = "Hello", attachment: bytes | None = None) -> bytes:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Message-ID"] = "<original-id@app.example.com>"
    message.set_content("Body text")
    if attachment is not None:
        message.add_attachment(
            attachment, maintype="application", subtype="octet-stream", filename="test.bin"
        )
    return message.as_bytes()


def send(
    sandbox: SandboxClient,
    api: str,
    to: list[str],
    *,
    configuration_set: str | None = None,
    tags: dict[str, str] | None = None,
    attachment: bytes | None = None,
) -> str:
    """Send with one of :data:`APIS`; returns the SES message id."""
    extra: dict[str, Any] = {}
    if api.startswith("v1"):
        if configuration_set:
            extra["ConfigurationSetName"] = configuration_set
        if tags:
            extra["Tags"] = [{"Name": k, "Value": v} for k, v in tags.items()]
        if api == "v1" and attachment is None:
            response = sandbox.ses.send_email(
                Source=SENDER,
                Destination={"ToAddresses": to},
                Message={"Subject": {"Data": "Hello"}, "Body": {"Text": {"Data": "Body"}}},
                **extra,
            )
        else:
            response = sandbox.ses.send_raw_email(
                Source=SENDER,
                Destinations=to,
                RawMessage={"Data": raw_message(to, attachment=attachment)},
                **extra,
            )
        message_id: str = response["MessageId"]
        return message_id
    if configuration_set:
        extra["ConfigurationSetName"] = configuration_set
    if tags:
        extra["EmailTags"] = [{"Name": k, "Value": v} for k, v in tags.items()]
    if api == "v2" and attachment is None:
        content: dict[str, Any] = {
            "Simple": {"Subject": {"Data": "Hello"}, "Body": {"Text": {"Data": "Body"}}}
        }
    else:
        content = {"Raw": {"Data": raw_message(to, attachment=attachment)}}
    response = sandbox.sesv2.send_email(
        FromEmailAddress=SENDER, Destination={"ToAddresses": to}, Content=content, **extra
    )
    return str(response["MessageId"])


def notifications_route(
    sandbox: SandboxClient, pipeline: Pipeline, *, headers: bool = True, forwarding: bool = False
) -> None:
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    for kind in ("Bounce", "Complaint", "Delivery"):
        sandbox.ses.set_identity_notification_topic(
            Identity=SENDER, NotificationType=kind, SnsTopic=pipeline.topic_arn
        )
        sandbox.ses.set_identity_headers_in_notifications_enabled(
            Identity=SENDER, NotificationType=kind, Enabled=headers
        )
    sandbox.ses.set_identity_feedback_forwarding_enabled(
        Identity=SENDER, ForwardingEnabled=forwarding
    )


def events_route(
    sandbox: SandboxClient, pipeline: Pipeline, types: list[str] | None = None
) -> None:
    """``CONFIG_SET`` publishing ``types`` (by default every type but engagement) to SNS."""
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    sandbox.sesv2.create_configuration_set(ConfigurationSetName=CONFIG_SET)
    sandbox.sesv2.create_configuration_set_event_destination(
        ConfigurationSetName=CONFIG_SET,
        EventDestinationName="to-sns",
        EventDestination={
            "Enabled": True,
            "MatchingEventTypes": ALL_EVENT_TYPES if types is None else types,
            "SnsDestination": {"TopicArn": pipeline.topic_arn},
        },
    )
    sandbox.sesv2.put_email_identity_feedback_attributes(
        EmailIdentity=SENDER, EmailForwardingEnabled=False
    )


def quiet_events_route(
    sandbox: SandboxClient, types: list[str] | None = None, *, raw: bool = False
) -> Pipeline:
    """The events route, with its setup messages already read off the queue."""
    pipeline = sandbox.pipeline(raw=raw)
    events_route(sandbox, pipeline, types)
    sandbox.feedback(pipeline.queue_url)
    return pipeline


def letters(sandbox: SandboxClient, recipient: str, kind: str = "delivery") -> list[dict[str, Any]]:
    """The mailbox's letters for ``recipient``, in full, once feedback has drained."""
    sandbox.drain()
    found = sandbox.control("GET", f"/mailbox?recipient={recipient}&kind={kind}")["messages"]
    return [sandbox.control("GET", f"/mailbox/{letter['id']}") for letter in found]


def control_error(
    sandbox: SandboxClient, method: str, path: str, body: Any = None
) -> tuple[int, str]:
    """The status and message a ``/_courrier/`` page refuses a request with."""
    with pytest.raises(urllib.error.HTTPError) as caught:
        sandbox.control(method, path, body)
    with caught.value as response:
        return response.code, json.loads(response.read())["message"]


def kinds(payloads: list[dict[str, Any]]) -> list[str]:
    return sorted(p.get("eventType") or p["notificationType"] for p in payloads)


def only(payloads: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [p for p in payloads if (p.get("eventType") or p.get("notificationType")) == kind]


def error_of(call: Any, *args: Any, **kwargs: Any) -> tuple[str, str, int]:
    """The AWS error code, message and HTTP status that ``call`` is refused with."""
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    response = caught.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


def delivered_copy(sandbox: SandboxClient, recipient: str, message_id: str) -> Message:
    """The copy ``recipient`` received of the message SES accepted as ``message_id``."""
    sandbox.drain()
    letters = [
        letter
        for letter in sandbox.controls.mailbox(recipient, kind="delivery")
        if letter.ses_message_id == message_id
    ]
    assert len(letters) == 1, letters
    raw = base64.b64decode(sandbox.controls.letter(letters[0].id)["raw"])
    return BytesParser(policy=email.policy.compat32).parsebytes(raw)
