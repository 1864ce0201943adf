"""DNS rebinding: without a token the dashboard answers only to loopback names.

A page on ``attacker.example`` that re-points its name at 127.0.0.1 is same-origin with the
dashboard as far as the browser knows: it sends ``Host: attacker.example:PORT`` and a matching
``Origin``. Only the ``Host`` check stands between it and the pages and their POSTs.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from courrier.settings import Settings
from courrier.store import Store
from courrier.store.guard import open_trip, record_trip
from courrier.web import make_app
from tests.web.test_dashboard import csrf, post_routes

LEGITIMATE = [
    "127.0.0.1",
    "127.0.0.1:8025",
    "localhost",
    "localhost:8025",
    "LocalHost:8025",
    "[::1]",
    "[::1]:8025",
]
FORGED = [
    "attacker.example:8025",
    "attacker.example",
    "127.0.0.1.attacker.example:8025",
    "localhost.attacker.example",
    "localhost.:8025",
    "[::1].attacker.example",
    "127.0.0.1:8025@attacker.example",
    "",
]
PAGES = [
    "/",
    "/messages",
    "/messages/1",
    "/suppressions",
    "/suppressions.csv",
    "/suppressions/remove?address=keep@example.com",
    "/account",
    "/login",
    "/metrics",
    "/static/courrier.css",
]


@pytest.fixture
def web(store: Store) -> Iterator[TestClient]:
    app = make_app(store, Settings(database_url="unused"))
    with TestClient(app, base_url="http://127.0.0.1:8025") as client:
        client.get("/messages")  # sets the CSRF cookie, as a first visit would
        yield client


@pytest.mark.parametrize("host", FORGED)
def test_a_forged_host_reads_no_page(web: TestClient, store: Store, host: str) -> None:
    store.suppress("keep@example.com", reason="manual", source="manual")
    for page in PAGES:
        response = web.get(page, headers={"Host": host, "Origin": f"http://{host}"})
        assert response.status_code == 421, page
        assert "keep@example.com" not in response.text, page
        assert "answers only to 127.0.0.1, localhost or [::1]" in response.text
        assert response.headers["x-frame-options"] == "DENY"
        assert "set-cookie" not in response.headers


@pytest.mark.parametrize("host", FORGED)
def test_a_forged_host_changes_nothing(web: TestClient, store: Store, host: str) -> None:
    store.suppress("keep@example.com", reason="manual", source="manual")
    record_trip(store, rate="bounce_rate", value=0.06, threshold=0.04, detail="over", figures={})
    form = {"csrf": csrf(web), "address": "keep@example.com", "reason": "manual", "push": "on"}
    for path in post_routes(web):
        response = web.post(path, data=form, headers={"Host": host, "Origin": f"http://{host}"})
        assert response.status_code == 421, path
    assert [s.address for s in store.suppressions()] == ["keep@example.com"]
    assert open_trip(store) is not None


@pytest.mark.parametrize("host", LEGITIMATE)
def test_loopback_names_work(web: TestClient, store: Store, host: str) -> None:
    store.suppress("keep@example.com", reason="manual", source="manual")
    page = web.get("/suppressions", headers={"Host": host})
    assert page.status_code == 200
    assert 'data-address="keep@example.com"' in page.text
    removed = web.post(
        "/suppressions/remove",
        data={"csrf": csrf(web), "address": "keep@example.com"},
        headers={"Host": host, "Origin": f"http://{host}"},
    )
    assert "removed keep@example.com" in removed.text
    assert store.suppressions() == []


def test_a_loopback_host_with_another_origin_is_still_refused(web: TestClient) -> None:
    crossed = web.post(
        "/guard/reset",
        data={"csrf": csrf(web)},
        headers={"Host": "127.0.0.1:8025", "Origin": "http://attacker.example:8025"},
    )
    assert crossed.status_code == 403


def test_with_a_token_a_rebound_name_has_no_session(store: Store) -> None:
    """With a token any Host is served (a proxy may name it), but a rebinding page is another
    origin to the browser: it holds neither the session cookie nor the token."""
    store.suppress("keep@example.com", reason="manual", source="manual")
    app = make_app(store, Settings(database_url="unused"), token="s3cret-token")
    with TestClient(app, base_url="http://attacker.example:8025") as web:
        web.get("/login")
        origin = {"Origin": "http://attacker.example:8025"}
        for page in PAGES:
            response = web.get(page, headers=origin, follow_redirects=False)
            assert response.status_code in (200, 303, 401), page
            assert "keep@example.com" not in response.text, page
        for path in post_routes(web):
            if path != "/login":
                posted = web.post(path, data={"csrf": csrf(web)}, headers=origin)
                assert posted.status_code == 401, path
        assert len(store.suppressions()) == 1
        signed = web.post("/login", data={"csrf": csrf(web), "token": "s3cret-token"})
        assert signed.status_code == 200  # behind a proxy, the token still opens it
