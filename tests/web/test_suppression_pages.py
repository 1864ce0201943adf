"""The suppressions page searches and pages in the database; the CSV export streams.

A few thousand entries whose addresses sort differently byte-wise and under a locale
(PostgreSQL's collation): walking the pages forwards and backwards, a search, a reason, and
the export each give every matching entry once, in the store's own address order.
"""

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
from sqlalchemy import insert
from starlette.testclient import TestClient

from courrier.settings import Settings
from courrier.store import Store, suppression_list
from courrier.store.suppression_list import SuppressionPage, iter_suppressions
from courrier.store.tables import SuppressionRow
from courrier.web import make_app

COUNT = 3000
REASONS = ("bounce", "complaint", "manual")


def address(n: int) -> str:
    local = ("user", "a.b+", "x-y", "_under", "Ünï")[n % 5]  # punctuation sorts by locale
    return f"{local}{n}@d{n % 7}.example".lower()


@pytest.fixture
def many(store: Store) -> Store:
    now = dt.datetime.now(dt.UTC)
    rows = [
        {
            "address": address(n),
            "reason": REASONS[n % 3],
            "source": "manual",
            "detail": f"=n{n}" if n % 100 == 0 else None,
            "first_seen": now,
            "last_seen": now,
        }
        for n in range(COUNT)
    ]
    with store.transaction() as session:
        session.execute(insert(SuppressionRow), rows)
    return store


@pytest.fixture
def web(many: Store) -> Iterator[TestClient]:
    app = make_app(many, Settings(database_url="unused"))
    with TestClient(app, base_url="http://127.0.0.1:8025") as client:
        yield client


def listed(page: str) -> list[str]:
    return [html.unescape(a) for a in re.findall(r'<tr data-address="([^"]*)">', page)]


def link(page: str, name: str) -> str | None:
    found = re.search(rf'<a href="([^"]*)" id="{name}">', page)
    return html.unescape(found.group(1)) if found else None


def walk(web: TestClient, start: str, direction: str) -> tuple[list[list[str]], str]:
    pages: list[list[str]] = []
    url: str | None = start
    last = ""
    while url is not None:
        response = web.get(url if url.startswith("/") else f"/suppressions{url}")
        assert response.status_code == 200
        last = response.text
        pages.append(listed(last))
        url = link(last, direction)
        assert len(pages) <= COUNT // 50 + 2, "the pages do not end"
    return pages, last


def in_store_order(store: Store, text: str = "", reason: str = "") -> list[str]:
    return [
        s.address for s in store.suppressions(reason=reason or None) if text.lower() in s.address
    ]


@pytest.mark.parametrize(
    ("text", "reason"), [("", ""), ("", "complaint"), ("+", ""), ("D3.EX", "bounce"), ("9@", "")]
)
def test_pages_forwards_and_backwards(web: TestClient, many: Store, text: str, reason: str) -> None:
    expected = in_store_order(many, text, reason)
    assert len(expected) > 50
    start = f"/suppressions?{urlencode({'q': text, 'reason': reason})}"
    forwards, last_page = walk(web, start, "next")
    assert [a for page in forwards for a in page] == expected  # no duplicate, no gap
    assert all(len(page) == 50 for page in forwards[:-1])
    assert f"{len(expected)} entries" in last_page
    assert link(last_page, "next") is None
    backwards, first_page = walk(web, link(last_page, "previous") or "", "previous")
    seen = [a for page in reversed(backwards) for a in page] + forwards[-1]
    assert seen == expected
    assert link(first_page, "previous") is None


def test_a_page_key_that_names_no_row(web: TestClient, many: Store) -> None:
    expected = in_store_order(many)
    key = expected[100]
    page = web.get("/suppressions", params={"after": key[:-1] + "\uffff"})
    assert listed(page.text)[0] == expected[101]
    assert listed(web.get("/suppressions", params={"after": "\uffff" * 400}).text) == []


def test_the_export_streams_every_match_in_order(web: TestClient, many: Store) -> None:
    exported = web.get("/suppressions.csv")
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0] == ["address", "reason", "source", "first_seen", "last_seen", "detail"]
    assert [r[0] for r in rows[1:]] == in_store_order(many)
    assert {r[5] for r in rows[1:] if r[5]} == {f"'=n{n}" for n in range(0, COUNT, 100)}
    complaints = web.get("/suppressions.csv", params={"reason": "complaint", "q": "user"})
    wanted = in_store_order(many, "user", "complaint")
    assert [r[0] for r in csv.reader(io.StringIO(complaints.text))][1:] == wanted


def test_the_export_reads_in_bounded_batches(many: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    sizes: list[int] = []
    real = suppression_list.suppression_page

    def counted(store: Store, **kwargs: Any) -> SuppressionPage:
        sizes.append(kwargs["size"])
        return real(store, **kwargs)

    monkeypatch.setattr(suppression_list, "suppression_page", counted)
    entries = iter_suppressions(many, batch=700)
    first = next(entries)
    assert sizes == [700]  # one batch read, not the whole list
    rest = [e.address for e in entries]
    assert [first.address, *rest] == in_store_order(many)
    assert sizes == [700] * (COUNT // 700 + 1)


def test_the_remove_confirmation_finds_one_entry(web: TestClient, many: Store) -> None:
    target = address(1234)
    confirm = web.get("/suppressions/remove", params={"address": target.upper()})
    assert confirm.status_code == 200
    assert f"Remove {html.escape(target)} from" in confirm.text
    assert web.get("/suppressions/remove", params={"address": target[1:]}).status_code == 404


def test_the_count_stops_past_its_bound(
    web: TestClient, many: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert suppression_list.count_suppressions(many, up_to=COUNT) == COUNT
    assert suppression_list.count_suppressions(many, up_to=100) == 101
    assert suppression_list.count_suppressions(many, text="+", up_to=100) == 101
    monkeypatch.setattr("courrier.web.app.COUNTED", 1000)
    assert "more than 1,000 entries" in web.get("/suppressions").text
    complaints = len(in_store_order(many, reason="complaint"))
    assert complaints == COUNT // 3
    assert f"{complaints} entries" in web.get("/suppressions?reason=complaint").text
