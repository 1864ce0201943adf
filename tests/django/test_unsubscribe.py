"""One-click unsubscribe in a Django project: bulk mail carries the link, the view records
the unsubscribe and sends the ``unsubscribed`` signal, the next bulk mail skips them."""

from __future__ import annotations

import base64
import email.policy
import logging
from email.parser import BytesParser
from typing import Any

import pytest
from django.core import checks
from django.core.checks import run_checks
from django.core.mail import EmailMessage
from django.test import Client
from django.urls import path as route
from pytest_django import Settings

from courrier.django import signals
from courrier.django.views import sns_feedback
from courrier.statuses import MessageStatus
from courrier.store import Store
from courrier.store.unsubscribes import Unsubscribed, count_unsubscribes
from courrier.unsubscribe import ONE_CLICK
from tests.conftest import SandboxClient

READER = "reader@readers.example"
#: A URLconf without the unsubscribe view (``ROOT_URLCONF = __name__``).
urlpatterns = [route("ses/feedback/", sns_feedback)]


def delivered(sandbox: SandboxClient) -> list[Any]:
    sandbox.drain()
    letters = sandbox.control("GET", f"/mailbox?recipient={READER}")["messages"]
    parser = BytesParser(policy=email.policy.default)
    return [
        parser.parsebytes(
            base64.b64decode(sandbox.control("GET", f"/mailbox/{letter['id']}")["raw"])
        )
        for letter in letters
    ]


def newsletter() -> EmailMessage:
    message = EmailMessage("News", "Hello", None, [READER])
    message.bulk = True  # type: ignore[attr-defined]
    message.list_name = "news"  # type: ignore[attr-defined]
    return message


def test_the_view_unsubscribes_signals_and_the_next_newsletter_skips_them(
    project: SandboxClient, project_store: Store, settings: Settings
) -> None:
    settings.COURRIER = {
        **settings.COURRIER,
        "UNSUBSCRIBE_URL": "https://testserver/unsubscribe",
        "UNSUBSCRIBE_SECRET": "django-tests-secret-key",
    }
    project.ses.verify_domain_identity(Domain="readers.example")
    seen: list[Unsubscribed] = []

    def on(sender: type[Any], unsubscribe: Unsubscribed, **_: Any) -> None:
        assert sender is Unsubscribed
        seen.append(unsubscribe)

    signals.unsubscribed.connect(on, weak=False)
    try:
        assert newsletter().send() == 1
        [letter] = delivered(project)
        assert letter["List-Unsubscribe-Post"] == ONE_CLICK
        link = str(letter["List-Unsubscribe"])[1:-1]
        path = link.removeprefix("https://testserver")
        client = Client(enforce_csrf_checks=True)
        assert client.get(path).status_code == 200
        assert count_unsubscribes(project_store) == 0
        assert client.post(path[:-2] + "xx", {"List-Unsubscribe": "One-Click"}).status_code == 404
        response = client.post(path, {"List-Unsubscribe": "One-Click"})
        assert response.status_code == 200
        assert [(s.address, s.list_name, s.source) for s in seen] == [(READER, "news", "one-click")]
    finally:
        signals.unsubscribed.disconnect(on)
    skipped = newsletter()
    assert skipped.send() == 0
    assert skipped.courrier_status.status == MessageStatus.SUPPRESSED  # type: ignore[attr-defined]
    assert EmailMessage("Receipt", "Thanks", None, [READER]).send() == 1
    receipt = delivered(project)[-1]
    assert receipt["Subject"] == "Receipt"
    assert "List-Unsubscribe" not in receipt


def test_without_its_settings_the_view_answers_503_and_logs_why(
    project: SandboxClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="courrier.django.views"):
        response = Client().get("/unsubscribe/some-token")
    assert response.status_code == 503
    assert b"not available" in response.content
    assert "answers 503: unsubscribe_url and unsubscribe_secret are not set" in caplog.text


def unsubscribe_checks() -> list[str]:
    found = [m for m in run_checks() if m.id == "courrier.W002"]
    # A warning: an error would stop migrate and test wherever the secret is not set.
    assert all(m.level == checks.WARNING for m in found)
    return [m.msg for m in found]


def test_the_routed_view_without_its_settings_is_a_system_check_warning(
    settings: Settings,
) -> None:
    settings.COURRIER = {"DATABASE": "default"}
    [message] = unsubscribe_checks()
    assert "the courrier unsubscribe view is in the URLconf, but" in message
    settings.COURRIER = {"DATABASE": "default", "UNSUBSCRIBE_URL": "https://x.example/u"}
    [message] = unsubscribe_checks()
    assert "set both unsubscribe_url and unsubscribe_secret" in message
    settings.COURRIER = {**settings.COURRIER, "UNSUBSCRIBE_SECRET": "s" * 32}
    assert unsubscribe_checks() == []


def test_no_check_warning_when_the_view_is_not_routed(settings: Settings) -> None:
    settings.COURRIER = {"DATABASE": "default"}
    settings.ROOT_URLCONF = __name__
    assert unsubscribe_checks() == []
