"""``courrier sandbox`` as a separate process: the AWS CLI against it, and ``--state``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from courrier_sandbox import wait_until_healthy
from tests.conftest import free_port
from tests.fakes import wait_until

AWS = Path(sys.executable).with_name("aws")


class Process:
    def __init__(self, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "courrier", "sandbox", "--port", str(self.port), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_until_healthy(self.url, timeout=30)
        except Exception:
            self.stop()
            raise

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, err
        return err


def mailbox_subjects(url: str, query: str) -> list[str]:
    """The subjects of the letters in the sandbox's mailbox that ``query`` selects."""
    with urllib.request.urlopen(f"{url}/_courrier/mailbox?{query}", timeout=10) as answer:
        return [m["subject"] for m in json.loads(answer.read())["messages"]]


@pytest.fixture
def process(tmp_path: Path) -> Iterator[Process]:
    running = Process("--state", str(tmp_path / "state.json"), "--max-send-rate", "50")
    yield running
    if running.proc.poll() is None:
        running.stop()


def aws(url: str, *args: str) -> Any:
    env = {**os.environ, "AWS_PAGER": ""}
    result = subprocess.run(
        [str(AWS), *args, "--endpoint-url", url, "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else None


def test_aws_cli_full_flow(process: Process, tmp_path: Path) -> None:
    url = process.url
    topic = aws(url, "sns", "create-topic", "--name", "cli-feedback")["TopicArn"]
    queue = aws(url, "sqs", "create-queue", "--queue-name", "cli-feedback")["QueueUrl"]
    queue_arn = aws(
        url, "sqs", "get-queue-attributes", "--queue-url", queue, "--attribute-names", "QueueArn"
    )["Attributes"]["QueueArn"]
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
    attributes = tmp_path / "attributes.json"
    attributes.write_text(json.dumps({"Policy": json.dumps(policy)}))
    aws(
        url,
        "sqs",
        "set-queue-attributes",
        "--queue-url",
        queue,
        "--attributes",
        f"file://{attributes}",
    )
    aws(
        url,
        "sns",
        "subscribe",
        "--topic-arn",
        topic,
        "--protocol",
        "sqs",
        "--notification-endpoint",
        queue_arn,
    )
    aws(url, "ses", "verify-email-identity", "--email-address", "sender@example.com")
    aws(
        url,
        "ses",
        "set-identity-notification-topic",
        "--identity",
        "sender@example.com",
        "--notification-type",
        "Bounce",
        "--sns-topic",
        topic,
    )
    sent = aws(
        url,
        "ses",
        "send-email",
        "--from",
        "sender@example.com",
        "--to",
        "bounce@simulator.amazonses.com",
        "--subject",
        "Hi",
        "--text",
        "Body",
    )
    bounce = None
    deadline = time.monotonic() + 20
    while bounce is None and time.monotonic() < deadline:
        received = (
            aws(
                url,
                "sqs",
                "receive-message",
                "--queue-url",
                queue,
                "--max-number-of-messages",
                "10",
                "--wait-time-seconds",
                "2",
            )
            or {}
        )
        for message in received.get("Messages", []):
            payload = json.loads(json.loads(message["Body"])["Message"])
            if payload.get("notificationType") == "Bounce":
                bounce = payload
    assert bounce is not None
    assert bounce["mail"]["messageId"] == sent["MessageId"]
    assert bounce["bounce"]["bounceType"] == "Permanent"
    v2 = aws(url, "sesv2", "get-account")
    assert v2["ProductionAccessEnabled"] is False


def test_state_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    first = Process("--state", str(state))
    try:
        kw: dict[str, Any] = {
            "endpoint_url": first.url,
            "region_name": "eu-west-1",
            "aws_access_key_id": "k",
            "aws_secret_access_key": "s",
        }
        ses = boto3.client("ses", **kw)
        sesv2 = boto3.client("sesv2", **kw)
        ses.verify_email_identity(EmailAddress="sender@example.com")
        ses.verify_email_identity(EmailAddress="friend@example.net")
        ses.verify_domain_identity(Domain="example.org")
        sesv2.create_configuration_set(ConfigurationSetName="kept")
        sesv2.create_email_template(
            TemplateName="kept", TemplateContent={"Subject": "Hi {{name}}", "Text": "x"}
        )
        sqs = boto3.client("sqs", **kw)
        sns = boto3.client("sns", **kw)
        dlq = sqs.create_queue(QueueName="kept-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        queue = sqs.create_queue(
            QueueName="kept",
            Attributes={
                "VisibilityTimeout": "45",
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3}),
            },
        )["QueueUrl"]
        topic = sns.create_topic(Name="kept")["TopicArn"]
        sns.subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=dlq_arn.replace("-dlq", ""),
            Attributes={"RawMessageDelivery": "true"},
        )
        sesv2.send_email(
            FromEmailAddress="sender@example.com",
            Destination={"ToAddresses": ["friend@example.net"]},
            Content={"Simple": {"Subject": {"Data": "Persisted"}, "Body": {"Text": {"Data": "x"}}}},
        )
        # Stopped once the mailbox holds the letter, so that the state saved on exit has it.
        wait_until(lambda: mailbox_subjects(first.url, "recipient=friend@example.net"))
    finally:
        first.stop()
    assert state.exists()

    second = Process("--state", str(state))
    try:
        kw["endpoint_url"] = second.url
        ses = boto3.client("ses", **kw)
        sesv2 = boto3.client("sesv2", **kw)
        assert sorted(ses.list_identities()["Identities"]) == [
            "example.org",
            "friend@example.net",
            "sender@example.com",
        ]
        assert sesv2.list_configuration_sets()["ConfigurationSets"] == ["kept"]
        kept = sesv2.get_email_template(TemplateName="kept")["TemplateContent"]
        assert kept == {"Subject": "Hi {{name}}", "Text": "x"}
        sqs = boto3.client("sqs", **kw)
        sns = boto3.client("sns", **kw)
        attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
        assert attributes["VisibilityTimeout"] == "45"
        assert json.loads(attributes["RedrivePolicy"])["maxReceiveCount"] == 3
        [subscription] = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        assert subscription["Endpoint"].endswith(":kept")
        assert (
            sns.get_subscription_attributes(SubscriptionArn=subscription["SubscriptionArn"])[
                "Attributes"
            ]["RawMessageDelivery"]
            == "true"
        )
        with urllib.request.urlopen(
            f"{second.url}/_courrier/mailbox?recipient=friend@example.net", timeout=10
        ) as response:
            letters = json.loads(response.read())["messages"]
        assert [letter["subject"] for letter in letters] == ["Persisted"]
    finally:
        second.stop()


def test_corrupt_state_is_a_clear_error(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text("{not json")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "courrier",
            "sandbox",
            "--port",
            str(free_port()),
            "--state",
            str(state),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "cannot read sandbox state" in result.stderr
    assert "Traceback" not in result.stderr


def test_aws_cli_template_and_bulk_flow(process: Process, tmp_path: Path) -> None:
    url = process.url
    template = tmp_path / "template.json"
    template.write_text(
        json.dumps(
            {
                "TemplateName": "welcome",
                "SubjectPart": "Welcome {{name}}",
                "TextPart": "Hello {{name}}{{#if plan}}, on the {{plan}} plan{{/if}}.",
            }
        )
    )
    aws(url, "ses", "create-template", "--template", f"file://{template}")
    rendered = aws(
        url,
        "ses",
        "test-render-template",
        "--template-name",
        "welcome",
        "--template-data",
        '{"name": "Ann", "plan": "pro"}',
    )["RenderedTemplate"]
    assert "Subject: Welcome Ann" in rendered
    for address in ("sender@example.com", "ann@example.net", "bob@example.net"):
        aws(url, "ses", "verify-email-identity", "--email-address", address)
    destinations = tmp_path / "destinations.json"
    destinations.write_text(
        json.dumps(
            [
                {
                    "Destination": {"ToAddresses": ["ann@example.net"]},
                    "ReplacementTemplateData": '{"name": "Ann", "plan": "pro"}',
                },
                {"Destination": {"ToAddresses": ["bounce@simulator.amazonses.com"]}},
            ]
        )
    )
    v1 = aws(
        url,
        "ses",
        "send-bulk-templated-email",
        "--source",
        "sender@example.com",
        "--template",
        "welcome",
        "--default-template-data",
        '{"name": "friend"}',
        "--destinations",
        f"file://{destinations}",
    )
    assert [s["Status"] for s in v1["Status"]] == ["Success", "Success"]
    request = tmp_path / "bulk.json"
    request.write_text(
        json.dumps(
            {
                "FromEmailAddress": "sender@example.com",
                "DefaultContent": {
                    "Template": {"TemplateName": "welcome", "TemplateData": '{"name": "you"}'}
                },
                "BulkEmailEntries": [
                    {
                        "Destination": {"ToAddresses": ["bob@example.net"]},
                        "ReplacementEmailContent": {
                            "ReplacementTemplate": {"ReplacementTemplateData": '{"name": "Bob"}'}
                        },
                    },
                    {"Destination": {"ToAddresses": ["nobody@example.org"]}},
                ],
            }
        )
    )
    v2 = aws(url, "sesv2", "send-bulk-email", "--cli-input-json", f"file://{request}")
    assert [r["Status"] for r in v2["BulkEmailEntryResults"]] == ["SUCCESS", "MESSAGE_REJECTED"]
    wait_until(lambda: len(mailbox_subjects(url, "kind=delivery")) >= 2, timeout=20)
    subjects = sorted(mailbox_subjects(url, "kind=delivery"))
    assert subjects == ["Welcome Ann", "Welcome Bob"]
