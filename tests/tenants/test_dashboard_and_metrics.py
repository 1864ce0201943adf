"""The dashboard's tenant filter and the tenant label of the metrics, with its bound."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import generate_latest
from starlette.testclient import TestClient

from courrier.feedback import decode
from courrier.feedback.apply import apply
from courrier.metrics import OTHER_TENANTS, Metrics
from courrier.settings import Settings
from courrier.statuses import MessageStatus, RecipientStatus
from courrier.store import Store
from courrier.store.guard import record_trip
from courrier.web import make_app
from tests.feedback.test_decode import envelope
from tests.tenants.test_feedback import tagged

LOOPBACK = "http://127.0.0.1"


@pytest.fixture
def web(store: Store) -> Iterator[TestClient]:
    with TestClient(make_app(store, Settings(database_url="unused")), base_url=LOOPBACK) as client:
        yield client


def _message(store: Store, subject: str, tenant: str | None) -> None:
    store.record_message(
        sender="s@example.com",
        subject=subject,
        configuration_set=None,
        recipients=[("r@example.org", "to", RecipientStatus.PENDING)],
        status=MessageStatus.PENDING,
        tenant=tenant,
    )


def test_the_messages_page_filters_by_tenant(web: TestClient, store: Store) -> None:
    _message(store, "for-acme", "acme")
    _message(store, "for-globex", "globex")
    _message(store, "for-the-account", None)
    page = web.get("/messages", params={"tenant": "acme"}).text
    assert "for-acme" in page
    assert "for-globex" not in page
    assert "for-the-account" not in page
    every = web.get("/messages").text
    assert all(s in every for s in ("for-acme", "for-globex", "for-the-account"))
    assert web.get("/messages", params={"tenant": "a b"}).status_code == 400


def test_the_overview_shows_the_tenants_guard(web: TestClient, store: Store) -> None:
    record_trip(
        store,
        rate="complaint_rate",
        value=0.05,
        threshold=0.0008,
        detail="complaint rate 5.00% reached the guard's line of 0.08%",
        figures={},
        tenant="acme",
    )
    acme = web.get("/", params={"tenant": "acme"}).text
    assert "tenant acme" in acme
    assert 'data-guard-state="tripped"' in acme
    assert 'data-guard-state="tripped"' not in web.get("/").text
    assert 'data-guard-state="tripped"' not in web.get("/", params={"tenant": "globex"}).text


def test_the_tenant_label_is_bounded(store: Store) -> None:
    metrics = Metrics(max_tenant_labels=2)
    for n, tenant in enumerate(("acme", "globex", "initech", "acme")):
        payload = tagged("S4", tenant, messageId=f"m-{n}")
        payload["complaint"]["feedbackId"] = f"fb-{n}"
        metrics.applied(apply(store, [decode(envelope(payload, message_id=f"sns-{n}"))]))
    untagged = tagged("S1", None)
    metrics.applied(apply(store, [decode(envelope(untagged, message_id="sns-x"))]))
    text = generate_latest(metrics.registry).decode()
    series = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in text.splitlines()
        if line.startswith("courrier_tenant_feedback_events_total")
    }
    assert series == {
        'courrier_tenant_feedback_events_total{kind="Complaint",tenant="acme"}': 2.0,
        'courrier_tenant_feedback_events_total{kind="Complaint",tenant="globex"}': 1.0,
        f'courrier_tenant_feedback_events_total{{kind="Complaint",tenant="{OTHER_TENANTS}"}}': 1.0,
    }
