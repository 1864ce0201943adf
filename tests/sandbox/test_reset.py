"""``POST /moto-api/reset``, the hook moto-based suites call between tests, clears everything."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest

from courrier_sandbox import Sandbox
from tests.conftest import SENDER, SandboxClient

FRIEND = "friend@example.net"


def moto_reset(url: str) -> dict[str, str]:
    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        answer: dict[str, str] = json.loads(response.read())
        return answer


@pytest.fixture
def moto_style(sandbox_server: Sandbox) -> Iterator[SandboxClient]:
    """What a moto-based suite does: reset through moto's own page before each test."""
    assert moto_reset(sandbox_server.url) == {"status": "ok"}
    client = SandboxClient(sandbox_server)
    client.set_account(max_send_rate=1000.0)
    yield client
    sandbox_server.drain()


def dirty_everything(sandbox: SandboxClient) -> None:
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    sandbox.ses.verify_email_identity(EmailAddress=FRIEND)
    sandbox.sesv2.create_configuration_set(ConfigurationSetName="left-behind")
    sandbox.sesv2.create_email_template(
        TemplateName="left-behind", TemplateContent={"Subject": "x", "Text": "x"}
    )
    sandbox.sns.create_topic(Name="left-behind")
    sandbox.sqs.create_queue(QueueName="left-behind")
    sandbox.sesv2.send_email(
        FromEmailAddress=SENDER,
        Destination={"ToAddresses": [FRIEND]},
        Content={"Simple": {"Subject": {"Data": "x"}, "Body": {"Text": {"Data": "x"}}}},
    )
    sandbox.drain()


def assert_clean(sandbox: SandboxClient) -> None:
    assert sandbox.ses.list_identities()["Identities"] == []
    assert sandbox.sesv2.list_email_identities()["EmailIdentities"] == []
    assert sandbox.sesv2.list_configuration_sets()["ConfigurationSets"] == []
    assert sandbox.ses.list_templates()["TemplatesMetadata"] == []
    assert sandbox.control("GET", "/mailbox")["messages"] == []
    assert sandbox.sns.list_topics()["Topics"] == []
    assert sandbox.sqs.list_queues().get("QueueUrls", []) == []


@pytest.mark.parametrize("round_", [1, 2])
def test_each_test_starts_clean(moto_style: SandboxClient, round_: int) -> None:
    assert_clean(moto_style)
    dirty_everything(moto_style)


def test_reset_in_the_middle_of_a_test(moto_style: SandboxClient) -> None:
    dirty_everything(moto_style)
    assert moto_style.control("GET", "/mailbox")["messages"]
    moto_reset(moto_style.url)
    assert_clean(moto_style)


def test_courrier_reset_page_does_the_same(moto_style: SandboxClient) -> None:
    dirty_everything(moto_style)
    assert moto_style.control("POST", "/reset") == {"reset": True}
    assert_clean(moto_style)
