"""Pacing: a sliding one-second window in recipients, shared per SES endpoint and region."""

from __future__ import annotations

import pytest

from courrier.aws.ses import SesClient
from courrier.sending import Mailer
from courrier.sending.pacing import Pacer, pacer_for
from courrier.settings import SendRateScope, Settings
from courrier.store import Store
from tests.conftest import SandboxClient
from tests.fakes import FakeClock


def test_window_counts_recipients() -> None:
    clock = FakeClock(100.0)
    pacer = Pacer(5, margin=0.0, clock=clock, sleep=clock.sleep)
    assert pacer.acquire(3) == 0
    assert pacer.acquire(2) == 0
    waited = pacer.acquire(1)
    assert waited == pytest.approx(1.0)
    assert clock.now == pytest.approx(101.0)


def test_large_message_waits_for_an_empty_window() -> None:
    clock = FakeClock(100.0)
    pacer = Pacer(2, margin=0.0, clock=clock, sleep=clock.sleep)
    pacer.acquire(1)
    assert pacer.acquire(10) == pytest.approx(1.0)  # alone, never refused for its size
    assert pacer.acquire(1) == pytest.approx(1.0)


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Pacer(0)
    with pytest.raises(ValueError, match="positive"):
        Pacer(1).set_rate(-1)


def test_process_scope_mailers_of_one_endpoint_share_one_pacer_read_from_ses(
    sandbox: SandboxClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.url)
    # A region no other test uses, so that the process-wide pacer is created here.
    region = f"ap-southeast-{2 if 'sqlite' in str(store.engine.url) else 1}"
    sandbox.control("POST", f"/account?region={region}", {"max_send_rate": 7.0})
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    settings = Settings(send_rate_scope=SendRateScope.PROCESS)
    first = Mailer(store, SesClient(), settings=settings)
    second = Mailer(store, SesClient(), settings=settings)
    assert first.pacer is second.pacer
    assert first.pacer is pacer_for(sandbox.url, region, lambda: 0.0)
    assert isinstance(first.pacer, Pacer)
    assert first.pacer.rate == 7.0
