"""The sandbox's GetAccount EnforcementStatus, set through its control endpoint."""

from __future__ import annotations

import urllib.error

import pytest

from tests.conftest import SandboxClient


def test_enforcement_status_is_reported_and_checked(sandbox: SandboxClient) -> None:
    assert sandbox.sesv2.get_account()["EnforcementStatus"] == "HEALTHY"
    sandbox.set_account(enforcement_status="PROBATION")
    assert sandbox.sesv2.get_account()["EnforcementStatus"] == "PROBATION"
    with pytest.raises(urllib.error.HTTPError) as refused:
        sandbox.set_account(enforcement_status="FINE")
    assert refused.value.code == 400
    refused.value.close()  # the error holds the connection open
    assert sandbox.sesv2.get_account()["EnforcementStatus"] == "PROBATION"
