"""The pytest plugin of courrier-sandbox (entry point ``pytest11``): SES, SNS and SQS for tests.

Installed with ``courrier-sandbox``, it gives any test suite (boto3, Django's SMTP or SES
backends, anything that reads ``AWS_ENDPOINT_URL``) the fixture ``ses_sandbox``::

    def test_welcome_mail(ses_sandbox):
        boto3.client("sesv2").send_email(...)   # goes to the sandbox
        ses_sandbox.drain()
        assert ses_sandbox.mailbox()[0].recipient == "success@simulator.amazonses.com"
        assert [e["kind"] for e in ses_sandbox.events()] == ["Send", "Delivery"]

One sandbox runs in-process for the whole session (moto keeps SNS and SQS per process);
each test gets it reset, and AWS's endpoint, region and dummy credentials set in its
environment. The fixture names are ``ses_sandbox*`` so that they clash with no suite's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from courrier_sandbox.client import Letter, SandboxControl, TenantReputation

if TYPE_CHECKING:
    from courrier_sandbox import Sandbox

#: The region the fixture sets; the sandbox serves any.
REGION = "us-east-1"


@dataclass
class SesSandbox:
    """The sandbox as a test sees it: its URL, its region, and what to assert on."""

    url: str
    region: str
    control: SandboxControl

    def mailbox(self, recipient: str | None = None, kind: str | None = None) -> list[Letter]:
        """What arrived so far, after the feedback of every send so far is published."""
        self.drain()
        return self.control.mailbox(recipient, kind)

    def events(
        self, kind: str | None = None, message_id: str | None = None
    ) -> list[dict[str, Any]]:
        """What SES recorded for each send so far (Send, Delivery, Bounce, Complaint, ...),
        oldest first, whether or not a topic was set up to receive it."""
        self.drain()
        return self.control.events(kind=kind, message_id=message_id)

    def tenant(self, name: str) -> TenantReputation:
        """A tenant's reputation entity as the sandbox judges it once the feedback of every
        send so far is counted: its aggregate, customer- and AWS-managed statuses, its open
        finding, and the recipients, bounces and complaints behind it."""
        return self.control.tenant(name)

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until the feedback of every send so far is published."""
        if not self.control.drain(timeout):
            raise AssertionError(f"the sandbox's feedback did not drain in {timeout} s")


@pytest.fixture(scope="session")
def ses_sandbox_server() -> Iterator[Sandbox]:
    """The in-process sandbox of the session (the first test that asks starts it)."""
    from courrier_sandbox import Sandbox, SesOptions, SimulatorOptions

    # Feedback in 10 ms rather than SES's seconds: tests wait for it with drain().
    server = Sandbox(options=SesOptions(simulator=SimulatorOptions(delay=0.01)))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def ses_sandbox(ses_sandbox_server: Sandbox, monkeypatch: pytest.MonkeyPatch) -> SesSandbox:
    """The session's sandbox, reset, with ``AWS_ENDPOINT_URL``, ``AWS_DEFAULT_REGION`` and
    dummy credentials set for this test: boto3 clients created in it reach the sandbox."""
    control = SandboxControl(ses_sandbox_server.url, region=REGION)
    control.reset()
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", ses_sandbox_server.url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return SesSandbox(url=ses_sandbox_server.url, region=REGION, control=control)
