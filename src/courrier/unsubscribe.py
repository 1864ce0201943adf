"""One-click unsubscribe (RFC 8058): signed per-recipient links and the headers that carry them.

Since 2024 Gmail and Yahoo (and Microsoft since May 2025) require bulk mail to carry
``List-Unsubscribe`` with an HTTPS URL and ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``
(https://datatracker.ietf.org/doc/html/rfc8058, and
https://docs.aws.amazon.com/ses/latest/dg/sending-email-subscription-management.html).

A link is ``unsubscribe_url`` + ``/`` + a token: the recipient's address and the list it names
(or none: every list), and an HMAC-SHA256 of both under ``unsubscribe_secret``. A tenant's
message (SES tenants) carries a second version of the token that also names the tenant, signed
under a context of its own, so that its unsubscribe is that tenant's only; links sent before
keep the first version and its meaning (the account's lists). Nothing in it counts or
enumerates: a link cannot be made for another address, list or tenant without the key. The
mail client POSTs ``List-Unsubscribe=One-Click`` to it (RFC 8058 section 3.1); a GET (a link
scanner, or a person following it) only shows a page with a button.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import ipaddress
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from courrier.errors import (
    ConfigurationError,
    InvalidMessage,
    InvalidUnsubscribeLink,
    UnsubscribeRequired,
)
from courrier.message import check_list_name, check_tenant_name
from courrier.settings import Settings
from courrier.store import Store
from courrier.store.unsubscribes import Unsubscribed, record_unsubscribe

__all__ = [
    "MAX_BODY",
    "ONE_CLICK",
    "ONE_CLICK_BODY",
    "PAGE_HEADERS",
    "Answer",
    "Endpoint",
    "Links",
    "Unsubscribe",
    "links_for",
    "too_large",
]

#: The header value RFC 8058 section 3.1 requires beside List-Unsubscribe.
ONE_CLICK = "List-Unsubscribe=One-Click"
#: What the mail client POSTs (as application/x-www-form-urlencoded or multipart/form-data).
ONE_CLICK_BODY = ("List-Unsubscribe", "One-Click")
#: Each version signs under its own context, so a token of one never verifies as the other.
#: Version 1: address and list; version 2: address, list and the SES tenant.
_CONTEXT = b"courrier-unsubscribe/1\n"
_TENANT_CONTEXT = b"courrier-unsubscribe/2\n"
#: 128 bits of the HMAC: no forgery by guessing, and links short enough for one header line.
_MAC_BYTES = 16
_MIN_SECRET = 16


@dataclass(frozen=True)
class Unsubscribe:
    """What a verified link asks: ``address`` off ``list_name`` (None: every list) of
    ``tenant``'s mail (None: the account's, which every tenant's sends honour too)."""

    address: str
    list_name: str | None
    tenant: str | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Links:
    """Signs and checks the unsubscribe links of one ``unsubscribe_url`` and secret."""

    def __init__(self, url: str, secret: str, *, mailto: str | None = None) -> None:
        self.url = _checked_url(url)
        if not isinstance(secret, str) or len(secret) < _MIN_SECRET:
            raise ConfigurationError(
                f"unsubscribe_secret must be at least {_MIN_SECRET} characters "
                "(a random string kept secret: it signs every unsubscribe link)"
            )
        self._key = secret.encode("utf-8")
        if mailto is not None and ("@" not in mailto or any(c in mailto for c in "<>, \r\n")):
            raise ConfigurationError(f"unsubscribe_mailto {mailto!r} is not an address")
        self.mailto = mailto

    def _mac(self, payload: bytes) -> bytes:
        # The payload's fields are lines, and no address, list or tenant name holds a line
        # break: three lines are version 2, two are version 1.
        context = _TENANT_CONTEXT if payload.count(b"\n") == 2 else _CONTEXT
        return hmac.new(self._key, context + payload, hashlib.sha256).digest()[:_MAC_BYTES]

    def token(
        self, address: str, list_name: str | None = None, *, tenant: str | None = None
    ) -> str:
        """The signed token for ``address`` (case-insensitive) and ``list_name``, and
        ``tenant`` when given (version 2; version 1 without it)."""
        check_list_name(list_name)
        fields = [address.strip().lower(), list_name or ""]
        if tenant is not None:
            fields.append(check_tenant_name(tenant) or "")
        if any("\n" in field for field in fields):
            raise InvalidMessage(f"no unsubscribe link for {address!r}: it holds a line break")
        payload = "\n".join(fields).encode()
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def link(self, address: str, list_name: str | None = None, *, tenant: str | None = None) -> str:
        """The URL that unsubscribes ``address`` from ``list_name`` (None: every list) of
        ``tenant``'s mail (None: the account's)."""
        return f"{self.url}/{self.token(address, list_name, tenant=tenant)}"

    def verify(self, token: str) -> Unsubscribe:
        """What ``token`` asks; :class:`~courrier.errors.InvalidUnsubscribeLink` unless this
        key signed exactly it."""
        payload_text, dot, _ = token.partition(".")
        try:
            payload = _unb64(payload_text)
        except (binascii.Error, ValueError) as err:
            raise InvalidUnsubscribeLink("the unsubscribe link is malformed") from err
        # Compared as text in its one canonical spelling: base64 decoding ignores the spare
        # bits of the last character, so two spellings would otherwise name one link.
        canonical = f"{_b64(payload)}.{_b64(self._mac(payload))}"
        if not dot or not hmac.compare_digest(token.encode(), canonical.encode()):
            raise InvalidUnsubscribeLink("the unsubscribe link was not signed by this courrier")
        address, list_name, *tenant = payload.decode("utf-8", "replace").split("\n")
        return Unsubscribe(address, list_name or None, (tenant[0] or None) if tenant else None)

    def headers(
        self, address: str, list_name: str | None = None, *, tenant: str | None = None
    ) -> dict[str, str]:
        """The two RFC 8058 headers for one recipient (of ``tenant``'s message, when given)."""
        targets = [f"<{self.link(address, list_name, tenant=tenant)}>"]
        if self.mailto:
            subject = urllib.parse.quote(f"unsubscribe {list_name or ''}".strip())
            targets.append(f"<mailto:{self.mailto}?subject={subject}>")
        return {"List-Unsubscribe": ", ".join(targets), "List-Unsubscribe-Post": ONE_CLICK}


def _checked_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"unsubscribe_url {url!r} is not an http(s) URL")
    # RFC 8058 section 3.1: the URI must be HTTPS. Plain HTTP only on loopback, for tests.
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise ConfigurationError(
            f"unsubscribe_url {url!r} must be https:// (mailbox providers ignore plain HTTP "
            "one-click links); http:// is accepted only on loopback hosts"
        )
    if parts.query or parts.fragment:
        raise ConfigurationError(f"unsubscribe_url {url!r} must have no query or fragment")
    return url.rstrip("/")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def links_for(settings: Settings) -> Links | None:
    """The links bulk sends carry; None when the lists are managed elsewhere and courrier's
    endpoint is not configured. :class:`~courrier.errors.UnsubscribeRequired` when neither."""
    if settings.unsubscribe_url or settings.unsubscribe_secret:
        if not (settings.unsubscribe_url and settings.unsubscribe_secret):
            raise ConfigurationError(
                "set both unsubscribe_url and unsubscribe_secret (COURRIER_UNSUBSCRIBE_URL, "
                "COURRIER_UNSUBSCRIBE_SECRET), or neither"
            )
        return Links(
            settings.unsubscribe_url,
            settings.unsubscribe_secret,
            mailto=settings.unsubscribe_mailto,
        )
    if settings.unsubscribe_managed_elsewhere:
        return None
    raise UnsubscribeRequired(
        "bulk mail must carry a one-click unsubscribe link (RFC 8058, required by Gmail, "
        "Yahoo and Microsoft): set unsubscribe_url and unsubscribe_secret "
        "(COURRIER_UNSUBSCRIBE_URL, COURRIER_UNSUBSCRIBE_SECRET), or "
        "unsubscribe_contact_list for SES's own subscription management, or "
        "unsubscribe_managed_elsewhere = true when another system manages the list"
    )


# ------------------------------------------------------------------ the endpoint


@dataclass(frozen=True)
class Answer:
    """What the unsubscribe endpoint answers one request (framework-neutral: the dashboard,
    :func:`courrier.web.unsubscribe.unsubscribe_app` and the Django view wrap it)."""

    status: int
    title: str
    text: str
    #: The verified request (None for a bad link).
    request: Unsubscribe | None = None
    #: GET: show the button that POSTs the one-click body.
    confirm: bool = False
    #: POST: the unsubscribe it recorded (None when it was already recorded).
    recorded: Unsubscribed | None = None

    def page(self) -> str:
        """A small HTML page for a person (inline style only: no script, nothing remote)."""
        button = ""
        if self.confirm:
            button = (
                '<form method="post"><input type="hidden" name="List-Unsubscribe" '
                'value="One-Click"><input type="hidden" name="via" value="page">'
                '<button type="submit">Unsubscribe</button></form>'
            )
        return _PAGE.format(
            title=html.escape(self.title), text=html.escape(self.text), button=button
        )


_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    "<title>{title}</title></head><body><main><h1>{title}</h1><p>{text}</p>{button}"
    "</main></body></html>"
)
#: The page's answers forbid scripts, framing and referrers, and every cache.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


#: The one-click body is one short field; anything much larger is not a mail client's.
MAX_BODY = 4096


def too_large(content_length: str, limit: int = MAX_BODY) -> bool:
    """Whether a request's ``Content-Length`` is over ``limit`` bytes (absent: no)."""
    text = content_length.strip()
    if not (text.isascii() and text.isdigit()):
        return False
    # Compared as text first: int() refuses more than 4,300 digits (a ValueError).
    digits = text.lstrip("0") or "0"
    return len(digits) > len(str(limit)) or int(digits) > limit


def _what(request: Unsubscribe) -> str:
    if request.list_name:
        return f"the {request.list_name} list"
    # A tenant's link names its own lists only; the tenant is the sender's customer.
    return "every mailing list of this sender" if request.tenant else "every mailing list"


class Endpoint:
    """The public unsubscribe endpoint: a POST of ``List-Unsubscribe=One-Click`` records the
    unsubscribe at once (RFC 8058 section 3.2: no confirmation, no login); a GET changes
    nothing and shows a button, because link scanners and previews follow GETs. A link this
    key did not sign is a 404 and changes nothing."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        on_unsubscribe: Callable[[Unsubscribed], None] | None = None,
    ) -> None:
        links = links_for(settings)
        if links is None:
            raise ConfigurationError(
                "the unsubscribe endpoint needs unsubscribe_url and unsubscribe_secret"
            )
        self.links = links
        self.store = store
        self._on_unsubscribe = on_unsubscribe

    def _verified(self, token: str) -> Unsubscribe | Answer:
        try:
            return self.links.verify(token)
        except InvalidUnsubscribeLink:
            return Answer(404, "Link not valid", "This unsubscribe link is not valid.")

    def get(self, token: str) -> Answer:
        """The page with the button; records nothing."""
        found = self._verified(token)
        if isinstance(found, Answer):
            return found
        return Answer(
            200,
            "Unsubscribe",
            f"Stop bulk mail from {_what(found)} to {found.address}?",
            request=found,
            confirm=True,
        )

    def post(self, token: str, form: Mapping[str, str]) -> Answer:
        """Unsubscribe at once, given the one-click body (``form``: the POSTed fields)."""
        found = self._verified(token)
        if isinstance(found, Answer):
            return found
        if form.get(ONE_CLICK_BODY[0]) != ONE_CLICK_BODY[1]:
            return Answer(
                400, "Not unsubscribed", f"The request must carry {ONE_CLICK}.", request=found
            )
        source = "page" if form.get("via") == "page" else "one-click"
        recorded = record_unsubscribe(
            self.store, found.address, found.list_name, source, tenant=found.tenant
        )
        if recorded is not None and self._on_unsubscribe is not None:
            self._on_unsubscribe(recorded)
        return Answer(
            200,
            "Unsubscribed",
            f"{found.address} will receive no more bulk mail from {_what(found)}.",
            request=found,
            recorded=recorded,
        )
