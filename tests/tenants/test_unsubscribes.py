"""Unsubscribes per tenant: a tenant's message carries a link naming the tenant, a click
stops that tenant's bulk mail to the address only, and the commands show and clear it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from click.testing import CliRunner

from courrier import BulkDestination, Message
from courrier.aws.ses import SesClient
from courrier.cli import main
from courrier.provisioning import Aws
from courrier.provisioning.tenants import create_tenant
from courrier.sending import Mailer, Pacer
from courrier.settings import Settings
from courrier.statuses import RecipientStatus
from courrier.store import Store
from courrier.store.feedback import suppress_for_tenants
from courrier.store.unsubscribes import list_unsubscribes, record_unsubscribe
from courrier.unsubscribe import Unsubscribe, links_for
from courrier.web import make_app
from tests.conftest import SandboxClient, free_port, uvicorn_serving
from tests.sending.test_mailer import SENDER, received
from tests.sending.test_unsubscribe import READER, SECRET, http, link_of

CONFIG_SET = "tenants"


@dataclass
class Site:
    base: str
    mailer: Mailer


@pytest.fixture
def site(sandbox: SandboxClient, store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """Two tenants that may send the ``news`` template, and the public unsubscribe endpoint
    served over real HTTP on loopback."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.url)
    sandbox.ses.verify_domain_identity(Domain="readers.example")
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    sandbox.sesv2.create_configuration_set(ConfigurationSetName=CONFIG_SET)
    sandbox.sesv2.create_email_template(
        TemplateName="news",
        TemplateContent={"Subject": "News for {{name}}", "Text": "Hello {{name}}"},
    )
    for tenant in ("acme", "globex"):
        create_tenant(
            Aws(), tenant, identity=SENDER, configuration_set=CONFIG_SET, templates=["news"]
        )
    port = free_port()
    settings = Settings(
        unsubscribe_url=f"http://127.0.0.1:{port}/unsubscribe",
        unsubscribe_secret=SECRET,
        configuration_set=CONFIG_SET,
    )
    app = make_app(store, settings, token="dashboard-token-not-needed-here")
    with uvicorn_serving(app, port) as base:
        ses = SesClient(ses=sandbox.sesv2)
        yield Site(base, Mailer(store, ses, settings=settings, pacer=Pacer(1000)))


def news(mailer: Mailer, tenant: str | None) -> str:
    result = mailer.send_bulk(
        "news",
        [BulkDestination(READER, {"name": "Reader"})],
        sender=SENDER,
        list_name="news",
        tenant=tenant,
    )
    [one] = result.results
    return one.recipients[0].status if one.recipients else one.status


def test_a_click_on_a_tenants_link_stops_that_tenants_mail_only(
    sandbox: SandboxClient, store: Store, site: Site
) -> None:
    assert news(site.mailer, "acme") == RecipientStatus.SENT
    link = link_of(received(sandbox, READER)["List-Unsubscribe"])
    links = links_for(site.mailer.settings)
    assert links is not None
    assert links.verify(link.rsplit("/", 1)[1]) == Unsubscribe(READER, "news", "acme")

    status, page = http("POST", link, b"List-Unsubscribe=One-Click")
    assert status == 200, page
    [entry] = list_unsubscribes(store)
    assert (entry.address, entry.list_name, entry.tenant) == (READER, "news", "acme")

    assert news(site.mailer, "acme") == RecipientStatus.UNSUBSCRIBED
    assert news(site.mailer, "globex") == RecipientStatus.SENT
    assert news(site.mailer, None) == RecipientStatus.SENT
    # Transactional mail of the tenant still goes: an unsubscribe stops bulk mail only.
    assert site.mailer.send(Message(SENDER, [READER], "Receipt", text="x", tenant="acme")).sent


def test_an_accounts_unsubscribe_still_stops_every_tenant(store: Store, site: Site) -> None:
    # As links sent before tenants existed say: every sender's mail of that list.
    assert record_unsubscribe(store, READER, "news", "one-click") is not None
    assert news(site.mailer, "acme") == RecipientStatus.UNSUBSCRIBED
    assert news(site.mailer, "globex") == RecipientStatus.UNSUBSCRIBED
    assert news(site.mailer, None) == RecipientStatus.UNSUBSCRIBED


def test_one_address_may_leave_the_account_and_each_tenant_apart(store: Store) -> None:
    for tenant in (None, "acme", "globex"):
        assert record_unsubscribe(store, READER, "news", "one-click", tenant=tenant)
        assert record_unsubscribe(store, READER, "news", "one-click", tenant=tenant) is None
    assert sorted(e.tenant or "" for e in list_unsubscribes(store)) == ["", "acme", "globex"]
    assert [e.tenant for e in list_unsubscribes(store, tenant="acme")] == ["acme"]


def test_the_suppression_commands_show_and_clear_a_tenants_unsubscribes(
    store: Store, database_url: str
) -> None:
    record_unsubscribe(store, READER, "news", "one-click", tenant="acme")
    record_unsubscribe(store, READER, None, "page", tenant="acme")
    record_unsubscribe(store, READER, "news", "one-click")  # the account's: kept
    runner = CliRunner()
    base = ["--database-url", database_url, "suppression"]
    listed = runner.invoke(main, [*base, "list", "--tenant", "acme", "--json"])
    assert listed.exit_code == 0, listed.output
    entries = [json.loads(line) for line in listed.output.splitlines()]
    assert [(e["address"], e["reason"], e["detail"]) for e in entries] == [
        (READER, "unsubscribe", "every list"),
        (READER, "unsubscribe", "list news"),
    ]
    assert runner.invoke(main, [*base, "list", "--tenant", "globex", "--json"]).output == ""
    assert runner.invoke(main, [*base, "list", "--json"]).output == ""
    only = runner.invoke(main, [*base, "unsubscribes", "--tenant", "acme", "--json"])
    assert {json.loads(line)["tenant"] for line in only.output.splitlines()} == {"acme"}

    # An unsubscribe is the recipient's choice: removing a suppression never clears it.
    with store.transaction() as session:
        complaint = {"reason": "complaint", "source": "feedback", "detail": None}
        suppress_for_tenants(session, [{**complaint, "tenant": "acme", "address": READER}])
    removed = runner.invoke(main, [*base, "remove", READER, "--tenant", "acme"])
    assert removed.exit_code == 0, removed.output
    assert store.suppressions(tenant="acme") == []
    assert sorted(e.tenant or "" for e in list_unsubscribes(store)) == ["", "acme", "acme"]
    again = runner.invoke(main, [*base, "remove", READER, "--tenant", "acme"])
    assert again.exit_code == 1
    # Their own request to receive the list again is what clears one.
    back = runner.invoke(main, [*base, "resubscribe", READER, "--list", "news", "--tenant", "acme"])
    assert back.exit_code == 0, back.output
    assert sorted(e.tenant or "" for e in list_unsubscribes(store)) == ["", "acme"]
