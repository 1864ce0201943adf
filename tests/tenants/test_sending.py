"""Tenants on the sending side: the name checked, ``TenantName`` on every send, the tenant
recorded with each message and kept by the outbox."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from courrier.aws.ses import SesClient
from courrier.errors import InvalidMessage
from courrier.message import Message, check_tenant_name
from courrier.sending import Mailer, Pacer
from courrier.sending.payload import from_payload, to_payload
from courrier.sending.runner import _group_key
from courrier.settings import Settings
from courrier.store import Store
from courrier.store.tables import MessageRow
from courrier.template_message import BulkDestination, TemplateMessage
from tests.conftest import SandboxClient

SENDER = "sender@example.com"
SUCCESS = "success@simulator.amazonses.com"


class Calls(list[tuple[str, dict[str, Any]]]):
    """The parameters of each SES call the client made, as botocore sent them."""

    def __call__(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.append((model.name, json.loads(params["body"] or b"{}")))

    def of(self, operation: str) -> list[dict[str, Any]]:
        return [body for name, body in self if name == operation]


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def mailer(sandbox: SandboxClient, store: Store, calls: Calls) -> Mailer:
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    client = sandbox.sesv2
    # What went over the wire, on the real client and the real sandbox.
    client.meta.events.register("before-call.sesv2.*", calls)
    sandbox.sesv2.create_email_template(
        TemplateName="welcome",
        TemplateContent={"Subject": "Hi {{name}}", "Text": "Hello {{name}}"},
    )
    return Mailer(
        store,
        SesClient(ses=client),
        settings=Settings(unsubscribe_managed_elsewhere=True),
        pacer=Pacer(1000),
    )


@pytest.mark.parametrize("name", ["", "a b", "acme.corp", "é", "x" * 65, "acme/1", 12])
def test_tenant_names_are_checked_as_ses_does(name: Any) -> None:
    with pytest.raises(InvalidMessage, match="tenant name"):
        Message(sender=SENDER, to=[SUCCESS], text="x", tenant=name)
    with pytest.raises(InvalidMessage, match="tenant name"):
        TemplateMessage(sender=SENDER, to=[SUCCESS], template="welcome", tenant=name)


def test_good_tenant_names_pass() -> None:
    for name in ("acme", "Acme_Corp-2", "x" * 64):
        assert check_tenant_name(name) == name
        assert Message(sender=SENDER, to=[SUCCESS], text="x", tenant=name).tenant == name
    assert check_tenant_name(None) is None


def test_send_carries_the_tenant_and_records_it(mailer: Mailer, store: Store, calls: Calls) -> None:
    raw = mailer.send(Message(sender=SENDER, to=[SUCCESS], text="x", tenant="acme"))
    templated = mailer.send(
        TemplateMessage(
            sender=SENDER, to=[SUCCESS], template="welcome", data={"name": "A"}, tenant="globex"
        )
    )
    plain = mailer.send(Message(sender=SENDER, to=[SUCCESS], text="x"))
    sends = calls.of("SendEmail")
    assert [body.get("TenantName") for body in sends] == ["acme", "globex", None]
    assert [r.sent for r in (raw, templated, plain)] == [True, True, True]
    tenants = [store.message(r.id).tenant for r in (raw, templated, plain)]  # type: ignore[union-attr]
    assert tenants == ["acme", "globex", None]


def test_bulk_send_carries_the_tenant(mailer: Mailer, store: Store, calls: Calls) -> None:
    result = mailer.send_bulk(
        "welcome",
        [BulkDestination(SUCCESS, data={"name": "A"}), BulkDestination(f"b{SUCCESS}")],
        sender=SENDER,
        data={"name": "you"},
        tenant="acme",
    )
    assert result.sent == 2
    [bulk] = calls.of("SendBulkEmail")
    assert bulk["TenantName"] == "acme"
    with store.transaction() as session:
        assert set(session.scalars(select(MessageRow.tenant))) == {"acme"}


def test_a_bad_tenant_name_on_a_bulk_send_is_refused_before_any_call(
    mailer: Mailer, store: Store, calls: Calls
) -> None:
    with pytest.raises(InvalidMessage, match="tenant name"):
        mailer.send_bulk("welcome", [BulkDestination(SUCCESS)], sender=SENDER, tenant="a b")
    assert not calls.of("SendBulkEmail")
    with store.transaction() as session:
        assert not list(session.scalars(select(MessageRow.id)))


def test_the_outbox_keeps_the_tenant(mailer: Mailer, store: Store, calls: Calls) -> None:
    message = TemplateMessage(
        sender=SENDER, to=[SUCCESS], template="welcome", tenant="acme", bulk=True
    )
    kind, text = to_payload(message)
    again = from_payload(kind, text)
    assert again.tenant == "acme"
    # A row queued before tenants existed has no "tenant": the account's.
    old = json.loads(text)
    del old["tenant"]
    assert from_payload(kind, json.dumps(old)).tenant is None
    # Rows of two tenants never share a SendBulkEmail call.
    other = TemplateMessage(
        sender=SENDER, to=[SUCCESS], template="welcome", tenant="globex", bulk=True
    )
    assert _group_key(message) != _group_key(other)


def test_queued_messages_go_out_with_their_tenant(
    mailer: Mailer, store: Store, calls: Calls
) -> None:
    from courrier.sending.runner import OutboxRunner

    mailer.enqueue(Message(sender=SENDER, to=[SUCCESS], text="x", tenant="acme"))
    mailer.enqueue_bulk(
        "welcome",
        [BulkDestination(SUCCESS), BulkDestination(f"b{SUCCESS}")],
        sender=SENDER,
        data={"name": "A"},
        tenant="globex",
    )
    OutboxRunner(mailer).run(until_empty=True)
    assert [b.get("TenantName") for b in calls.of("SendEmail")] == ["acme"]
    assert [b.get("TenantName") for b in calls.of("SendBulkEmail")] == ["globex"]
    with store.transaction() as session:
        tenants = sorted(str(t) for t in session.scalars(select(MessageRow.tenant)))
    assert tenants == ["acme", "globex", "globex"]
