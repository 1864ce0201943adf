"""Dashboard tests reach the sandbox through boto3's standard chain."""

from __future__ import annotations

import pytest

from tests.conftest import SandboxClient


@pytest.fixture
def env(sandbox: SandboxClient, monkeypatch: pytest.MonkeyPatch) -> SandboxClient:
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.url)
    return sandbox
