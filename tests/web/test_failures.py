"""No page answers 500 because AWS or the store fails, nor for any path or query string.

AWS absent (no region, no credentials), unreachable (a port that refuses connections) or
refusing (an error answer from a loopback server speaking SES v2's JSON errors): the pages
that show SES's view say why it is not available. A store that cannot be used (a SQLite file
overwritten or deleted, PostgreSQL on a closed port) gets a 503 page saying so, and the
cause in the log.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from courrier.settings import Settings
from courrier.statuses import MessageStatus
from courrier.store import Store
from courrier.web import make_app
from tests.conftest import free_port

LOOPBACK = "http://127.0.0.1:8025"
#: Every page a browser can GET, with what it needs to find something.
PAGES = [
    "/",
    "/messages",
    "/messages?q=a&status=sent&offset=50",
    "/messages/1",
    "/suppressions",
    "/suppressions?q=example&reason=manual",
    "/suppressions.csv",
    "/suppressions/remove?address=kept@example.com",
    "/account",
    "/login",
    "/metrics",
]


def client(store: Store) -> TestClient:
    app = make_app(store, Settings(database_url="unused"))
    return TestClient(app, base_url=LOOPBACK, raise_server_exceptions=False)


def filled(store: Store) -> Store:
    message = store.record_message(
        sender="news@example.com",
        subject="Hello",
        configuration_set=None,
        recipients=[("ann@example.com", "to", "pending")],
    )
    store.finish_send(message, status=MessageStatus.SENT, ses_message_id="0100-abc")
    store.suppress("kept@example.com", reason="manual", source="manual")
    return store


# ---------------------------------------------------------------------- AWS


class _AccessDenied(BaseHTTPRequestHandler):
    """SES v2 refusing every call, as it does for a key without ses:GetAccount."""

    def do_GET(self) -> None:
        body = json.dumps({"message": "User is not authorized to perform: ses:GetAccount"})
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("x-amzn-ErrorType", "AccessDeniedException")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    do_POST = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def refusing_aws() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AccessDenied)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _no_region(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    return "region"


def _no_credentials(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no 2 s wait for an EC2 role
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    return "credentials"


def _refused_connection(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    return "Could not connect"


AWS_FAILURES = {
    "no region": _no_region,
    "no credentials": _no_credentials,
    "connection refused": _refused_connection,
}


@pytest.mark.parametrize("failure", [*AWS_FAILURES, "access denied"])
def test_no_page_fails_when_aws_does(
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    refusing_aws: str,
    caplog: pytest.LogCaptureFixture,
    failure: str,
) -> None:
    if failure == "access denied":
        monkeypatch.setenv("AWS_ENDPOINT_URL", refusing_aws)
        expected = "AccessDeniedException"
    else:
        expected = AWS_FAILURES[failure](monkeypatch)
    filled(store)
    with client(store) as web, caplog.at_level(logging.WARNING, "courrier"):
        for page in PAGES:
            assert web.get(page).status_code == 200, page
        overview = web.get("/")
        assert "SES's view is not available" in overview.text
        assert expected in overview.text
        assert "SES's view is not available" in web.get("/account").text
        synced = web.post(
            "/account/sync", data={"csrf": web.cookies["courrier_csrf"], "pull": "on"}
        )
        assert synced.status_code == 200
        assert expected in synced.text
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any(expected in line for line in said), said
    assert len(said) == len(set(said))  # once per cause, not once per page


# ---------------------------------------------------------------------- the store


def _overwritten(path: Path) -> None:
    with path.open("r+b") as file:
        file.write(b"this is not a SQLite database any more" * 100)


def _deleted(path: Path) -> None:
    path.unlink()
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


@pytest.mark.parametrize(
    ("damage", "cause"),
    [(_overwritten, "file is not a database"), (_deleted, "was deleted while in use")],
    ids=["corrupt", "deleted"],
)
def test_a_broken_sqlite_file_is_a_503_page(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: object, cause: str
) -> None:
    path = tmp_path / "courrier.db"
    store = filled(Store(f"sqlite:///{path}"))
    try:
        with client(store) as web:
            assert web.get("/messages").status_code == 200
            store.engine.dispose()  # a fresh connection meets the damaged file
            damage(path)  # type: ignore[operator]
            _every_page_says_unavailable(web, caplog, cause)
    finally:
        store.close()


def test_postgresql_on_a_closed_port_is_a_503_page(caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("psycopg")
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/test?connect_timeout=2"
    store = Store(url, migrate=False)
    try:
        with client(store) as web:
            web.get("/login")  # the CSRF cookie, from a page that needs no store
            _every_page_says_unavailable(web, caplog, "Connection refused")
    finally:
        store.close()


def _every_page_says_unavailable(
    web: TestClient, caplog: pytest.LogCaptureFixture, cause: str
) -> None:
    os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"
    try:
        with caplog.at_level(logging.ERROR, "courrier"):
            for page in [p for p in PAGES if p not in ("/account", "/login", "/metrics")]:
                caplog.clear()
                response = web.get(page)
                assert response.status_code == 503, page
                assert "The store is unavailable" in response.text, page
                assert cause not in response.text  # driver messages stay in the log
                assert response.headers["retry-after"], page
                logged = [r.getMessage() for r in caplog.records]
                assert any("store is unavailable" in m and cause in m for m in logged), page
            # A scrape still answers: the sampled gauges are left out (metrics.py logs why).
            assert web.get("/metrics").status_code == 200
            token = web.cookies["courrier_csrf"]
            form = {"csrf": token, "address": "a@example.com", "reason": "manual"}
            for path in ("/suppressions", "/suppressions/remove", "/guard/reset"):
                assert web.post(path, data=form).status_code == 503, path
    finally:
        del os.environ["AWS_ENDPOINT_URL"]


# ---------------------------------------------------------------------- any URL


@pytest.mark.parametrize(
    "number",
    [
        "99999999999999999999999",
        "2147483648",
        "9223372036854775808",
        "0",
        "00",
        "9" * 4301,  # past the digits int() converts: a ValueError, not a number
        "\u0663",  # a digit, but not an ASCII one
    ],
)
def test_a_message_id_out_of_range_is_404(store: Store, number: str) -> None:
    with client(store) as web:
        assert web.get(f"/messages/{number}").status_code == 404


PATHS = [
    "/",
    "/messages",
    "/messages/{n}",
    "/suppressions",
    "/suppressions.csv",
    "/suppressions/remove",
    "/account",
    "/login",
    "/metrics",
    "/static/{s}",
    "/{s}",
]
PARAMS = ["q", "status", "offset", "reason", "after", "before", "address", "done", "next"]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(PATHS),
    number=st.one_of(
        st.integers(min_value=-(2**70), max_value=2**70),
        st.text(max_size=8),
        st.integers(min_value=4290, max_value=4400).map(lambda digits: "9" * digits),
    ),
    segment=st.text(max_size=12),
    query=st.dictionaries(
        st.sampled_from(PARAMS),
        st.one_of(
            st.text(max_size=20),
            st.integers().map(str),
            st.just("9" * 40),
            st.just("9" * 5000),
        ),
        max_size=4,
    ),
)
def test_no_url_answers_500(
    working: TestClient, path: str, number: object, segment: str, query: dict[str, str]
) -> None:
    url = path.format(n=quote(str(number), safe=""), s=quote(segment, safe=""))
    response = working.get(url, params=query)
    assert response.status_code < 500, (url, query, response.text[:300])


@pytest.fixture
def working(store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    with client(filled(store)) as web:
        yield web
