"""The public unsubscribe endpoint: outside the dashboard's token, a GET changes nothing, a
bad link or body is a 4xx and changes nothing, and no request answers 500."""

from __future__ import annotations

import urllib.parse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from courrier.settings import Settings
from courrier.store import Store
from courrier.store.unsubscribes import Unsubscribed, count_unsubscribes, list_unsubscribes
from courrier.unsubscribe import links_for
from courrier.web import make_app
from courrier.web.unsubscribe import unsubscribe_app

SETTINGS = Settings(
    unsubscribe_url="https://mail.example.com/unsubscribe", unsubscribe_secret="x" * 32
)
ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def path_of(address: str, list_name: str | None = None) -> str:
    links = links_for(SETTINGS)
    assert links is not None
    return "/unsubscribe/" + links.token(address, list_name)


def test_the_dashboard_serves_it_without_its_token(store: Store) -> None:
    client = TestClient(
        make_app(store, SETTINGS, token="t" * 20), base_url="https://mail.example.com"
    )
    assert client.get("/", follow_redirects=False).status_code == 303  # the dashboard: login
    page = client.get(path_of("a@example.com", "news"))
    assert page.status_code == 200
    assert "List-Unsubscribe" in page.text
    assert "a@example.com" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert count_unsubscribes(store) == 0
    done = client.post(path_of("a@example.com", "news"), data=ONE_CLICK)
    assert done.status_code == 200
    [entry] = list_unsubscribes(store)
    assert (entry.address, entry.list_name, entry.source) == ("a@example.com", "news", "one-click")
    # The dashboard (behind its token) lists it on the Suppressions page.
    listed = client.get("/suppressions", headers={"Authorization": "Bearer " + "t" * 20})
    assert listed.status_code == 200
    section = listed.text.split('id="unsubscribes"', 1)[1]
    assert "<td>a@example.com</td><td>news</td><td>one-click</td>" in section
    assert "1 unsubscribe<" in section


def test_the_pages_button_is_recorded_as_such(store: Store) -> None:
    client = TestClient(make_app(store, SETTINGS, token="t" * 20))
    response = client.post(path_of("b@example.com"), data={**ONE_CLICK, "via": "page"})
    assert response.status_code == 200
    assert [e.source for e in list_unsubscribes(store)] == ["page"]


def test_multipart_one_click_bodies_are_accepted(store: Store) -> None:
    client = TestClient(Starlette(routes=[Mount("/unsubscribe", unsubscribe_app(store, SETTINGS))]))
    response = client.post(
        path_of("c@example.com"), files={"List-Unsubscribe": (None, "One-Click")}
    )
    assert response.status_code == 200
    assert count_unsubscribes(store) == 1


def test_a_mounted_app_calls_back_once_per_new_unsubscribe(store: Store) -> None:
    seen: list[Unsubscribed] = []
    app = Starlette(
        routes=[Mount("/unsubscribe", unsubscribe_app(store, SETTINGS, on_unsubscribe=seen.append))]
    )
    client = TestClient(app)
    for _ in range(2):
        assert client.post(path_of("d@example.com", "offers"), data=ONE_CLICK).status_code == 200
    assert [(s.address, s.list_name) for s in seen] == [("d@example.com", "offers")]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    method=st.sampled_from(["GET", "POST", "HEAD", "PUT"]),
    token=st.text(min_size=1, max_size=80),
    body=st.dictionaries(st.text(max_size=20), st.text(max_size=20), max_size=3),
)
def test_no_request_answers_500_or_changes_anything_without_a_signed_link(
    store: Store, method: str, token: str, body: dict[str, str]
) -> None:
    client = TestClient(make_app(store, SETTINGS), raise_server_exceptions=False)
    path = "/unsubscribe/" + urllib.parse.quote(token, safe="")
    response = client.request(method, path, data=body or None)
    assert response.status_code < 500
    assert count_unsubscribes(store) == 0
