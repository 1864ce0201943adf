"""The dashboard over HTTP: pages, changes, escaping, CSRF, the token, binding rules."""

from __future__ import annotations

import csv
import io
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Route
from starlette.testclient import TestClient

from courrier.aws.ses import SesClient
from courrier.cli import main
from courrier.errors import ConfigurationError
from courrier.settings import Settings
from courrier.statuses import MessageStatus, RecipientStatus
from courrier.store import Store
from courrier.store.guard import record_doctor_run
from courrier.web import check_binding, make_app
from tests.conftest import SandboxClient

SCRIPT = "<script>alert(1)</script>"
LOOPBACK = "http://127.0.0.1:8025"


def client_for(store: Store, **kwargs: Any) -> TestClient:
    return TestClient(make_app(store, Settings(database_url="unused"), **kwargs), base_url=LOOPBACK)


@pytest.fixture
def web(store: Store) -> Iterator[TestClient]:
    with client_for(store) as client:
        client.get("/")  # sets the CSRF cookie
        yield client


def csrf(client: TestClient) -> str:
    return str(client.cookies["courrier_csrf"])


def hostile(store: Store) -> int:
    message = store.record_message(
        sender="news@example.com",
        subject=f"Hello {SCRIPT}",
        configuration_set=None,
        recipients=[(f'"{SCRIPT}"@example.com', "to", "pending")],
    )
    store.finish_send(message, status=MessageStatus.SENT, ses_message_id="ses-<b>bold</b>")
    store.suppress(f'"{SCRIPT}"@example.org', reason="manual", source="manual", detail=SCRIPT)
    return message


def test_every_page_escapes_what_it_shows(web: TestClient, store: Store) -> None:
    message = hostile(store)
    record_doctor_run(store, "warning", [{"check": SCRIPT, "status": "warning", "detail": SCRIPT}])
    pages = [
        "/",
        f"/messages?q={SCRIPT}",
        "/messages?q=example.com",
        f"/messages/{message}",
        "/suppressions",
        f"/suppressions/remove?address=%22{SCRIPT}%22@example.org",
    ]
    for page in pages:
        response = web.get(page)
        assert response.status_code == 200, page
        assert "<script>" not in response.text, page
        assert "<b>bold</b>" not in response.text, page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in web.get(f"/messages/{message}").text
    assert "&lt;script&gt;" in web.get("/suppressions").text


def test_security_headers(store: Store) -> None:
    with client_for(store) as web:
        headers = web.get("/").headers
        assert "default-src 'none'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        cookie = headers["set-cookie"].lower()
        assert cookie.startswith("courrier_csrf=")
        assert "samesite=strict" in cookie
        assert "httponly" in cookie
        assert "set-cookie" not in web.get("/").headers  # one token per browser


def post_routes(client: TestClient) -> list[str]:
    return sorted(
        route.path
        for route in client.app.routes  # type: ignore[attr-defined]
        if isinstance(route, Route) and "POST" in (route.methods or ())
    )


def test_every_change_is_a_post_that_needs_the_csrf_token(web: TestClient, store: Store) -> None:
    store.suppress("keep@example.com", reason="manual", source="manual")
    routes = post_routes(web)
    assert routes == [
        "/account/sync",
        "/guard/reset",
        "/login",
        "/suppressions",
        "/suppressions/remove",
    ]
    form = {"address": "keep@example.com", "reason": "manual", "token": "x", "pull": "on"}
    for path in routes:
        assert web.post(path, data=form).status_code == 403, path
        assert web.post(path, data={**form, "csrf": "forged"}).status_code == 403, path
        crossed = web.post(
            path, data={**form, "csrf": csrf(web)}, headers={"Origin": "https://evil.example"}
        )
        assert crossed.status_code == 403, path
    assert [s.address for s in store.suppressions()] == ["keep@example.com"]
    web.get("/suppressions/remove?address=keep@example.com")  # a GET changes nothing
    assert [s.address for s in store.suppressions()] == ["keep@example.com"]
    assert web.request("DELETE", "/suppressions").status_code == 405


def test_add_remove_and_export(web: TestClient, store: Store) -> None:
    added = web.post(
        "/suppressions",
        data={
            "csrf": csrf(web),
            "address": "Zoë <Zoe@Bücher.example>",
            "reason": "complaint",
            "detail": '=HYPERLINK("x")',
        },
    )
    assert added.status_code == 200
    assert "suppressed zoe@xn--bcher-kva.example" in added.text
    [entry] = store.suppressions()
    assert (entry.address, entry.reason, entry.source) == (
        "zoe@xn--bcher-kva.example",
        "complaint",
        "manual",
    )
    bad = web.post("/suppressions", data={"csrf": csrf(web), "address": "not an address"})
    assert bad.status_code == 400
    assert "not an address" in bad.text
    wrong_reason = web.post(
        "/suppressions", data={"csrf": csrf(web), "address": "a@example.com", "reason": "x"}
    )
    assert wrong_reason.status_code == 400
    exported = web.get("/suppressions.csv?reason=complaint")
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0][0] == "address"
    assert rows[1][0] == "zoe@xn--bcher-kva.example"
    assert rows[1][5] == '\'=HYPERLINK("x")'  # never a live formula in a spreadsheet
    confirm = web.get("/suppressions/remove?address=zoe@xn--bcher-kva.example")
    assert "Remove zoe@xn--bcher-kva.example" in confirm.text
    removed = web.post(
        "/suppressions/remove", data={"csrf": csrf(web), "address": "zoe@xn--bcher-kva.example"}
    )
    assert "removed zoe@xn--bcher-kva.example" in removed.text
    assert store.suppressions() == []
    assert web.get("/suppressions/remove?address=gone@example.com").status_code == 404


def test_message_search(web: TestClient, store: Store) -> None:
    ids = []
    for n, (subject, to) in enumerate(
        [("Invoice", "ann@example.com"), ("Newsletter", "bob@example.org"), ("Reset", "cy@x.io")]
    ):
        record = store.record_message(
            sender="a@example.com",
            subject=subject,
            configuration_set=None,
            recipients=[(to, "to", "pending")],
        )
        store.finish_send(record, status=MessageStatus.SENT, ses_message_id=f"0100-abc-{n}")
        ids.append(record)
    store.finish_send(ids[2], status=MessageStatus.FAILED, error="boom")

    def found(query: str) -> list[str]:
        page = web.get(f"/messages?{query}").text
        return [str(i) for i in ids if f'data-message="{i}"' in page]

    assert found("q=bob@") == [str(ids[1])]
    assert found("q=invoice") == [str(ids[0])]
    assert found("q=0100-abc-2") == [str(ids[2])]
    assert found("status=failed") == [str(ids[2])]
    assert found("q=%25") == []  # a LIKE wildcard is matched literally
    assert web.get("/messages/999999").status_code == 404


def test_the_status_filter_offers_every_recipient_status(web: TestClient, store: Store) -> None:
    record = store.record_message(
        sender="a@example.com",
        subject="News",
        configuration_set=None,
        recipients=[("left@example.com", "to", RecipientStatus.UNSUBSCRIBED)],
        status=MessageStatus.SUPPRESSED,
    )
    page = web.get("/messages").text
    assert all(f'<option value="{status}"' in page for status in RecipientStatus)
    filtered = web.get("/messages", params={"status": "unsubscribed"}).text
    assert f'data-message="{record}"' in filtered
    assert '<option value="unsubscribed" selected>' in filtered


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(q=st.text(max_size=30), status=st.text(max_size=12), offset=st.text(max_size=6))
def test_search_never_fails(web: TestClient, q: str, status: str, offset: str) -> None:
    response = web.get("/messages", params={"q": q, "status": status, "offset": offset})
    assert response.status_code == 200
    listed = web.get("/suppressions", params={"q": q, "reason": status})
    assert listed.status_code == 200
    assert web.get("/suppressions/remove", params={"address": q}).status_code == 404
    removed = web.post("/suppressions/remove", data={"csrf": csrf(web), "address": q})
    assert removed.status_code == 200
    added = web.post("/suppressions", data={"csrf": csrf(web), "address": q, "reason": status})
    assert added.status_code in (200, 400)


def test_huge_offsets_and_nul_bytes(web: TestClient) -> None:
    assert web.get("/messages", params={"offset": "9" * 40}).status_code == 200
    assert web.get("/messages", params={"q": "a\x00b", "status": "\x00"}).status_code == 200


def test_token_guards_every_page(store: Store) -> None:
    with client_for(store, token="s3cret-token") as web:
        first = web.get("/messages", follow_redirects=False)
        assert first.status_code == 303
        assert first.headers["location"] == "/login?next=/messages"
        assert web.get("/static/courrier.css").status_code == 200
        assert web.get("/metrics").status_code == 401
        assert (
            web.get("/metrics", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
        )
        assert web.post("/suppressions", data={"csrf": csrf(web)}).status_code == 401
        assert web.post("/login", data={"csrf": csrf(web), "token": "wrong"}).status_code == 401
        signed = web.post(
            "/login",
            data={"csrf": csrf(web), "token": "s3cret-token", "next": "//evil.example/"},
            follow_redirects=False,
        )
        assert signed.headers["location"] == "/"
        assert "s3cret-token" not in signed.headers["set-cookie"]
        assert web.get("/messages").status_code == 200


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::", "example.com"])
def test_no_token_no_binding_beyond_loopback(host: str) -> None:
    with pytest.raises(ConfigurationError, match="set a token"):
        check_binding(host, None)
    check_binding(host, "token")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_needs_no_token(host: str) -> None:
    check_binding(host, None)


def test_cli_refuses_to_start_without_a_token(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["--database-url", f"sqlite:///{tmp_path}/c.db", "dashboard", "--host", "0.0.0.0"],
    )
    assert result.exit_code == 2
    assert "set a token" in result.output


def test_account_page_and_sync(env: SandboxClient, store: Store) -> None:
    env.set_account(production=True)
    env.sesv2.put_suppressed_destination(EmailAddress="listed@example.net", Reason="BOUNCE")
    store.suppress("local@example.com", reason="bounce", source="feedback")
    app = make_app(store, Settings(database_url="unused"), ses=SesClient)
    with TestClient(app, base_url=LOOPBACK) as web:
        page = web.get("/account")
        assert 'data-account="enforcement_status">HEALTHY' in page.text
        token = csrf(web)
        dry = web.post(
            "/account/sync", data={"csrf": token, "pull": "on", "push": "on", "dry_run": "on"}
        )
        assert "Dry run: would pull 1" in dry.text
        assert len(store.suppressions()) == 1
        done = web.post("/account/sync", data={"csrf": token, "pull": "on", "push": "on"})
        assert "Pulled 1" in done.text
        assert "pushed 1" in done.text
        assert {s.address for s in store.suppressions()} == {
            "listed@example.net",
            "local@example.com",
        }
        env.set_account(production=False)
        refused = web.post("/account/sync", data={"csrf": token, "push": "on"})
        assert refused.status_code == 200
        assert "sync" in refused.text


def test_guard_reset_from_the_overview(web: TestClient, store: Store) -> None:
    from courrier.store.guard import open_trip, record_trip

    record_trip(store, rate="bounce_rate", value=0.06, threshold=0.04, detail="over", figures={})
    page = web.get("/")
    assert 'data-guard-state="tripped"' in page.text
    web.post("/guard/reset", data={"csrf": csrf(web), "note": "cleaned the list"})
    assert open_trip(store) is None


@pytest.fixture
def silent_ses(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[socket.socket]]:
    """An SES endpoint that accepts connections and never answers; yields what it accepted."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{listener.getsockname()[1]}")
    for name, value in (("AWS_ACCESS_KEY_ID", "x"), ("AWS_SECRET_ACCESS_KEY", "x")):
        monkeypatch.setenv(name, value)
    try:
        yield accepted
    finally:
        listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() a close alone leaves waiting
        listener.close()
        thread.join(5)
        for connection in accepted:
            connection.close()


def test_an_ses_that_never_answers_holds_back_one_page_a_minute(
    store: Store, silent_ses: list[socket.socket]
) -> None:
    settings = Settings(database_url="unused", region="eu-west-1", read_timeout=0.5)
    with TestClient(make_app(store, settings), base_url=LOOPBACK) as web:
        first = web.get("/")
        assert first.status_code == 200
        assert "view is not available" in first.text
        asked = len(silent_ses)
        assert asked >= 1
        for page in ("/", "/account", "/", "/account"):
            response = web.get(page)
            assert response.status_code == 200, page
            assert "view is not available" in response.text, page
        assert len(silent_ses) == asked
