"""The sandbox's pages for what happens after a send: opens, clicks, unsubscribes, slow
recipients, and the DNS records of a custom MAIL FROM domain.

``/I0/...`` and ``/L0/...`` are the tracking links SES writes into messages (see
:mod:`courrier_sandbox.ses.tracking`); the ``/_courrier/`` pages stand for what a recipient, a
mail server or a DNS administrator would do.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Request, Response

from courrier_sandbox.ses import tracking
from courrier_sandbox.ses.contacts import HEADER_SOURCE, LINK_SOURCE
from courrier_sandbox.ses.faults import SesFault
from courrier_sandbox.ses.service import SesService
from courrier_sandbox.simulation.recipient_rules import RecipientRule

#: Where a page finds the account and region it is about: (account, region).
Scope = Callable[[Request], tuple[str, str]]
_STATUSES = {"OPT_IN", "OPT_OUT"}


def json_response(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, default=str), status=status, content_type="application/json")


def tracking_page(ses: SesService, request: Request) -> Response | None:
    """An open pixel or a tracked link being followed; None if ``request`` is neither."""
    if request.method != "GET":
        return None
    ip_address, user_agent = request.remote_addr or "", request.headers.get("User-Agent", "")
    message_id = tracking.parse_open(request.path)
    click = tracking.parse_click(request.path)
    try:
        if message_id is not None:
            ses.track_open(message_id, ip_address, user_agent)
            return Response(tracking.PIXEL, content_type="image/gif")
        if click is not None:
            url = ses.track_click(click[0], click[1], ip_address, user_agent)
            return Response(status=302, headers={"Location": url})
    except SesFault as fault:
        return json_response({"message": fault.message}, 404)
    return None


def control_page(ses: SesService, request: Request, path: str, scope: Scope) -> Response | None:
    """One of this module's ``/_courrier/`` pages; None if ``path`` is none of them."""
    try:
        return _route(ses, request, path, scope)
    except SesFault as fault:
        status = 404 if fault.kind == "NotFound" else 400
        return json_response({"message": fault.message}, status)
    except (ValueError, RecursionError) as err:
        return json_response({"message": str(err)}, 400)


def _route(ses: SesService, request: Request, path: str, scope: Scope) -> Response | None:
    method = request.method
    if path == "/recipients":
        if method == "POST":
            ses.recipient_rules.add(RecipientRule.from_json(_body(request)))
        elif method == "DELETE":
            ses.recipient_rules.clear()
        return json_response({"rules": ses.recipient_rules.to_json()})
    found = re.fullmatch(r"/mailbox/(\d+)/(open|click)", path)
    if found and method == "POST":
        return _engage(ses, request, int(found.group(1)), found.group(2))
    found = re.fullmatch(r"/unsubscribe/([^/]+)/([^/]+)", path)
    if found and method in ("GET", "POST"):
        message_id, recipient = found.group(1), urllib.parse.unquote(found.group(2))
        if method == "GET":
            return json_response(ses.preferences_page(message_id, recipient))
        return _unsubscribe(ses, request, message_id, recipient)
    found = re.fullmatch(r"/identities/([^/]+)/mail-from(/verify)?", path)
    if found:
        name = urllib.parse.unquote(found.group(1))
        account, region = scope(request)
        verify = found.group(2) and method == "POST"
        if verify and not ses.mark_mail_from_verified(account, region, name):
            raise SesFault("NotFound", f"no identity {name} with a MAIL FROM domain in {region}")
        records = ses.mail_from_records(account, region, name)
        if records is None:
            raise SesFault("NotFound", f"no identity {name} in {region}")
        return json_response(records)
    return None


def _engage(ses: SesService, request: Request, letter_id: int, action: str) -> Response:
    """Open, or click a link of, a delivered copy in the mailbox."""
    letter = ses.mailbox.get(letter_id)
    if letter is None or letter.kind != "delivery":
        raise SesFault("NotFound", f"no delivered copy {letter_id} in the mailbox")
    body = _body(request) if request.get_data() else {}
    if not isinstance(body, dict) or not set(body) <= {"ip_address", "user_agent", "link"}:
        raise ValueError("expected a JSON object with ip_address, user_agent or link")
    ip_address = str(body.get("ip_address") or request.remote_addr or "")
    user_agent = str(body.get("user_agent") or request.headers.get("User-Agent", ""))
    if action == "open":
        ses.track_open(letter.ses_message_id, ip_address, user_agent)
        return json_response({"opened": letter.ses_message_id})
    sent = ses.remembered(letter.ses_message_id)
    links = [link.url for link in sent.mail.links] if sent else []
    wanted = body.get("link")
    if wanted is None and len(links) == 1:
        wanted = links[0]
    if wanted not in links:
        raise SesFault(
            "NotFound",
            f"{wanted!r} is not a tracked link of message {letter.ses_message_id}; "
            f"its tracked links: {links}",
        )
    url = ses.track_click(letter.ses_message_id, links.index(wanted), ip_address, user_agent)
    return json_response({"clicked": url})


def _unsubscribe(ses: SesService, request: Request, message_id: str, recipient: str) -> Response:
    """One-click (RFC 8058: a form body ``List-Unsubscribe=One-Click``), or a JSON body of
    ``{"topics": {"name": "OPT_OUT"}, "unsubscribe_all": true}`` from the preferences page."""
    form = urllib.parse.parse_qs(request.get_data().decode("utf-8", "replace"))
    if form.get("List-Unsubscribe") == ["One-Click"]:
        new = ses.unsubscribe(message_id, recipient, source=HEADER_SOURCE)
        return json_response(new)
    body = _body(request)
    if not isinstance(body, dict) or not body or not set(body) <= {"topics", "unsubscribe_all"}:
        raise ValueError(
            "expected the form body List-Unsubscribe=One-Click, or a JSON object with "
            "topics and/or unsubscribe_all"
        )
    topics = body.get("topics") or {}
    every = body.get("unsubscribe_all")
    if not isinstance(topics, dict) or not all(
        isinstance(k, str) and v in _STATUSES for k, v in topics.items()
    ):
        raise ValueError('topics must map topic names to "OPT_IN" or "OPT_OUT"')
    if every is not None and not isinstance(every, bool):
        raise ValueError("unsubscribe_all must be true or false")
    new = ses.unsubscribe(
        message_id, recipient, source=LINK_SOURCE, topics=topics, unsubscribe_all=every
    )
    return json_response(new)


def _body(request: Request) -> Any:
    return json.loads(request.get_data() or b"null")
