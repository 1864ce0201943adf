"""Signed unsubscribe links: what they carry, what they refuse, and the settings they need."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from courrier.errors import (
    ConfigurationError,
    InvalidMessage,
    InvalidUnsubscribeLink,
    UnsubscribeRequired,
)
from courrier.settings import Settings
from courrier.unsubscribe import MAX_BODY, ONE_CLICK, Links, Unsubscribe, links_for, too_large

SECRET = "0123456789abcdef-secret"
LINKS = Links("https://mail.example.com/unsubscribe/", SECRET)


def test_a_link_names_the_recipient_and_the_list_and_verifies() -> None:
    link = LINKS.link("Reader@Example.com", "news")
    assert link.startswith("https://mail.example.com/unsubscribe/")
    token = link.rsplit("/", 1)[1]
    assert LINKS.verify(token) == Unsubscribe("reader@example.com", "news")
    assert LINKS.verify(LINKS.token("a@example.com")) == Unsubscribe("a@example.com", None)


def test_links_differ_by_recipient_and_list() -> None:
    tokens = {LINKS.token(a, n) for a in ("a@x.example", "b@x.example") for n in (None, "n")}
    assert len(tokens) == 4


def test_headers_are_rfc_8058s_two() -> None:
    headers = Links("https://x.example/u", SECRET, mailto="leave@x.example").headers("a@x.example")
    assert headers["List-Unsubscribe-Post"] == ONE_CLICK
    https, mailto = headers["List-Unsubscribe"].split(", ")
    assert https.startswith("<https://x.example/u/")
    assert https.endswith(">")
    assert mailto == "<mailto:leave@x.example?subject=unsubscribe>"


@given(st.text(max_size=200))
def test_no_token_but_a_signed_one_verifies_and_none_crashes(token: str) -> None:
    with pytest.raises(InvalidUnsubscribeLink):
        LINKS.verify(token)


@given(st.data())
def test_any_change_to_a_signed_token_is_refused(data: st.DataObject) -> None:
    token = LINKS.token("reader@example.com", "news")
    position = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(
        st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    )
    changed = token[:position] + replacement + token[position + 1 :]
    if changed != token:
        with pytest.raises(InvalidUnsubscribeLink):
            LINKS.verify(changed)


def test_another_key_signs_other_links() -> None:
    other = Links("https://mail.example.com/unsubscribe", "another-secret-of-16+")
    with pytest.raises(InvalidUnsubscribeLink):
        LINKS.verify(other.token("reader@example.com"))


@pytest.mark.parametrize(
    "url",
    ["http://mail.example.com/u", "ftp://x.example/u", "https://x.example/u?a=1", "not a url"],
)
def test_the_url_must_be_https(url: str) -> None:
    with pytest.raises(ConfigurationError, match="unsubscribe_url"):
        Links(url, SECRET)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/u", "http://localhost/u", "http://[::1]/u"])
def test_plain_http_is_accepted_on_loopback(url: str) -> None:
    assert Links(url, SECRET).link("a@x.example").startswith(url)


def test_the_secret_must_be_long_enough() -> None:
    with pytest.raises(ConfigurationError, match="16 characters"):
        Links("https://x.example/u", "short")


def test_settings_need_both_or_an_opt_out(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UnsubscribeRequired, match="unsubscribe_managed_elsewhere"):
        links_for(Settings())
    assert links_for(Settings(unsubscribe_managed_elsewhere=True)) is None
    with pytest.raises(ConfigurationError, match="both"):
        links_for(Settings(unsubscribe_url="https://x.example/u"))
    monkeypatch.setenv("COURRIER_UNSUBSCRIBE_URL", "https://x.example/u")
    monkeypatch.setenv("COURRIER_UNSUBSCRIBE_SECRET", SECRET)
    links = links_for(Settings.load())
    assert links is not None
    assert links.url == "https://x.example/u"


def test_a_tenants_link_names_the_tenant_too() -> None:
    token = LINKS.token("Reader@Example.com", "news", tenant="acme")
    assert LINKS.verify(token) == Unsubscribe("reader@example.com", "news", "acme")
    assert LINKS.verify(LINKS.token("a@example.com", tenant="acme")) == Unsubscribe(
        "a@example.com", None, "acme"
    )
    assert token != LINKS.token("reader@example.com", "news", tenant="globex")
    assert token != LINKS.token("reader@example.com", "news")


def test_a_link_sent_before_tenants_still_verifies_as_the_accounts() -> None:
    # Made as the first version made them: base64url(address \n list) . base64url(HMAC-SHA256
    # of the context and the payload, 16 bytes), so links already in mailboxes keep working.
    import base64
    import hashlib
    import hmac

    payload = b"reader@example.com\nnews"
    mac = hmac.new(SECRET.encode(), b"courrier-unsubscribe/1\n" + payload, hashlib.sha256).digest()[
        :16
    ]
    old = ".".join(base64.urlsafe_b64encode(part).rstrip(b"=").decode() for part in (payload, mac))
    assert LINKS.verify(old) == Unsubscribe("reader@example.com", "news", None)
    assert LINKS.token("reader@example.com", "news") == old


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signed_as(payload: bytes, context: bytes) -> str:
    mac = hmac.new(SECRET.encode(), context + payload, hashlib.sha256).digest()[:16]
    return ".".join(base64.urlsafe_b64encode(part).rstrip(b"=").decode() for part in (payload, mac))


def test_a_tenant_cannot_be_added_to_or_swapped_in_a_signed_token() -> None:
    old = LINKS.token("reader@example.com", "news")
    signature = old.split(".")[1]
    added = _b64(b"reader@example.com\nnews\nacme")
    with pytest.raises(InvalidUnsubscribeLink):
        LINKS.verify(f"{added}.{signature}")
    acme = LINKS.token("reader@example.com", "news", tenant="acme")
    swapped = _b64(b"reader@example.com\nnews\nglobex")
    with pytest.raises(InvalidUnsubscribeLink):
        LINKS.verify(f"{swapped}.{acme.split('.')[1]}")
    # The versions sign under contexts of their own: one never passes for the other.
    with pytest.raises(InvalidUnsubscribeLink):
        LINKS.verify(_signed_as(b"reader@example.com\nnews\nacme", b"courrier-unsubscribe/1\n"))
    with pytest.raises(InvalidUnsubscribeLink):
        LINKS.verify(_signed_as(b"reader@example.com\nnews", b"courrier-unsubscribe/2\n"))


@given(st.data())
def test_any_change_to_a_tenants_token_is_refused(data: st.DataObject) -> None:
    token = LINKS.token("reader@example.com", "news", tenant="acme")
    position = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(
        st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    )
    changed = token[:position] + replacement + token[position + 1 :]
    if changed != token:
        with pytest.raises(InvalidUnsubscribeLink):
            LINKS.verify(changed)


def test_a_bad_tenant_name_makes_no_link() -> None:
    with pytest.raises(InvalidMessage, match="tenant name"):
        LINKS.token("reader@example.com", tenant="acme\nx")


@pytest.mark.parametrize(
    ("header", "large"),
    [
        ("", False),
        ("12", False),
        (str(MAX_BODY), False),
        (f"000{MAX_BODY}", False),
        (str(MAX_BODY + 1), True),
        ("9" * 5000, True),  # past the digits int() converts
        ("0" * 5000 + "5", False),
        ("-5", False),
        ("\u0663\u0663\u0663\u0663\u0663", False),  # not ASCII digits: not a length at all
    ],
)
def test_a_content_length_of_any_size_is_judged(header: str, large: bool) -> None:
    assert too_large(header) is large
