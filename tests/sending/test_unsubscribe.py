"""One-click unsubscribe end to end: a campaign to the simulator carries both RFC 8058
headers, POSTing its link over real HTTP unsubscribes, the next campaign skips the recipient
and a transactional receipt still reaches them."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from courrier import BulkDestination, Message, TemplateMessage
from courrier.aws.ses import SesClient
from courrier.errors import InvalidMessage, UnsubscribeRequired
from courrier.sending import Mailer, Pacer
from courrier.sending.runner import OutboxRunner
from courrier.settings import Settings
from courrier.statuses import MessageStatus, RecipientStatus, RunOutcome
from courrier.store import Store
from courrier.store.search import find_messages
from courrier.store.unsubscribes import count_unsubscribes, list_unsubscribes
from courrier.unsubscribe import ONE_CLICK
from courrier.web import make_app
from tests.conftest import SandboxClient, free_port, uvicorn_serving
from tests.sending.test_mailer import SENDER, received

SECRET = "s3cret-key-for-the-tests-only"
READER = "reader@readers.example"


@dataclass
class Site:
    base: str
    settings: Settings


@pytest.fixture
def site(store: Store) -> Iterator[Site]:
    """``courrier dashboard``'s app on loopback, serving the public unsubscribe endpoint."""
    port = free_port()
    settings = Settings(
        unsubscribe_url=f"http://127.0.0.1:{port}/unsubscribe", unsubscribe_secret=SECRET
    )
    app = make_app(store, settings, token="dashboard-token-not-needed-here")
    with uvicorn_serving(app, port) as base:
        yield Site(base, settings)


def http(method: str, url: str, body: bytes | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def link_of(header: str) -> str:
    first = header.split(",", maxsplit=1)[0].strip()
    assert first.startswith("<"), header
    assert first.endswith(">"), header
    return first[1:-1]


def mailbox(sandbox: SandboxClient, recipient: str) -> list[Any]:
    sandbox.drain()
    return list(sandbox.control("GET", f"/mailbox?recipient={recipient}")["messages"])


@pytest.fixture
def news(sandbox: SandboxClient, ses: SesClient) -> str:
    # The sandbox keeps the copies delivered to verified, non-simulator recipients.
    sandbox.ses.verify_domain_identity(Domain="readers.example")
    sandbox.sesv2.create_email_template(
        TemplateName="news",
        TemplateContent={"Subject": "News for {{name}}", "Text": "Hello {{name}}"},
    )
    return "news"


def campaign(mailer: Mailer, key: str) -> dict[RunOutcome, int]:
    mailer.enqueue_bulk(
        "news",
        [BulkDestination(READER, {"name": "Reader"})],
        sender=SENDER,
        key=key,
        list_name="news",
    )
    return OutboxRunner(mailer, idle=0.01).run(until_empty=True).outcomes


def test_a_campaign_unsubscribed_by_one_click_skips_the_recipient_but_not_their_receipts(
    sandbox: SandboxClient, ses: SesClient, store: Store, site: Site, news: str
) -> None:
    mailer = Mailer(store, ses, settings=site.settings, pacer=Pacer(1000))
    assert campaign(mailer, "march") == {"sent": 1}
    [letter] = mailbox(sandbox, READER)
    mail = received(sandbox, READER)
    assert mail["List-Unsubscribe-Post"] == ONE_CLICK
    link = link_of(mail["List-Unsubscribe"])
    assert link.startswith(f"{site.base}/unsubscribe/")

    # A GET (a link scanner) shows a button and changes nothing.
    status, page = http("GET", link)
    assert status == 200
    assert '<form method="post">' in page
    assert count_unsubscribes(store) == 0
    # A tampered link, and one signed by another key, are refused and change nothing.
    tampered = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    assert http("POST", tampered, b"List-Unsubscribe=One-Click")[0] == 404
    foreign = Mailer(
        store,
        ses,
        settings=Settings(
            unsubscribe_url=f"{site.base}/unsubscribe", unsubscribe_secret="another-key-entirely"
        ),
    )
    from courrier.unsubscribe import links_for

    other = links_for(foreign.settings)
    assert other is not None
    assert http("POST", other.link(READER, "news"), b"List-Unsubscribe=One-Click")[0] == 404
    # A POST without the one-click body is not an unsubscribe.
    assert http("POST", link, b"something=else")[0] == 400
    assert count_unsubscribes(store) == 0

    # The mail client's one-click POST unsubscribes at once.
    status, page = http("POST", link, b"List-Unsubscribe=One-Click")
    assert status == 200, page
    [entry] = list_unsubscribes(store)
    assert (entry.address, entry.list_name, entry.source) == (READER, "news", "one-click")
    assert http("POST", link, b"List-Unsubscribe=One-Click")[0] == 200  # again: no change
    assert count_unsubscribes(store) == 1

    # The next campaign skips them, recorded as unsubscribed.
    assert campaign(mailer, "april") == {"failed": 1}  # the outbox row: nobody to send to
    assert len(mailbox(sandbox, READER)) == 1
    latest = store.message(find_messages(store, limit=1)[0].id)
    assert latest is not None
    assert latest.status == MessageStatus.SUPPRESSED
    assert [r.status for r in latest.recipients] == [RecipientStatus.UNSUBSCRIBED]

    # A receipt (transactional) still goes, without unsubscribe headers.
    result = mailer.send(Message(SENDER, [READER], "Your receipt", text="Thanks"))
    assert result.sent
    assert len(mailbox(sandbox, READER)) == 2
    assert letter["id"] != mailbox(sandbox, READER)[-1]["id"]


def test_every_bulk_path_carries_the_recipients_own_link(
    sandbox: SandboxClient, ses: SesClient, store: Store, news: str
) -> None:
    settings = Settings(
        unsubscribe_url="https://mail.example.com/unsubscribe",
        unsubscribe_secret=SECRET,
        unsubscribe_mailto="unsubscribe@example.com",
    )
    mailer = Mailer(store, ses, settings=settings, pacer=Pacer(1000))
    one, two, three = (f"{n}@readers.example" for n in ("one", "two", "three"))
    mailer.send(Message(SENDER, [one], "Raw", text="x", bulk=True, list_name="raw"))
    mailer.send(TemplateMessage(SENDER, "news", [two], {"name": "T"}, bulk=True))
    mailer.send_bulk("news", [BulkDestination(three, {"name": "B"})], sender=SENDER)
    links = {}
    for address in (one, two, three):
        mail = received(sandbox, address)
        assert mail["List-Unsubscribe-Post"] == ONE_CLICK, address
        header = str(mail["List-Unsubscribe"])
        assert "<mailto:unsubscribe@example.com?subject=unsubscribe" in header
        links[address] = link_of(header)
    assert len(set(links.values())) == 3
    assert all(link.startswith("https://mail.example.com/unsubscribe/") for link in links.values())


def test_transactional_mail_carries_no_unsubscribe_headers(
    sandbox: SandboxClient, ses: SesClient, store: Store, news: str
) -> None:
    mailer = Mailer(store, ses, pacer=Pacer(1000))  # nothing configured: still sends
    mailer.send(Message(SENDER, [READER], "Receipt", text="x"))
    assert "List-Unsubscribe" not in received(sandbox, READER)


def test_a_bulk_send_without_a_way_to_unsubscribe_is_refused_before_anything_is_recorded(
    sandbox: SandboxClient, ses: SesClient, store: Store, news: str
) -> None:
    mailer = Mailer(store, ses, pacer=Pacer(1000))
    with pytest.raises(UnsubscribeRequired, match="unsubscribe_url"):
        mailer.send(Message(SENDER, [READER], "News", text="x", bulk=True))
    with pytest.raises(UnsubscribeRequired):
        mailer.send_bulk("news", [BulkDestination(READER)], sender=SENDER)
    with pytest.raises(UnsubscribeRequired):
        mailer.enqueue_bulk("news", [BulkDestination(READER)], sender=SENDER)
    assert find_messages(store) == []
    assert mailbox(sandbox, READER) == []


def test_lists_managed_elsewhere_may_send_bulk_mail_with_their_own_header(
    sandbox: SandboxClient, ses: SesClient, store: Store, news: str
) -> None:
    mailer = Mailer(
        store, ses, settings=Settings(unsubscribe_managed_elsewhere=True), pacer=Pacer(1000)
    )
    own = {"List-Unsubscribe": "<https://lists.example.com/u/1>"}
    mailer.send(Message(SENDER, [READER], "News", text="x", bulk=True, headers=own))
    assert received(sandbox, READER)["List-Unsubscribe"] == own["List-Unsubscribe"]


def test_a_bulk_message_to_several_recipients_cannot_carry_one_link(
    ses: SesClient, store: Store
) -> None:
    settings = Settings(unsubscribe_url="https://x.example/u", unsubscribe_secret=SECRET)
    mailer = Mailer(store, ses, settings=settings, pacer=Pacer(1000))
    with pytest.raises(InvalidMessage, match="one recipient"):
        mailer.send(Message(SENDER, [READER, "b@example.com"], "News", text="x", bulk=True))


def test_an_unsubscribe_from_every_list_stops_each_list_and_one_list_only_its_own(
    sandbox: SandboxClient, ses: SesClient, store: Store
) -> None:
    from courrier.store.unsubscribes import record_unsubscribe

    settings = Settings(unsubscribe_url="https://x.example/u", unsubscribe_secret=SECRET)
    mailer = Mailer(store, ses, settings=settings, pacer=Pacer(1000))
    left_news, left_all = (f"success+{n}@simulator.amazonses.com" for n in ("news", "all"))
    record_unsubscribe(store, left_news, "news", "manual")
    record_unsubscribe(store, left_all.upper(), None, "manual")

    def sent(address: str, list_name: str | None) -> bool:
        message = Message(SENDER, [address], "x", text="x", bulk=True, list_name=list_name)
        return mailer.send(message).sent

    assert not sent(left_news, "news")
    assert sent(left_news, "offers")
    assert sent(left_news, None)
    assert not sent(left_all, "news")
    assert not sent(left_all, None)
    assert mailer.send(Message(SENDER, [left_all], "receipt", text="x")).sent


def test_send_bulk_skips_who_left_the_list_and_records_them_unsubscribed(
    sandbox: SandboxClient, ses: SesClient, store: Store, news: str
) -> None:
    from courrier.store.unsubscribes import record_unsubscribe

    settings = Settings(unsubscribe_url="https://x.example/u", unsubscribe_secret=SECRET)
    mailer = Mailer(store, ses, settings=settings, pacer=Pacer(1000))
    stays, leaves = "stays@readers.example", "leaves@readers.example"
    record_unsubscribe(store, leaves, "news", "one-click")
    destinations = [BulkDestination(a, {"name": "x"}) for a in (stays, leaves)]
    result = mailer.send_bulk("news", destinations, sender=SENDER, list_name="news")
    assert [r.status for r in result.results] == [MessageStatus.SENT, MessageStatus.SUPPRESSED]
    assert [r.status for r in result.results[1].recipients] == [RecipientStatus.UNSUBSCRIBED]
    skipped = store.message(result.results[1].id)
    assert skipped is not None
    assert [r.status for r in skipped.recipients] == [RecipientStatus.UNSUBSCRIBED]
    assert len(mailbox(sandbox, stays)) == 1
    assert mailbox(sandbox, leaves) == []
    # Another list still reaches them.
    assert mailer.send_bulk("news", destinations[1:], sender=SENDER, list_name="offers").sent == 1
