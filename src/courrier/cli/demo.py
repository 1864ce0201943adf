"""``courrier demo``: the whole SES -> SNS -> SQS loop, offline, in a few seconds."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import click
from rich.console import Console
from rich.table import Table

SENDER = "demo@courrier.example"
CASES = ("success", "bounce", "ooto", "complaint", "suppressionlist")


@click.command()
@click.option("--timeout", default=30.0, show_default=True, help="Seconds to wait for feedback.")
def demo(timeout: float) -> None:
    """Start the sandbox, wire SES to a queue, send to each simulator address, show the feedback.

    Exits 0 only when every simulator case produced the outcome AWS documents.
    """
    import boto3

    from courrier.sandbox import Sandbox, SesOptions

    console = Console()
    with Sandbox(options=SesOptions(max_send_rate=50)) as url:
        console.print(f"sandbox running at {url}")
        clients: dict[str, Any] = {
            name: boto3.client(
                name,
                endpoint_url=url,
                region_name="us-east-1",
                aws_access_key_id="demo",
                aws_secret_access_key="demo",
            )
            for name in ("sesv2", "sns", "sqs")
        }
        queue_url = _pipeline(clients)
        sent = {}
        for case in CASES:
            response = clients["sesv2"].send_email(
                FromEmailAddress=SENDER,
                Destination={"ToAddresses": [f"{case}@simulator.amazonses.com"]},
                Content={
                    "Simple": {
                        "Subject": {"Data": f"demo: {case}"},
                        "Body": {"Text": {"Data": "Hello from courrier."}},
                    }
                },
                ConfigurationSetName="demo",
            )
            sent[response["MessageId"]] = case
        seen = _collect(clients["sqs"], queue_url, sent, timeout)

    table = Table(title="Feedback from the SES mailbox simulator")
    for column in ("recipient", "SES message id", "events", "expected", "ok"):
        table.add_column(column)
    failures = 0
    for message_id, case in sent.items():
        events = seen.get(message_id, [])
        ok = sorted(events) == sorted(EXPECTED[case])
        failures += not ok
        table.add_row(
            f"{case}@simulator.amazonses.com",
            message_id[:24] + "...",
            ", ".join(events),
            ", ".join(EXPECTED[case]),
            "yes" if ok else "NO",
        )
    console.print(table)
    if failures:
        raise click.ClickException(f"{failures} case(s) did not produce the documented outcome")


EXPECTED = {
    "success": ["Send", "Delivery"],
    "bounce": ["Send", "Bounce:Permanent/General"],
    "ooto": ["Send", "Delivery", "Bounce:Transient/General"],
    "complaint": ["Send", "Delivery", "Complaint:abuse"],
    "suppressionlist": ["Send", "Bounce:Permanent/Suppressed"],
}


def _pipeline(clients: dict[str, Any]) -> str:
    name = f"courrier-demo-{uuid.uuid4().hex[:6]}"
    topic = clients["sns"].create_topic(Name=name)["TopicArn"]
    queue = clients["sqs"].create_queue(QueueName=name)["QueueUrl"]
    queue_arn = clients["sqs"].get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic}},
            }
        ],
    }
    clients["sqs"].set_queue_attributes(QueueUrl=queue, Attributes={"Policy": json.dumps(policy)})
    clients["sns"].subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    ses = clients["sesv2"]
    ses.create_email_identity(EmailIdentity=SENDER)
    ses.create_configuration_set(ConfigurationSetName="demo")
    ses.create_configuration_set_event_destination(
        ConfigurationSetName="demo",
        EventDestinationName="sns",
        EventDestination={
            "Enabled": True,
            "SnsDestination": {"TopicArn": topic},
            "MatchingEventTypes": ["SEND", "DELIVERY", "BOUNCE", "COMPLAINT"],
        },
    )
    ses.put_email_identity_feedback_attributes(EmailIdentity=SENDER, EmailForwardingEnabled=False)
    return str(queue)


def _collect(
    sqs: Any, queue_url: str, sent: dict[str, str], timeout: float
) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    expected_total = sum(len(EXPECTED[case]) for case in sent.values())
    deadline = time.monotonic() + timeout
    while sum(map(len, seen.values())) < expected_total and time.monotonic() < deadline:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", [])
        for message in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            text = json.loads(message["Body"])["Message"]
            if not text.startswith("{"):
                continue
            payload = json.loads(text)
            kind = payload.get("eventType")
            if kind == "Bounce":
                kind += f":{payload['bounce']['bounceType']}/{payload['bounce']['bounceSubType']}"
            elif kind == "Complaint":
                kind += f":{payload['complaint'].get('complaintFeedbackType')}"
            message_id = payload.get("mail", {}).get("messageId")
            if message_id in sent and kind:
                seen.setdefault(message_id, []).append(kind)
    return seen
