"""One HTTP port for SES v1, SES v2, SNS and SQS, plus the sandbox's own ``/_courrier/`` pages.

Requests are routed by the service named in their SigV4 credential scope, as AWS endpoints
are: ``ses`` goes to courrier's SES, ``sns``, ``sqs`` and ``sts`` to moto's server behind a
guard that turns its failures on malformed input into 4xx, and any other service is refused.
"""

from __future__ import annotations

import logging
import os
import re
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from xml.sax.saxutils import escape

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.sns.exceptions import InvalidParameterValue, SNSException, SNSNotFoundError
from moto.sns.models import sns_backends
from moto.sqs.models import sqs_backends
from werkzeug.wrappers import Request, Response

import courrier_policy as policy
from courrier_sandbox.accounts import DEFAULT_REGION, account_for
from courrier_sandbox.aws_errors import (
    Protocol,
    buffer_body,
    error_response,
    guarded,
    protocol_of,
    unknown_operation,
)
from courrier_sandbox.control import routes as control_routes
from courrier_sandbox.control.pages import json_response, tracking_page
from courrier_sandbox.latency import Latency
from courrier_sandbox.ses.api import account as ses_api_account
from courrier_sandbox.ses.api import configuration_sets as ses_api_configuration_sets
from courrier_sandbox.ses.api import contacts as ses_api_contacts
from courrier_sandbox.ses.api import identities as ses_api_identities
from courrier_sandbox.ses.api import tenants as ses_api_tenants
from courrier_sandbox.ses.service import Caller, SesOptions, SesService
from courrier_sandbox.ses.wire import query as ses_query
from courrier_sandbox.ses.wire import rest as ses_rest
from courrier_sandbox.simulation.events import EventLog
from courrier_sandbox.simulation.feedback import FeedbackRouter
from courrier_sandbox.simulation.mailbox import Mailbox
from courrier_sandbox.sns_sqs import hooks as moto_hooks
from courrier_sandbox.sns_sqs import http_delivery, signing
from courrier_sandbox.state import StateFile

log = logging.getLogger(__name__)

_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
#: Served by moto behind the sandbox; STS answers ``GetCallerIdentity`` for ``courrier setup``.
MOTO_SERVICES = frozenset({"sns", "sqs", "sts"})
#: The actions of each concept register themselves with both SES adapters on import.
SES_ACTIONS = (
    ses_api_account,
    ses_api_configuration_sets,
    ses_api_contacts,
    ses_api_identities,
    ses_api_tenants,
)

WSGIEnviron = dict[str, Any]
StartResponse = Callable[..., Any]


class MotoSns:
    """Publishes to moto's SNS as ``ses.amazonaws.com`` would, honouring the topic policy."""

    def publish_as_ses(
        self,
        *,
        account: str,
        region: str,
        topic_arn: str,
        source_arn: str,
        message: str,
        subject: str | None,
    ) -> str | None:
        parts = topic_arn.split(":")
        # SES publishes only to standard topics of its own region (docs/ses.md#notifications).
        if len(parts) != 6 or parts[3] != region or parts[5].endswith(".fifo"):
            return None
        backend = sns_backends[parts[4]][region]
        topic = backend.topics.get(topic_arn)
        if topic is None:
            return None
        allowed = policy.service_allowed(
            topic.policy,
            service="ses.amazonaws.com",
            action="sns:Publish",
            resource=topic_arn,
            context={
                "aws:SourceArn": source_arn,
                "aws:SourceAccount": account,
                "AWS:SourceOwner": account,
            },
        )
        if not allowed:
            return None
        message_id: str = backend.publish(message, arn=topic_arn, subject=subject)
        return message_id

    def has_topic(self, *, region: str, topic_arn: str) -> bool:
        parts = topic_arn.split(":")
        if len(parts) != 6 or parts[3] != region:
            return False
        return topic_arn in sns_backends[parts[4]][region].topics


class SandboxApp:
    """The WSGI application behind ``courrier sandbox``."""

    def __init__(
        self,
        options: SesOptions,
        state_path: str | None = None,
        *,
        latency: Latency | None = None,
    ) -> None:
        moto_hooks.install()
        self.options = options
        self.latency = latency or Latency()
        self.state = StateFile(state_path) if state_path else None
        self.mailbox = Mailbox(on_change=self._save)
        self.events = EventLog()
        self.ses = SesService(
            options,
            lambda lock, changed: FeedbackRouter(
                sns=MotoSns(),
                mailbox=self.mailbox,
                state_lock=lock,
                on_state_change=changed,
                events=self.events,
            ),
            self.mailbox,
            on_change=self._save,
        )
        if self.state is not None:
            self.state.load(self.ses, self.mailbox)
        self.moto = DomainDispatcherApplication(create_backend_app)

    def _save(self) -> None:
        if self.state is not None:
            self.state.save_soon(self.ses, self.mailbox)

    def close(self) -> None:
        """Stop publishing feedback and write the state file one last time."""
        self.ses.scheduler.stop()
        http_delivery.worker.stop()
        if self.state is not None:
            self.state.close()

    def __call__(self, environ: WSGIEnviron, start_response: StartResponse) -> Iterable[bytes]:
        started = time.monotonic()
        try:
            answer = self._route(environ, start_response)
            if self.latency and not environ.get("PATH_INFO", "").startswith("/_courrier/"):
                self.latency.wait(started)
            return answer
        except Exception:
            # A bug of the sandbox's own: answered as AWS answers its own failures.
            log.exception(
                "sandbox failed on %s %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO")
            )
            response = error_response(
                protocol_of(environ), 500, "InternalFailure", "The sandbox failed.", sender=False
            )
            return response(environ, start_response)

    def _route(self, environ: WSGIEnviron, start_response: StartResponse) -> Iterable[bytes]:
        refused = buffer_body(environ)
        if refused is not None:
            return refused(environ, start_response)
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_courrier/"):
            return control_routes.route(self, Request(environ))(environ, start_response)
        if path == "/moto-api/reset" and environ.get("REQUEST_METHOD") == "POST":
            # moto-based suites call this between tests: it must clear SES too.
            self.reset()
            return json_response({"status": "ok"})(environ, start_response)
        authorization = environ.get("HTTP_AUTHORIZATION", "")
        if not authorization and path.startswith(("/I0/", "/L0/")):
            # An open pixel or a tracked link: the sandbox stands for SES's tracking domain.
            tracked = tracking_page(self.ses, Request(environ))
            if tracked is not None:
                return tracked(environ, start_response)
        if not authorization and environ.get("REQUEST_METHOD") == "GET":
            # What SNS messages link to: SigningCertURL, SubscribeURL and UnsubscribeURL.
            linked = sns_link(Request(environ))
            if linked is not None:
                return linked(environ, start_response)
        found = _SCOPE.search(authorization)
        service = found.group(3) if found else None
        if service == "ses" or (service is None and path.startswith("/v2/email")):
            return self._ses(environ, start_response, found)
        if service in MOTO_SERVICES:
            refused = unknown_operation(environ, service)
            if refused is not None:
                return refused(environ, start_response)
            endpoint = http_delivery.request_endpoint.set(Request(environ).host_url.rstrip("/"))
            try:
                return guarded(self.moto, environ, start_response)
            finally:
                http_delivery.request_endpoint.reset(endpoint)
        if service is None and path.startswith("/moto-api/"):
            return guarded(self.moto, environ, start_response)
        if service is None:
            refusal = error_response(
                protocol_of(environ),
                403,
                "MissingAuthenticationToken",
                "Request is missing Authentication Token",
            )
        else:
            refusal = error_response(
                protocol_of(environ),
                400,
                "InvalidSignatureException",
                f"Credential should be scoped to correct service: the courrier sandbox serves "
                f"ses, sns, sqs and sts, not '{service}'.",
            )
            # REST clients of other services (Lambda, ...) read the code from this header.
            refusal.headers.setdefault("x-amzn-ErrorType", "InvalidSignatureException")
        return refusal(environ, start_response)

    # ------------------------------------------------------------------ SES

    def _caller(self, request: Request, scope: re.Match[str] | None, api: str) -> Caller:
        access_key = scope.group(1) if scope else ""
        region = scope.group(2) if scope else DEFAULT_REGION
        return Caller(
            account=account_for(access_key),
            region=region,
            api=api,
            source_ip=request.remote_addr or "127.0.0.1",
            endpoint=request.host_url.rstrip("/"),
        )

    def _ses(
        self, environ: WSGIEnviron, start_response: StartResponse, scope: re.Match[str] | None
    ) -> Iterable[bytes]:
        request = Request(environ)
        if request.path.startswith("/v2/"):
            caller = self._caller(request, scope, "v2")
            query = {k: request.args.getlist(k) for k in request.args}
            reply, code = ses_rest.handle(
                self.ses, caller, request.method, _raw_path(environ), query, request.get_data()
            )
            response = Response(reply.body, status=reply.status, content_type="application/json")
            response.headers["x-amzn-RequestId"] = os.urandom(16).hex()
            if code:
                response.headers["x-amzn-ErrorType"] = code
        else:
            caller = self._caller(request, scope, "v1")
            params = {**request.args.to_dict(), **request.form.to_dict()}
            reply = ses_query.handle(self.ses, caller, params)
            response = Response(reply.body, status=reply.status, content_type="text/xml")
        body = response(environ, start_response)
        if reply.after is None:
            return body
        return _then(body, reply.after)

    def reset(self) -> None:
        """Forget everything: SES state, mailbox, SNS topics and SQS queues."""
        self.ses.scheduler.drain(10)
        self.ses.forget_everything()
        self.mailbox.clear()
        self.events.clear()
        moto_hooks.dropped_deliveries.clear()
        http_delivery.forget()
        for sns_account in list(sns_backends.values()):
            sns_account.reset()
        sns_backends.clear()
        for sqs_account in list(sqs_backends.values()):
            sqs_account.reset()
        sqs_backends.clear()
        self._save()


_SNS_XMLNS = "http://sns.amazonaws.com/doc/2010-03-31/"


def sns_link(request: Request) -> Response | None:
    """The answer to an unsigned GET of a link SNS puts in its messages, or ``None``.

    The signing certificate is served at the path of ``SigningCertURL``; ``SubscribeURL``
    (the sandbox's own endpoint) and ``UnsubscribeURL`` take unsigned GETs as on AWS
    (https://docs.aws.amazon.com/sns/latest/dg/SendMessageToHttp.prepare.html).
    """
    if signing.CERTIFICATE_PATH.match(request.path):
        pem = signing.certificate_for(request.path)
        if pem is None:
            return Response(b"Not Found", status=404, content_type="text/plain")
        return Response(pem, content_type="application/x-x509-ca-cert")
    action = request.args.get("Action")
    if request.path != "/" or action not in ("ConfirmSubscription", "Unsubscribe"):
        return None
    try:
        if action == "ConfirmSubscription":
            arn = http_delivery.confirm(
                request.args.get("TopicArn", ""),
                request.args.get("Token", ""),
                authenticated=False,
            )
            result = (
                "<ConfirmSubscriptionResult>"
                f"<SubscriptionArn>{escape(arn)}</SubscriptionArn>"
                "</ConfirmSubscriptionResult>"
            )
        else:
            _unsubscribe(request.args.get("SubscriptionArn", ""))
            result = ""
    except SNSException as err:
        return error_response(
            Protocol.QUERY, 404 if err.code == "NotFound" else 400, err.code, err.message
        )
    body = (
        f'<{action}Response xmlns="{_SNS_XMLNS}">{result}'
        f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
        f"</{action}Response>"
    )
    return Response(body, content_type="text/xml")


def _unsubscribe(arn: str) -> None:
    parts = arn.split(":")
    if len(parts) != 7 or parts[0] != "arn" or parts[2] != "sns":
        raise InvalidParameterValue("Invalid parameter: SubscriptionArn")
    account, region = parts[4], parts[3]
    if account not in sns_backends or arn not in sns_backends[account][region].subscriptions:
        raise SNSNotFoundError("Subscription does not exist")
    sns_backends[account][region].unsubscribe(arn)


def _then(body: Iterable[bytes], after: Callable[[], None]) -> Iterator[bytes]:
    """``body``, then ``after`` once the server has written it: SES feedback always comes
    after the send call has returned.

    ``after`` runs when the body is exhausted, not only from the WSGI ``close()``: werkzeug
    skips ``close()`` when the caller resets the connection right after the answer (a
    killed client), and SES delivers a message whether or not its caller read the answer.
    The ``finally`` also covers a write that failed (the generator is closed or collected).
    """
    try:
        yield from body
    finally:
        try:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        finally:
            after()


def _raw_path(environ: WSGIEnviron) -> str:
    """The request path as the client encoded it: a URI label may hold an escaped ``/``
    (botocore escapes a reputation entity's ARN, ``.../tenant/NAME/ID``, into one label), which
    the decoded ``PATH_INFO`` would split; each label is unescaped once matched."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not raw:
        return urllib.parse.quote(Request(environ).path)
    return str(raw).partition("?")[0]
