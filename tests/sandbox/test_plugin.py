"""The pytest plugin and the typed client, as a test suite outside courrier uses them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from courrier_sandbox.client import RecipientRule, SandboxControl, SandboxControlError
from tests.conftest import SandboxClient

SENDER = "sender@example.com"
RECIPIENT = "rcpt@example.com"
BOUNCE = "bounce@simulator.amazonses.com"

#: A suite of its own: boto3 and the plugin's fixture, nothing of courrier.
SUITE = """
import sys

import boto3


def send(to):
    ses = boto3.client("sesv2")
    # In the SES sandbox, recipients outside the simulator must be verified too.
    for identity in ("sender@example.com", "rcpt@example.com"):
        ses.create_email_identity(EmailIdentity=identity)
    content = {"Simple": {"Subject": {"Data": "hi"}, "Body": {"Text": {"Data": "x"}}}}
    return ses.send_email(
        FromEmailAddress="sender@example.com", Destination={"ToAddresses": [to]}, Content=content
    )["MessageId"]


def test_a_delivery(ses_sandbox):
    message_id = send("rcpt@example.com")
    [letter] = ses_sandbox.mailbox()
    assert letter.recipient == "rcpt@example.com"
    assert letter.ses_message_id == message_id
    kinds = [e["kind"] for e in ses_sandbox.events(message_id=message_id)]
    assert kinds == ["Send", "Delivery"]


def test_a_bounce_and_each_test_starts_empty(ses_sandbox):
    assert ses_sandbox.mailbox() == []
    send("bounce@simulator.amazonses.com")
    [bounce] = ses_sandbox.events(kind="Bounce")
    assert bounce["body"]["bounceType"] == "Permanent"


def test_the_sandbox_sees_no_courrier():
    assert not [m for m in sys.modules if m == "courrier" or m.startswith("courrier.")]
"""


def test_the_plugin_serves_a_suite_that_does_not_import_courrier(tmp_path: Path) -> None:
    (tmp_path / "test_mail.py").write_text(SUITE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTEST_"))}
    env.pop("PYTHONPATH", None)
    # Set by this suite's Django tests when they ran first: the suite here has no Django.
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "3 passed" in result.stdout


def test_the_plugin_is_registered_by_its_entry_point() -> None:
    from importlib.metadata import entry_points

    found = [e for e in entry_points(group="pytest11") if e.name == "courrier_sandbox"]
    assert [e.value for e in found] == ["courrier_sandbox.pytest_plugin"]


def control_of(sandbox: SandboxClient) -> SandboxControl:
    return SandboxControl(sandbox.url, region="us-east-1")


def test_the_client_reads_the_mailbox_and_the_events(sandbox: SandboxClient) -> None:
    control = control_of(sandbox)
    for identity in (SENDER, RECIPIENT):
        sandbox.sesv2.create_email_identity(EmailIdentity=identity)
    content = {"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}}}
    sent = sandbox.sesv2.send_email(
        FromEmailAddress=SENDER, Destination={"ToAddresses": [RECIPIENT, BOUNCE]}, Content=content
    )["MessageId"]
    assert control.drain()
    letters = control.mailbox(kind="delivery")
    assert [letter.recipient for letter in letters] == [RECIPIENT]
    assert control.letter(letters[0].id)["subject"] == "s"
    kinds = sorted(e["kind"] for e in control.events(message_id=sent))
    assert kinds == ["Bounce", "Delivery", "Send"]
    assert control.events(kind="Bounce")[0]["destinations"] == [RECIPIENT, BOUNCE]
    control.clear_events()
    assert control.events() == []
    control.clear_mailbox()
    assert control.mailbox() == []


def test_the_client_changes_the_account_and_counts_throttles(sandbox: SandboxClient) -> None:
    control = control_of(sandbox)
    account = control.set_account(max_send_rate=5.0, production=True)
    assert account["max_send_rate"] == 5.0
    assert account["production"] is True
    throttles = control.throttles()
    assert (throttles.region, throttles.throttles) == ("us-east-1", 0)


def test_the_client_manages_recipient_rules(sandbox: SandboxClient) -> None:
    control = control_of(sandbox)
    control.add_recipient(RecipientRule(pattern="*@slow.example", outcome="delay"))
    assert [r["pattern"] for r in control.recipients()] == ["*@slow.example"]
    control.clear_recipients()
    assert control.recipients() == []


def test_the_client_raises_the_sandboxs_refusals(sandbox: SandboxClient) -> None:
    control = control_of(sandbox)
    with pytest.raises(SandboxControlError) as refused:
        control.set_account(max_send_rate="fast")
    assert refused.value.status == 400
    assert "max_send_rate must be a number" in refused.value.message
    with pytest.raises(SandboxControlError) as missing:
        control.verify_identity("nobody@example.com")
    assert missing.value.status == 404


def test_reset_forgets_the_events(sandbox: SandboxClient) -> None:
    control = control_of(sandbox)
    sandbox.sesv2.create_email_identity(EmailIdentity=SENDER)
    content = {"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}}}
    sandbox.sesv2.send_email(
        FromEmailAddress=SENDER, Destination={"ToAddresses": [BOUNCE]}, Content=content
    )
    assert control.drain()
    assert control.events()
    control.reset()
    assert control.events() == []
    assert control.health()
    assert not SandboxControl("http://127.0.0.1:9", timeout=1).health()
