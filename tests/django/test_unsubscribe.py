"""One-click unsubscribe in a Django project: bulk mail carries the link, the view records
the unsubscribe and sends the ``unsubscribed`` signal, the next bulk mail skips them."""

from __future__ import annotations

import base64
import email.policy
from email.parser import BytesParser
from typing import Any

from django.core.mail import EmailMessage
from django.test import Client
from pytest_django import Settings

from courrier.django import signals
from courrier.statuses import MessageStatus
from courrier.store import Store
from courrier.store.unsubscribes import Unsubscribed, count_unsubscribes
from courrier.unsubscribe import ONE_CLICK
from tests.conftest import SandboxClient

READER = "reader@readers.example"


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
