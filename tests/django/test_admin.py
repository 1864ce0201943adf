"""The store in the project's own database, and the read-only admin over it."""

from __future__ import annotations

import importlib
from collections.abc import Iterator

import pytest
from django.contrib import admin
from django.db import connections
from django.test import Client
from pytest_django import Settings

from courrier.django import admin as courrier_admin
from courrier.django import models
from courrier.django import settings as courrier_settings
from courrier.statuses import MessageStatus, RecipientStatus
from courrier.store import Store

pytestmark = pytest.mark.django_db(transaction=True)

EVERY_MODEL = {
    "message",
    "recipient",
    "feedbackevent",
    "suppression",
    "unsubscribe",
    "tenantsuppression",
    "tenantguardtrip",
    "tenanthold",
}


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    """courrier's store in the project's (test) database, as COURRIER["DATABASE"] says."""
    settings.COURRIER = {"DATABASE": "default"}
    opened = courrier_settings.store(courrier_settings.load())
    yield opened
    courrier_settings.reset()


def test_the_store_is_the_project_database(store: Store) -> None:
    name = connections["default"].settings_dict["NAME"]
    assert courrier_settings.load().database_url == f"sqlite:///{name}"
    store.suppress("gone@example.net", reason="bounce", source="feedback", detail="Bounce")
    [row] = models.Suppression.objects.all()
    assert (row.address, row.reason, row.source) == ("gone@example.net", "bounce", "feedback")
    assert row.first_seen.tzinfo is not None


def test_the_admin_shows_the_store_and_changes_nothing(store: Store, admin_client: Client) -> None:
    message_id = store.record_message(
        sender="sender@example.com",
        subject="Invoice 4711",
        configuration_set=None,
        recipients=[
            ("a@example.org", "to", RecipientStatus.PENDING),
            ("b@example.org", "cc", RecipientStatus.SUPPRESSED),
        ],
    )
    store.finish_send(message_id, status=MessageStatus.SENT, ses_message_id="ses-4711")
    store.suppress("b@example.org", reason="complaint", source="feedback")
    listing = admin_client.get("/admin/courrier/message/")
    assert listing.status_code == 200
    assert b"Invoice 4711" in listing.content
    assert b"ses-4711" in listing.content
    page = admin_client.get(f"/admin/courrier/message/{message_id}/change/")
    assert page.status_code == 200
    assert b"a@example.org" in page.content  # the recipients, inline
    assert b"suppressed" in page.content
    searched = admin_client.get("/admin/courrier/recipient/?q=b%40example.org")
    assert b"b@example.org" in searched.content
    assert b"a@example.org" not in searched.content
    suppressions = admin_client.get("/admin/courrier/suppression/")
    assert b"complaint" in suppressions.content
    assert admin_client.get("/admin/courrier/feedbackevent/").status_code == 200
    assert admin_client.get("/admin/courrier/suppression/add/").status_code == 403
    delete = admin_client.post("/admin/courrier/suppression/b@example.org/delete/", {"post": "yes"})
    assert delete.status_code == 403
    assert store.suppressed_among(["b@example.org"]) == {"b@example.org"}


def test_pages_are_registered_only_for_a_store_in_a_django_database(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for courrier, expected in (
        ({"DATABASE": "default"}, EVERY_MODEL),
        ({"DATABASE_URL": "sqlite:///elsewhere.db"}, set()),
    ):
        settings.COURRIER = courrier
        site = admin.AdminSite(name="probe")
        monkeypatch.setattr(admin, "site", site)
        importlib.reload(courrier_admin)
        assert {m._meta.model_name for m in site._registry} == expected


def test_the_admin_shows_the_tenants_tables_and_changes_nothing(
    store: Store, admin_client: Client
) -> None:
    import datetime as dt

    from courrier.store import outbox
    from courrier.store.guard import record_trip
    from courrier.store.tables import TenantSuppressionRow
    from courrier.store.unsubscribes import record_unsubscribe

    now = dt.datetime.now(dt.UTC)
    with store.transaction() as session:
        for tenant in ("acme", "globex"):  # one address on two tenants' lists
            session.add(
                TenantSuppressionRow(
                    tenant=tenant,
                    address="angry@example.org",
                    reason="complaint",
                    source="feedback",
                    first_seen=now,
                    last_seen=now,
                )
            )
        outbox.hold_in(session, 0, outbox.Hold("acme", now + dt.timedelta(hours=1), "paused"))
    record_trip(
        store,
        rate="complaint_rate",
        value=0.05,
        threshold=0.0008,
        detail="acme's complaints",
        figures={},
        tenant="acme",
    )
    record_unsubscribe(store, "reader@example.org", "news", "one-click", tenant="globex")

    listing = admin_client.get("/admin/courrier/tenantsuppression/")
    assert listing.status_code == 200
    assert listing.content.count(b"angry@example.org") == 2
    only = admin_client.get("/admin/courrier/tenantsuppression/?tenant=globex")
    assert only.content.count(b"angry@example.org") == 1
    # Its key is (tenant, address): no page per row, and nothing to change.
    assert b"/admin/courrier/tenantsuppression/angry" not in listing.content
    assert admin_client.get("/admin/courrier/tenantsuppression/add/").status_code == 404
    trips = admin_client.get("/admin/courrier/tenantguardtrip/")
    assert b"complaint_rate" in trips.content
    assert b"acme" in trips.content
    holds = admin_client.get("/admin/courrier/tenanthold/")
    assert b"acme" in holds.content
    assert admin_client.get("/admin/courrier/tenanthold/acme/change/").status_code == 200
    unsubscribes = admin_client.get("/admin/courrier/unsubscribe/?tenant=globex")
    assert b"reader@example.org" in unsubscribes.content
    delete = admin_client.post("/admin/courrier/tenanthold/acme/delete/", {"post": "yes"})
    assert delete.status_code == 403
    assert [h.tenant for h in outbox.holds(store)] == ["acme"]
