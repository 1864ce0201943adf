"""The suppressions page of one tenant (``?tenant=NAME``): its own entries and, marked, the
account-wide ones, paged by keys in the database; the export and the removal follow."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import event, insert
from starlette.testclient import TestClient

from courrier.settings import Settings
from courrier.store import Store
from courrier.store.tables import SuppressionRow, TenantSuppressionRow
from courrier.web import make_app

LOOPBACK = "http://127.0.0.1"
#: (address, scope) in page order: by address, the account's entry before the tenant's own.
Key = tuple[str, str]


def address(n: int) -> str:
    return f"r{n:04d}@d{n % 3}.example"


@pytest.fixture
def lists(store: Store) -> Store:
    """Account-wide: every even n below 200; acme's own: every n divisible by 3 below 240
    (both lists for n divisible by 6); globex's own: n below 40."""
    now = dt.datetime.now(dt.UTC)

    def row(n: int, reason: str) -> dict[str, Any]:
        return {
            "address": address(n),
            "reason": reason,
            "source": "feedback",
            "first_seen": now,
            "last_seen": now,
        }

    with store.transaction() as session:
        session.execute(insert(SuppressionRow), [row(n, "bounce") for n in range(0, 200, 2)])
        session.execute(
            insert(TenantSuppressionRow),
            [{**row(n, "complaint"), "tenant": "acme"} for n in range(0, 240, 3)]
            + [{**row(n, "complaint"), "tenant": "globex"} for n in range(40)],
        )
    return store


@pytest.fixture
def web(lists: Store) -> Iterator[TestClient]:
    with TestClient(make_app(lists, Settings(database_url="unused")), base_url=LOOPBACK) as client:
        client.get("/suppressions")  # sets the CSRF cookie
        yield client


def expected(text: str = "", reason: str = "") -> list[Key]:
    keys = [(address(n), "account") for n in range(0, 200, 2)]
    keys += [(address(n), "tenant") for n in range(0, 240, 3)]
    return sorted(
        (a, s)
        for a, s in keys
        if text in a and reason in ("", "bounce" if s == "account" else "complaint")
    )


def listed(page: str) -> list[Key]:
    found = re.findall(r'<tr data-address="([^"]*)" data-scope="([^"]*)">', page)
    return [(html.unescape(a), s) for a, s in found]


def link(page: str, name: str) -> str | None:
    found = re.search(rf'<a href="([^"]*)" id="{name}">', page)
    return html.unescape(found.group(1)) if found else None


def walk(web: TestClient, start: str, direction: str) -> tuple[list[list[Key]], str]:
    pages: list[list[Key]] = []
    url: str | None = start
    last = ""
    while url is not None:
        response = web.get(url if url.startswith("/") else f"/suppressions{url}")
        assert response.status_code == 200
        last = response.text
        pages.append(listed(last))
        url = link(last, direction)
        assert len(pages) <= 10, "the pages do not end"
    return pages, last


@pytest.mark.parametrize(("text", "reason"), [("", ""), ("r01", ""), ("", "complaint")])
def test_a_tenants_pages_forwards_and_backwards(web: TestClient, text: str, reason: str) -> None:
    wanted = expected(text, reason)
    assert len(wanted) > 50
    start = f"/suppressions?{urlencode({'q': text, 'reason': reason, 'tenant': 'acme'})}"
    forwards, last_page = walk(web, start, "next")
    assert [k for page in forwards for k in page] == wanted  # no duplicate, no gap
    assert f"{len(wanted)} entries" in last_page
    backwards, first_page = walk(web, link(last_page, "previous") or "", "previous")
    assert [k for page in reversed(backwards) for k in page] + forwards[-1] == wanted
    assert link(first_page, "previous") is None


def test_the_page_marks_each_entry_and_has_the_field(web: TestClient) -> None:
    page = web.get("/suppressions", params={"tenant": "acme", "q": "r0006@"}).text
    assert listed(page) == [(address(6), "account"), (address(6), "tenant")]
    assert "<td>account-wide</td>" in page
    assert "<td>acme only</td>" in page
    assert '<input name="tenant" value="acme"' in page
    assert "globex" not in page
    # Without a tenant: the account-wide list, as before.
    plain = web.get("/suppressions", params={"q": "r000"}).text
    assert 'data-address="r0003@' not in plain
    assert 'data-address="r0002@' in plain
    assert "data-scope" not in plain
    assert web.get("/suppressions", params={"tenant": "a b"}).status_code == 400
    assert web.get("/suppressions.csv", params={"tenant": "a/b"}).status_code == 400


def test_the_pages_are_queried_a_page_at_a_time(web: TestClient, lists: Store) -> None:
    statements: list[str] = []

    def seen(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(lists.engine, "before_cursor_execute", seen)
    try:
        web.get("/suppressions", params={"tenant": "acme"})
    finally:
        event.remove(lists.engine, "before_cursor_execute", seen)
    [paged] = [s for s in statements if "UNION ALL" in s and "ORDER BY" in s]
    assert "LIMIT" in paged
    assert "tenant_suppressions.tenant =" in paged


def test_the_export_honours_the_tenant(web: TestClient) -> None:
    exported = web.get("/suppressions.csv", params={"tenant": "acme", "reason": "complaint"})
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0][-1] == "tenant"
    assert [(r[0], r[-1]) for r in rows[1:]] == [(a, "acme") for a, _ in expected("", "complaint")]
    every = list(csv.reader(io.StringIO(web.get("/suppressions.csv?tenant=acme").text)))[1:]
    assert [(r[0], "tenant" if r[-1] else "account") for r in every] == expected()
    plain = list(csv.reader(io.StringIO(web.get("/suppressions.csv").text)))
    assert plain[0][-1] == "detail"  # the account's export keeps its columns


def test_a_tenants_own_entry_is_removed_for_it_only(web: TestClient, lists: Store) -> None:
    target = address(6)  # on the account's list and acme's own
    confirm = web.get("/suppressions/remove", params={"address": target, "tenant": "acme"})
    assert confirm.status_code == 200
    assert "from acme's own suppression list" in html.unescape(confirm.text)
    assert '<input type="hidden" name="tenant" value="acme">' in confirm.text
    missing = {"address": address(2), "tenant": "acme"}  # account-wide only
    assert web.get("/suppressions/remove", params=missing).status_code == 404
    token = str(web.cookies["courrier_csrf"])
    done = web.post(
        "/suppressions/remove",
        data={"csrf": token, "address": target, "tenant": "acme"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert "tenant=acme" in done.headers["location"]
    assert [s.address for s in lists.suppressions(tenant="acme")].count(target) == 0
    assert target in lists.suppressed_among([target])  # the account's entry stays


def test_a_tenants_page_lists_its_own_unsubscribes(web: TestClient, lists: Store) -> None:
    from courrier.store.unsubscribes import record_unsubscribe

    record_unsubscribe(lists, "left-acme@example.org", "news", "one-click", tenant="acme")
    record_unsubscribe(lists, "left-all@example.org", None, "page")
    section = web.get("/suppressions", params={"tenant": "acme"}).text.split('id="unsubscribes"')[1]
    assert "<td>left-acme@example.org</td><td>news</td>" in section
    assert "left-all@example.org" not in section
    every = web.get("/suppressions").text.split('id="unsubscribes"')[1]
    assert "left-acme@example.org" in every
    assert "left-all@example.org" in every
