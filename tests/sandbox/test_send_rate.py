"""The send rate admits short bursts and throttles a sustained rate over it
(docs/ses.md#sending-at-volume)."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from courrier_sandbox import Sandbox
from tests.conftest import REGION, SENDER, SandboxClient, boto3_client

SIMULATOR = [
    "success@simulator.amazonses.com",
    "bounce@simulator.amazonses.com",
    "ooto@simulator.amazonses.com",
    "complaint@simulator.amazonses.com",
    "suppressionlist@simulator.amazonses.com",
    "success+again@simulator.amazonses.com",
]


def test_a_tutorial_script_sends_six_messages_against_a_default_sandbox() -> None:
    """A plain boto3 script, default retries, the SES sandbox's 1 message per second."""
    with Sandbox() as url:
        ses = boto3.client("ses", endpoint_url=url, region_name=REGION)
        assert ses.get_send_quota()["MaxSendRate"] == 1.0
        ses.verify_email_identity(EmailAddress=SENDER)
        ids = []
        for address in SIMULATOR:
            response = ses.send_email(
                Source=SENDER,
                Destination={"ToAddresses": [address]},
                Message={"Subject": {"Data": "Hello"}, "Body": {"Text": {"Data": "Hi"}}},
            )
            ids.append(response["MessageId"])
        assert len(set(ids)) == 6


def strict_client(sandbox: SandboxClient, service: str) -> Any:
    return boto3_client(
        service,
        endpoint_url=sandbox.url,
        region_name=REGION,
        config=Config(retries={"total_max_attempts": 1}),
    )


@pytest.mark.parametrize("api", ["ses", "sesv2"])
def test_a_sustained_loop_at_twice_the_rate_is_throttled(sandbox: SandboxClient, api: str) -> None:
    rate = 20.0
    sandbox.set_account(max_send_rate=rate)  # default burst: 40 messages
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    client = strict_client(sandbox, api)
    accepted = throttled = 0
    started = time.monotonic()
    first_refusal = None
    messages: set[str] = set()
    while (elapsed := time.monotonic() - started) < 3.0:
        try:
            if api == "ses":
                client.send_email(
                    Source=SENDER,
                    Destination={"ToAddresses": [SIMULATOR[0]]},
                    Message={"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}},
                )
            else:
                client.send_email(
                    FromEmailAddress=SENDER,
                    Destination={"ToAddresses": [SIMULATOR[0]]},
                    Content={"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}}},
                )
            accepted += 1
        except ClientError as err:
            messages.add(err.response["Error"]["Message"])
            throttled += 1
            first_refusal = first_refusal or elapsed
        # Twice the rate, paced on the clock.
        time.sleep(max(0.0, started + (accepted + throttled) / (2 * rate) - time.monotonic()))
    total = time.monotonic() - started
    assert throttled > 0
    assert messages == {"Maximum sending rate exceeded."}
    # The burst lasts about burst / (2 * rate - rate) = 2 s, never less than one second.
    assert first_refusal is not None
    assert first_refusal >= 1.0
    # Over the whole loop, no more than the bucket plus the rate got through.
    assert accepted <= 40 + rate * total + 1


def test_a_full_bucket_takes_one_message_with_more_recipients(sandbox: SandboxClient) -> None:
    sandbox.set_account(max_send_rate=1.0, max_send_burst=10.0)
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    ses = strict_client(sandbox, "ses")
    message = {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}}
    ses.send_email(Source=SENDER, Destination={"ToAddresses": SIMULATOR * 5}, Message=message)
    with pytest.raises(ClientError) as caught:
        ses.send_email(Source=SENDER, Destination={"ToAddresses": SIMULATOR[:1]}, Message=message)
    assert caught.value.response["Error"]["Code"] == "Throttling"


def test_burst_size_is_reported_and_configurable(sandbox: SandboxClient) -> None:
    assert sandbox.control("POST", "/account", {"max_send_rate": 1.0})["max_send_burst"] is None
    assert sandbox.control("POST", "/account", {"max_send_burst": 3})["max_send_burst"] == 3.0


def test_throttles_are_counted_until_reset(sandbox: SandboxClient) -> None:
    assert sandbox.control("GET", "/throttles")["throttles"] == 0
    sandbox.set_account(max_send_rate=1.0, max_send_burst=2.0)
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    ses = strict_client(sandbox, "ses")
    message = {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}}
    refused = 0
    for _ in range(5):
        try:
            ses.send_email(
                Source=SENDER, Destination={"ToAddresses": SIMULATOR[:1]}, Message=message
            )
        except ClientError:
            refused += 1
    assert refused >= 2
    assert sandbox.control("GET", "/throttles") == {
        "account": "123456789012",
        "region": REGION,
        "throttles": refused,
        "bulk_calls": 0,
    }
    assert sandbox.control("GET", "/throttles?region=eu-west-1")["throttles"] == 0
    sandbox.control("POST", "/reset")
    assert sandbox.control("GET", "/throttles")["throttles"] == 0
