"""SNS over HTTPS: a WSGI application that applies SES feedback posted by an SNS subscription.

Mount :func:`make_app` in any WSGI server (gunicorn, uWSGI), or run ``courrier receive``.
For each POST:

* the body is an SNS envelope (facts §4.1); its signature is verified unless verification is
  turned off, and its topic must be on the allow-list when one is given;
* ``SubscriptionConfirmation``: confirmed by fetching its ``SubscribeURL``, only for an allowed
  topic (with no allow-list, only with verification on), and only from an SNS host;
* ``Notification``: decoded and applied in one transaction, exactly once, like the worker.

Answers: 200 when applied (or a duplicate), 400 when the body is not trusted or not
feedback (nothing is applied), 503 when the database failed (SNS delivers it again).
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from courrier.errors import FeedbackError, StoreError
from courrier.feedback.apply import Hook, apply
from courrier.feedback.decode import decode
from courrier.feedback.rules import Rules
from courrier.feedback.signature import SignatureVerifier, UntrustedSignature, check_sns_url
from courrier.store import Store

__all__ = ["make_app"]

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
#: The largest SNS message is 256 KB (facts §9); the envelope adds a little.
MAX_BODY = 512 * 1024


def _open(url: str) -> None:
    with urllib.request.urlopen(url, timeout=10) as response:  # the host was checked
        response.read()


def make_app(
    store: Store,
    *,
    verifier: SignatureVerifier | None,
    allowed_topics: Iterable[str] | None = None,
    rules: Rules | None = None,
    hooks: Mapping[str, Iterable[Hook]] | None = None,
    confirm: Callable[[str], None] = _open,
) -> WSGIApp:
    """The WSGI application; ``verifier=None`` turns signature checks off (sandbox only)."""
    allowed = frozenset(allowed_topics) if allowed_topics else None

    def respond(start_response: Callable[..., Any], status: str, message: str) -> list[bytes]:
        body = json.dumps({"status": status.split(" ", 1)[1].lower(), "detail": message})
        start_response(status, [("Content-Type", "application/json")])
        return [body.encode()]

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            return respond(start_response, "405 Method Not Allowed", "POST SNS messages here")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY:
            return respond(start_response, "400 Bad Request", "missing or oversized body")
        body = environ["wsgi.input"].read(length)
        try:
            detail = _handle(body, store, verifier, allowed, rules, hooks, confirm)
        except FeedbackError as err:
            log.warning("SNS HTTP message refused: %s", err)
            return respond(start_response, "400 Bad Request", str(err))
        except StoreError as err:
            log.error("SNS HTTP message not stored, SNS will retry: %s", err)
            return respond(start_response, "503 Service Unavailable", "database unavailable")
        return respond(start_response, "200 OK", detail)

    return app


def _handle(
    body: bytes,
    store: Store,
    verifier: SignatureVerifier | None,
    allowed: frozenset[str] | None,
    rules: Rules | None,
    hooks: Mapping[str, Iterable[Hook]] | None,
    confirm: Callable[[str], None],
) -> str:
    decoded = decode(body)
    envelope = decoded.envelope
    if envelope is None:
        raise UntrustedSignature("not an SNS envelope: HTTPS deliveries are never raw")
    if verifier is not None:
        verifier.verify(envelope.raw)
    if allowed is not None and envelope.topic_arn not in allowed:
        raise UntrustedSignature(f"topic {envelope.topic_arn!r} is not on the allow-list")
    if envelope.type == "SubscriptionConfirmation":
        url = str(envelope.raw.get("SubscribeURL", ""))
        if allowed is None and verifier is None:
            raise UntrustedSignature("not confirming: no allow-list and no signature check")
        check_sns_url(url, "SubscribeURL")
        confirm(url)
        return f"subscription to {envelope.topic_arn} confirmed"
    if not decoded.events:
        return decoded.ignored or "nothing to apply"
    applied = apply(store, [decoded], rules=rules, hooks=hooks)
    return f"{len(applied.stored)} event(s) applied, {applied.duplicates} duplicate(s)"
