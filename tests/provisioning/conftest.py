"""Provisioning against the sandbox, and AWS refusing chosen calls."""

from __future__ import annotations

from typing import Any

import pytest

from courrier.errors import AwsError
from courrier.provisioning import Aws, DoctorTarget
from courrier.provisioning.setup import SetupReport
from tests.conftest import SandboxClient

IDENTITY = "sender@example.com"


def target(report: SetupReport) -> DoctorTarget:
    """What doctor checks for the pipeline setup made (as the CLI reads it from the file)."""
    assert report.queue_url is not None
    return DoctorTarget(
        IDENTITY, report.resources.topic_arn, report.queue_url, report.resources.configuration_set
    )


@pytest.fixture
def aws(sandbox: SandboxClient, monkeypatch: pytest.MonkeyPatch) -> Aws:
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.url)
    return Aws()


class Refusing(Aws):
    """The sandbox, except that AWS answers AccessDenied to the operations in ``refused``."""

    def __init__(self, *refused: str) -> None:
        super().__init__()
        self.refused = set(refused)
        self.calls: list[str] = []

    def call(self, service: str, operation: str, **params: Any) -> dict[str, Any]:
        self.calls.append(operation)
        if operation in self.refused:
            raise AwsError(
                f"{operation}: AccessDenied: not allowed",
                code="AccessDenied",
                aws_message="not allowed",
                operation=operation,
                status=403,
            )
        return super().call(service, operation, **params)


@pytest.fixture
def refusing(sandbox: SandboxClient, monkeypatch: pytest.MonkeyPatch) -> type[Refusing]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.url)
    return Refusing
