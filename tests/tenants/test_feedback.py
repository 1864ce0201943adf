"""Tenants in the feedback: the ``ses:tenant-name`` tag read and stored with each event, the
``OnTenantSuppressionList`` bounce, and the per-tenant rollups the rates read."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from sqlalchemy import select

from courrier.errors import UndecodableMessage
from courrier.feedback import decode
from courrier.feedback import events as ev
from courrier.feedback.apply import apply
from courrier.feedback.rules import Rules
from courrier.statuses import Action, MessageStatus, RecipientStatus
from courrier.store import Store, rollups
from courrier.store.rollups import MESSAGES, Flag
from courrier.store.tables import FeedbackEventRow
from tests.feedback.test_decode import envelope, sample


def tagged(name: str, tenant: str | None, **mail: Any) -> dict[str, Any]:
    payload = copy.deepcopy(sample(name))
    if tenant is not None:
        payload["mail"].setdefault("tags", {})["ses:tenant-name"] = [tenant]
    payload["mail"].update(mail)
    return payload


def test_the_tenant_tag_is_read_from_notifications_and_events() -> None:
    for name in ("S1", "S4"):
        [event] = decode(envelope(tagged(name, "acme"))).events
        assert event.tenant == "acme"
        [untagged] = decode(envelope(tagged(name, None))).events
        assert untagged.tenant is None


def test_a_tenant_tag_no_tenant_could_have_is_refused() -> None:
    with pytest.raises(UndecodableMessage, match="tenant-name"):
        decode(envelope(tagged("S1", "x" * 65)))


def test_the_tenant_is_stored_with_each_event(store: Store) -> None:
    apply(store, [decode(envelope(tagged("S1", "acme"), message_id="a"))])
    apply(store, [decode(envelope(tagged("S4", None), message_id="b"))])
    with store.transaction() as session:
        stored = dict(session.execute(select(FeedbackEventRow.kind, FeedbackEventRow.tenant)).all())
    assert stored == {"Bounce": "acme", "Complaint": None}


def tenant_listed(tenant: str = "acme") -> dict[str, Any]:
    payload = tagged("S1", tenant)
    payload["bounce"]["bounceSubType"] = ev.TENANT_SUPPRESSION_LIST
    return payload


def test_a_tenant_listed_bounce_is_recorded_never_suppressed_account_wide(store: Store) -> None:
    [event] = decode(envelope(tenant_listed())).events
    assert isinstance(event, ev.Bounce)
    assert event.tenant_listed
    assert Rules().action(event) is Action.RECORD
    applied = apply(store, [decode(envelope(tenant_listed()))])
    assert applied.suppressed == []
    assert store.suppressed_among(["gone@example.net"]) == set()
    # Not attempted by SES: left out of the rates, like the account-level list.
    assert rollups.event_flags("Bounce", event.subtype, Action.RECORD) & Flag.ACCOUNT_LISTED


def _sent(store: Store, ses_id: str, address: str, tenant: str | None) -> int:
    record_id = store.record_message(
        sender="s@example.com",
        subject="s",
        configuration_set=None,
        recipients=[(address, "to", RecipientStatus.PENDING)],
        tenant=tenant,
    )
    store.finish_send(record_id, status=MessageStatus.SENT, ses_message_id=ses_id)
    return record_id


def _tenant_counts(store: Store, tenant: str) -> dict[int, int]:
    with store.transaction() as session:
        counts: dict[int, int] = {}
        for _, flags, n in rollups.tenant_hours(session, tenant, 0):
            counts[flags] = counts.get(flags, 0) + n
        return counts


def _complaint(ses_id: str, address: str, tenant: str | None, sns: str) -> str:
    payload = tagged("S4", tenant, messageId=ses_id)
    payload["complaint"]["complainedRecipients"] = [{"emailAddress": address}]
    payload["complaint"]["feedbackId"] = f"fb-{ses_id}"
    return envelope(payload, message_id=sns)


def test_each_tenant_has_its_own_rollup_rows(store: Store) -> None:
    _sent(store, "m-acme-1", "a1@example.org", "acme")
    _sent(store, "m-acme-2", "a2@example.org", "acme")
    _sent(store, "m-globex", "g@example.org", "globex")
    _sent(store, "m-none", "n@example.org", None)
    apply(store, [decode(_complaint("m-acme-1", "a1@example.org", "acme", "sns-1"))])
    acme, globex = _tenant_counts(store, "acme"), _tenant_counts(store, "globex")
    assert acme[MESSAGES] == 2
    assert globex[MESSAGES] == 1
    complained = sum(n for f, n in acme.items() if f != MESSAGES and f & Flag.COMPLAINED)
    assert complained == 1
    assert not any(f & Flag.COMPLAINED for f in globex if f != MESSAGES)
    assert sum(n for f, n in globex.items() if f != MESSAGES and f & Flag.SENT) == 1
    # The account's rows count every message, tenants' or not.
    with store.transaction() as session:
        account = sum(n for _, f, n in rollups.hours(session, 0) if f == MESSAGES)
    assert account == 4
    # A full recount ends where the incremental one did.
    before = (_tenant_counts(store, "acme"), _tenant_counts(store, "globex"))
    with store.transaction() as session:
        rollups.rebuild(session)
    assert (_tenant_counts(store, "acme"), _tenant_counts(store, "globex")) == before


def test_the_event_payload_keeps_the_tag(store: Store) -> None:
    apply(store, [decode(envelope(tagged("S1", "acme")))])
    with store.transaction() as session:
        payload = json.loads(session.scalars(select(FeedbackEventRow.payload)).one())
    assert payload["mail"]["tags"]["ses:tenant-name"] == ["acme"]


def test_the_suppression_commands_take_a_tenant(store: Store, database_url: str) -> None:
    from click.testing import CliRunner

    from courrier.cli import main

    complaint = tagged("S4", "acme")
    apply(store, [decode(envelope(complaint))])
    runner = CliRunner()
    base = ["--database-url", database_url, "suppression"]
    listed = runner.invoke(main, [*base, "list", "--tenant", "acme", "--json"])
    assert [json.loads(line)["address"] for line in listed.output.splitlines()] == [
        "reader@example.org"
    ]
    assert runner.invoke(main, [*base, "list", "--json"]).output == ""
    bad = runner.invoke(main, [*base, "list", "--tenant", "a b"])
    assert bad.exit_code != 0
    assert "tenant name" in bad.output
    removed = runner.invoke(main, [*base, "remove", "reader@example.org", "--tenant", "acme"])
    assert removed.exit_code == 0, removed.output
    assert store.suppressions(tenant="acme") == []
