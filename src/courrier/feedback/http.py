"""SNS over HTTPS: apply SES feedback that an SNS HTTP(S) subscription posts.

:class:`SnsReceiver` does the work and knows no web framework; :func:`make_app` wraps it as
a WSGI application (``courrier receive`` serves it, or mount it in gunicorn, uWSGI, ...), and
the Django view wraps the same object. For each POST:

* the body must be an SNS envelope (docs/ses.md#sns-messages) from a topic on the allow-list, which
  is required: a valid signature proves that a message came from SNS, not that the topic is yours,
  and anyone can subscribe an endpoint to a topic of their own;
* its signature is verified unless verification is turned off (the offline sandbox only);
* ``SubscriptionConfirmation``: confirmed by fetching its ``SubscribeURL``, which must be on
  an SNS host over HTTPS (with signatures off, also the sandbox's confirmation of this
  subscription on its own endpoint, ``sandbox_url``);
* ``Notification``: decoded and applied in one transaction, exactly once, like the worker.

Answers: 200 when applied (or a duplicate, or nothing to apply); 400 when the body is not SNS
feedback; 403 when it is not trusted (topic, signature); 413 when it is too large; 502 when
the confirmation could not be fetched; 503 when the database is unavailable or the signing
certificate cannot be downloaded now (SNS delivers it again: neither says anything against
the message); 500, logged with its traceback, for anything unforeseen. SNS retries 5xx
answers and gives up on 4xx ones, which is what each of these cases wants
(https://docs.aws.amazon.com/sns/latest/dg/sns-message-delivery-retries.html).
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from courrier.errors import (
    CertificateUnavailable,
    FeedbackError,
    StoreError,
    StoreUnavailable,
    UntrustedSignature,
    UntrustedTopic,
)
from courrier.feedback.apply import Hook, apply
from courrier.feedback.decode import decode
from courrier.feedback.rules import Rules
from courrier.feedback.signature import SignatureVerifier, check_sns_url
from courrier.feedback.topics import check_topic, require_topics
from courrier.store import Store

__all__ = ["MAX_BODY", "Answer", "SnsReceiver", "make_app"]

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
#: The largest SNS message is 256 KB (docs/ses.md#sqs); the envelope adds a little.
MAX_BODY = 512 * 1024

_REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Content Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


@dataclass(frozen=True)
class Answer:
    """The HTTP answer to one SNS POST: a status code and a one-line reason."""

    status: int
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"status": _REASONS.get(self.status, "Error").lower(), "detail": self.detail}


class ConfirmationFailed(Exception):
    """The SubscribeURL could not be fetched (raised by ``confirm``)."""


def _open(url: str) -> None:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # the host was checked
            response.read()
    except OSError as err:
        raise ConfirmationFailed(str(err)) from err


class SnsReceiver:
    """Applies what an SNS HTTP(S) subscription posts; see the module docstring.

    ``verifier=None`` turns signature checks off (the offline sandbox only). ``confirm``
    fetches a subscription's ``SubscribeURL`` and raises :class:`ConfirmationFailed`.
    ``sandbox_url`` is the sandbox's endpoint (``AWS_ENDPOINT_URL``): with signature checks
    off, a ``SubscribeURL`` there is followed too, if it confirms this very subscription.
    """

    def __init__(
        self,
        store: Store,
        *,
        allowed_topics: Iterable[str] | None,
        verifier: SignatureVerifier | None,
        rules: Rules | None = None,
        hooks: Mapping[str, Iterable[Hook]] | None = None,
        confirm: Callable[[str], None] = _open,
        sandbox_url: str | None = None,
    ) -> None:
        self.allowed_topics = require_topics(allowed_topics)
        self.sandbox_url = sandbox_url
        self.store = store
        self.verifier = verifier
        self.rules = rules
        self.hooks = hooks
        self.confirm = confirm

    def receive(self, body: bytes) -> Answer:
        """Handle one POSTed body; never raises."""
        try:
            return Answer(200, self._handle(body))
        except (UntrustedTopic, UntrustedSignature) as err:
            log.warning("SNS HTTP message refused: %s", err)
            return Answer(403, str(err))
        except FeedbackError as err:
            log.warning("SNS HTTP message refused: %s", err)
            return Answer(400, str(err))
        except ConfirmationFailed as err:
            log.error("SNS subscription not confirmed, fetching SubscribeURL failed: %s", err)
            return Answer(502, f"confirming the subscription failed: {err}")
        except CertificateUnavailable as err:
            log.error("SNS HTTP message not checked yet, SNS will retry: %s", err)
            return Answer(503, "signing certificate unavailable")
        except StoreUnavailable as err:
            log.error("SNS HTTP message not stored, SNS will retry: %s", err)
            return Answer(503, "database unavailable")
        except StoreError as err:
            log.error("SNS HTTP message not stored: %s", err)
            return Answer(500, "the store cannot hold this message")
        except Exception:
            log.exception("SNS HTTP message failed")
            return Answer(500, "internal error")

    def _handle(self, body: bytes) -> str:
        decoded = decode(body)
        envelope = decoded.envelope
        if envelope is None:
            # SNS can post raw bodies to HTTP/S endpoints (x-amz-sns-rawdelivery: true), but
            # unsigned: nothing would prove they come from SNS.
            raise UntrustedSignature(
                "not an SNS envelope: turn raw message delivery off for this subscription "
                "(a raw body carries no signature)"
            )
        check_topic(envelope.topic_arn, self.allowed_topics)
        if self.verifier is not None:
            self.verifier.verify(envelope.raw)
        if envelope.type == "SubscriptionConfirmation":
            url = envelope.raw.get("SubscribeURL")
            if not isinstance(url, str):
                raise UntrustedSignature("SubscriptionConfirmation without a SubscribeURL")
            self._check_subscribe_url(url, envelope.raw)
            self.confirm(url)
            return f"subscription to {envelope.topic_arn} confirmed"
        if not decoded.events:
            return decoded.ignored or "nothing to apply"
        applied = apply(self.store, [decoded], rules=self.rules, hooks=self.hooks)
        return f"{len(applied.stored)} event(s) applied, {applied.duplicates} duplicate(s)"

    def _check_subscribe_url(self, url: str, envelope: Mapping[str, Any]) -> None:
        if self.verifier is not None or self.sandbox_url is None:
            check_sns_url(url, "SubscribeURL")
            return
        # Signatures off is the offline sandbox, whose SubscribeURL is its own endpoint
        # (docs/sandbox.md#sns-over-http). Anyone can post an unsigned message: only the
        # confirmation of this very subscription, on that endpoint, is fetched.
        try:
            check_sns_url(url, "SubscribeURL")
            return
        except UntrustedSignature:
            pass
        wanted = {
            "Action": ["ConfirmSubscription"],
            "TopicArn": [str(envelope.get("TopicArn"))],
            "Token": [str(envelope.get("Token"))],
        }
        got, sandbox = urlsplit(url), urlsplit(self.sandbox_url)
        plain = url.isascii() and url.isprintable() and not any(c in url for c in "\\@ ")
        if not (
            plain
            and (got.scheme, got.netloc.lower()) == (sandbox.scheme, sandbox.netloc.lower())
            and got.path in ("", "/")
            and not got.fragment
            and parse_qs(got.query, keep_blank_values=True) == wanted
        ):
            raise UntrustedSignature(
                f"SubscribeURL is neither SNS's nor the sandbox's confirmation: {url!r}"
            )


def make_app(
    store: Store,
    *,
    verifier: SignatureVerifier | None,
    allowed_topics: Iterable[str] | None,
    rules: Rules | None = None,
    hooks: Mapping[str, Iterable[Hook]] | None = None,
    confirm: Callable[[str], None] = _open,
    sandbox_url: str | None = None,
) -> WSGIApp:
    """The WSGI application around an :class:`SnsReceiver` with these arguments."""
    receiver = SnsReceiver(
        store,
        allowed_topics=allowed_topics,
        verifier=verifier,
        rules=rules,
        hooks=hooks,
        confirm=confirm,
        sandbox_url=sandbox_url,
    )

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            answer = Answer(405, "POST SNS messages here")
        else:
            answer = _read_and_receive(environ, receiver)
        status = f"{answer.status} {_REASONS.get(answer.status, 'Error')}"
        start_response(status, [("Content-Type", "application/json")])
        return [json.dumps(answer.as_dict()).encode()]

    return app


def _read_and_receive(environ: dict[str, Any], receiver: SnsReceiver) -> Answer:
    try:
        length = int(environ.get("CONTENT_LENGTH") or -1)
    except ValueError:
        length = -1
    if length < 0:
        return Answer(411, "a Content-Length is required")
    if length == 0:
        return Answer(400, "empty body")
    if length > MAX_BODY:
        return Answer(413, f"body over {MAX_BODY} bytes: not an SNS message")
    try:
        body = environ["wsgi.input"].read(length)
    except OSError as err:
        return Answer(400, f"the body could not be read: {err}")
    return receiver.receive(body)


#: Seconds a connection may stay silent before it is closed (slow or stalled uploads).
CHANNEL_TIMEOUT = 30
#: Open connections beyond which new ones wait in the listen backlog.
CONNECTION_LIMIT = 1000


def create_server(app: WSGIApp, host: str, port: int, *, threads: int = 4) -> Any:
    """A waitress server for ``app``, bounded in threads, time and size.

    waitress reads each request in full on its event loop before a worker thread sees it, so
    slow or stalled uploads hold a connection (closed after ``CHANNEL_TIMEOUT`` seconds of
    silence), never one of the ``threads``; bodies over :data:`MAX_BODY` are refused.
    ``server.run()`` serves until ``server.close()`` (or KeyboardInterrupt/SystemExit).
    """
    from waitress.server import create_server as waitress_server

    return waitress_server(
        app,
        host=host,
        port=port,
        threads=threads,
        channel_timeout=CHANNEL_TIMEOUT,
        connection_limit=CONNECTION_LIMIT,
        max_request_body_size=MAX_BODY,
        # poll() instead of select(), which fails past file descriptor 1024.
        asyncore_use_poll=True,
        ident="courrier",
    )
