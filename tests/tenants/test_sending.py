"""Tenants on the sending side: the name checked, ``TenantName`` on every send, the tenant
recorded with each message and kept by the outbox."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from courrier.aws.ses import SesClient
from courrier.errors import InvalidMessage, TenantNotReady, TenantPaused
from courrier.message import Message, check_tenant_name
from courrier.provisioning import Aws
from courrier.provisioning.tenants import create_tenant
from courrier.sending import Mailer, Pacer
from courrier.sending.payload import from_payload, to_payload
from courrier.sending.pipeline import Outcome, classify
from courrier.sending.runner import _group_key
from courrier.settings import Settings
from courrier.store import Store
from courrier.store.tables import MessageRow
from courrier.template_message import BulkDestination, TemplateMessage
from tests.conftest import SandboxClient

SENDER = "sender@example.com"
SUCCESS = "success@simulator.amazonses.com"
CONFIG_SET = "tenants"


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
def mailer(
    sandbox: SandboxClient, store: Store, calls: Calls, monkeypatch: pytest.MonkeyPatch
) -> Mailer:
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.url)
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    sandbox.sesv2.create_configuration_set(ConfigurationSetName=CONFIG_SET)
    sandbox.sesv2.create_email_template(
        TemplateName="welcome",
        TemplateContent={"Subject": "Hi {{name}}", "Text": "Hello {{name}}"},
    )
    aws = Aws()
    for tenant in ("acme", "globex"):
        create_tenant(
            aws, tenant, identity=SENDER, configuration_set=CONFIG_SET, templates=["welcome"]
        )
    client = sandbox.sesv2
    # What went over the wire, on the real client and the real sandbox.
    client.meta.events.register("before-call.sesv2.*", calls)
    settings = Settings(unsubscribe_managed_elsewhere=True, configuration_set=CONFIG_SET)
    return Mailer(store, SesClient(ses=client), settings=settings, pacer=Pacer(1000))


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


def test_sends_ses_refuses_for_the_tenant_are_typed_and_recorded(
    mailer: Mailer, store: Store, sandbox: SandboxClient
) -> None:
    with pytest.raises(TenantNotReady, match="courrier tenant create"):
        mailer.send(Message(sender=SENDER, to=[SUCCESS], text="x", tenant="initech"))
    sandbox.ses.verify_email_identity(EmailAddress="other@example.com")
    with pytest.raises(TenantNotReady, match="associate"):
        mailer.send(Message(sender="other@example.com", to=[SUCCESS], text="x", tenant="acme"))
    with store.transaction() as session:
        assert set(session.scalars(select(MessageRow.status))) == {"failed"}


def test_a_paused_tenant_waits_while_the_others_send(
    mailer: Mailer, sandbox: SandboxClient
) -> None:
    arn = sandbox.sesv2.get_tenant(TenantName="acme")["Tenant"]["TenantArn"]
    sandbox.sesv2.update_reputation_entity_customer_managed_status(
        ReputationEntityType="RESOURCE", ReputationEntityReference=arn, SendingStatus="DISABLED"
    )
    with pytest.raises(TenantPaused) as paused:
        mailer.send(Message(sender=SENDER, to=[SUCCESS], text="x", tenant="acme"))
    verdict = classify(paused.value, reached_ses=True)
    # Its own wait, not the account's: the outbox keeps sending everyone else's rows.
    assert (verdict.outcome, verdict.account) == (Outcome.RETRY, False)
    assert mailer.send(Message(sender=SENDER, to=[SUCCESS], text="x", tenant="globex")).sent
    assert mailer.send(Message(sender=SENDER, to=[SUCCESS], text="x")).sent


def test_a_complaint_suppresses_for_its_tenant_a_hard_bounce_for_everyone(
    mailer: Mailer, store: Store, sandbox: SandboxClient
) -> None:
    from courrier.feedback import decode
    from courrier.feedback.apply import apply
    from tests.feedback.test_decode import envelope
    from tests.tenants.test_feedback import tagged

    angry, gone = "angry@example.org", "gone@example.net"
    sandbox.set_account(production=True)
    complaint = tagged("S4", "acme")
    complaint["complaint"]["complainedRecipients"] = [{"emailAddress": angry}]
    applied = apply(store, [decode(envelope(complaint, message_id="c"))])
    assert applied.tenant_suppressed == [("acme", angry)]
    assert applied.suppressed == []
    assert store.suppressed_among([angry]) == set()
    bounce = tagged("S1", "acme")  # a permanent bounce: the address is gone for everyone
    assert apply(store, [decode(envelope(bounce, message_id="b"))]).suppressed == [gone]

    def status(tenant: str | None, to: str) -> str:
        return mailer.send(Message(sender=SENDER, to=[to], text="x", tenant=tenant)).status

    assert status("acme", angry) == "suppressed"
    assert status("globex", angry) == "sent"
    assert status(None, angry) == "sent"
    assert status("globex", gone) == "suppressed"
    assert [entry.address for entry in store.suppressions(tenant="acme")] == [angry]
    assert store.suppressions(tenant="globex") == []
    assert store.unsuppress(angry, tenant="acme")
    assert status("acme", angry) == "sent"
