"""The dashboard's defences: a token off loopback, CSRF on every change, strict headers.

- Binding to anything but loopback needs a token (``dashboard_token`` setting or
  ``COURRIER_DASHBOARD_TOKEN``); :func:`check_binding` refuses to start without one. With a
  token, every page but ``/login`` and ``/static`` needs the session cookie (an HMAC of the
  token, never the token itself) or ``Authorization: Bearer <token>`` (for scrapers).
- Without a token the dashboard answers only requests whose ``Host`` is a loopback name
  (``localhost`` or a loopback address such as ``127.0.0.1`` or ``[::1]``, any port); anything
  else gets 421. A web page that re-points its own name at 127.0.0.1 (DNS rebinding) would
  otherwise be same-origin with the dashboard, and could read its pages and post to it.
- Every state change is a POST carrying the ``csrf`` form field, which must equal the
  ``courrier_csrf`` cookie (double submit, cookie SameSite=Strict); a POST whose ``Origin``
  is another site is refused before that.
- Responses forbid framing, sniffing, referrers to other sites, and any script, style or image from
  elsewhere (CSP); templates escape everything they print.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from courrier.errors import ConfigurationError

CSRF_COOKIE = "courrier_csrf"
SESSION_COOKIE = "courrier_session"
OPEN_PATHS = ("/login", "/static/")
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: under no-referrer browsers send "Origin: null" on form
    # posts, which the same-origin check must refuse.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def loopback_host(header: str) -> bool:
    """Whether a ``Host`` header names the loopback interface (with or without a port).

    Only ``localhost`` (reserved for loopback by RFC 6761) and loopback IP literals: a name an
    attacker controls may resolve to 127.0.0.1 (DNS rebinding) but is never one of these.
    """
    host = header.lower()
    if host.startswith("["):
        inside, bracket, rest = host[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")) or inside == "localhost":
            return False
        name, port = inside, rest[1:]
    else:
        name, _, port = host.partition(":")
    return is_loopback(name) and (port == "" or (port.isascii() and port.isdigit()))


def check_binding(host: str, token: str | None) -> None:
    """Refuse to serve beyond loopback without a token."""
    if not is_loopback(host) and not token:
        raise ConfigurationError(
            f"the dashboard on {host} would be reachable from other machines: set a token "
            "(--token, dashboard_token in courrier.toml, or COURRIER_DASHBOARD_TOKEN) or "
            "listen on 127.0.0.1"
        )


def session_value(token: str) -> str:
    return hmac.new(token.encode(), b"courrier-dashboard-session", hashlib.sha256).hexdigest()


class Defences(BaseHTTPMiddleware):
    def __init__(self, app: Any, token: str | None) -> None:
        super().__init__(app)
        self.token = token

    def authenticated(self, request: Request) -> bool:
        if not self.token:
            return True
        bearer = request.headers.get("authorization", "")
        if bearer.startswith("Bearer ") and hmac.compare_digest(
            bearer[7:].encode(), self.token.encode()
        ):
            return True
        cookie = request.cookies.get(SESSION_COOKIE, "")
        return hmac.compare_digest(cookie.encode(), session_value(self.token).encode())

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        host = request.headers.get("host", "")
        if not self.token and not loopback_host(host):
            return _misdirected(host)
        fresh = None
        request.state.csrf = request.cookies.get(CSRF_COOKIE)
        if not request.state.csrf:
            fresh = request.state.csrf = secrets.token_urlsafe(32)
        response = await self._guarded(request, call_next)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if fresh:
            response.set_cookie(
                CSRF_COOKIE,
                fresh,
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
            )
        return response

    async def _guarded(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        path = request.url.path
        if request.method not in ("GET", "HEAD", "POST"):
            return PlainTextResponse("method not allowed", status_code=405)
        if request.method == "POST" and not same_origin(request):
            return PlainTextResponse("cross-site request refused", status_code=403)
        if not path.startswith(OPEN_PATHS) and not self.authenticated(request):
            if request.method == "GET" and path != "/metrics":
                return RedirectResponse(f"/login?next={path}", status_code=303)
            return PlainTextResponse("token required", status_code=401)
        return await call_next(request)


def _misdirected(host: str) -> Response:
    response = PlainTextResponse(
        "this dashboard has no token, so it answers only to 127.0.0.1, localhost or [::1], "
        f"not to {host[:100]!r}: open it as http://127.0.0.1:PORT/, or give it a token",
        status_code=421,
    )
    response.headers.update(HEADERS)
    return response


def same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None  # "null" comes from sandboxed or privacy-stripped contexts
    return urlsplit(origin).netloc == request.headers.get("host", "")


async def checked_form(request: Request) -> FormData:
    """The POSTed form, once its CSRF field matches the cookie; 403 otherwise."""
    form = await request.form()
    sent = form.get("csrf")
    expected = request.cookies.get(CSRF_COOKIE)
    if (
        not isinstance(sent, str)
        or not expected
        or not hmac.compare_digest(sent.encode(), expected.encode())
    ):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")
    return form


def login_response(token: str | None, supplied: str, target: str) -> Response:
    if not token or not hmac.compare_digest(supplied.encode(), token.encode()):
        raise HTTPException(401, "wrong token")
    safe = target if target.startswith("/") and not target.startswith("//") else "/"
    response = RedirectResponse(safe, status_code=303)
    response.set_cookie(SESSION_COOKIE, session_value(token), httponly=True, samesite="strict")
    return response
