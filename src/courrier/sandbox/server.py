"""One HTTP port for SES v1, SES v2, SNS and SQS, plus the sandbox's own ``/_courrier/`` pages.

Requests are routed by the service named in their SigV4 credential scope, as AWS endpoints
are: ``ses`` goes to courrier's SES, ``sns``, ``sqs`` and ``sts`` to moto's server behind a
guard that turns its failures on malformed input into 4xx, and any other service is refused.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.sns.models import sns_backends
from moto.sqs.models import sqs_backends
from werkzeug.wrappers import Request, Response

from courrier import policy
from courrier.sandbox import (
    moto_hooks,
    ses_api_account,
    ses_api_configuration_sets,
    ses_api_contacts,
    ses_api_identities,
    ses_query,
    ses_rest,
)
from courrier.sandbox.aws_errors import (
    buffer_body,
    error_response,
    guarded,
    protocol_of,
    unknown_operation,
)
from courrier.sandbox.feedback import FeedbackRouter
from courrier.sandbox.latency import Latency
from courrier.sandbox.mailbox import Mailbox
from courrier.sandbox.ses_pages import control_page, json_response, tracking_page
from courrier.sandbox.ses_service import Caller, SesOptions, SesService
from courrier.sandbox.state import StateFile

log = logging.getLogger(__name__)

_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
DEFAULT_REGION = "us-east-1"
#: Served by moto behind the sandbox; STS answers ``GetCallerIdentity`` for ``courrier setup``.
MOTO_SERVICES = frozenset({"sns", "sqs", "sts"})
#: The actions of each concept register themselves with both SES adapters on import.
SES_ACTIONS = (ses_api_account, ses_api_configuration_sets, ses_api_contacts, ses_api_identities)

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
        # SES publishes only to standard topics of its own region (facts §1.1).
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
        self.ses = SesService(
            options,
            lambda lock, changed: FeedbackRouter(
                sns=MotoSns(), mailbox=self.mailbox, state_lock=lock, on_state_change=changed
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
            return self._control(Request(environ))(environ, start_response)
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
        found = _SCOPE.search(authorization)
        service = found.group(3) if found else None
        if service == "ses" or (service is None and path.startswith("/v2/email")):
            return self._ses(environ, start_response, found)
        if service in MOTO_SERVICES:
            refused = unknown_operation(environ, service)
            if refused is not None:
                return refused(environ, start_response)
            return guarded(self.moto, environ, start_response)
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
            account=_account_for(access_key),
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
                self.ses, caller, request.method, request.path, query, request.get_data()
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

    # ------------------------------------------------------------------ control pages

    def _control(self, request: Request) -> Response:
        path = request.path.removeprefix("/_courrier")
        if path == "/health":
            return json_response({"status": "ok", "services": ["ses", "sesv2", "sns", "sqs"]})
        if path == "/mailbox" and request.method == "GET":
            letters = self.mailbox.letters(request.args.get("recipient"), request.args.get("kind"))
            return json_response({"messages": [letter.summary() for letter in letters]})
        if path == "/mailbox" and request.method == "DELETE":
            self.mailbox.clear()
            return json_response({"cleared": True})
        found = re.fullmatch(r"/mailbox/(\d+)", path)
        if found:
            letter = self.mailbox.get(int(found.group(1)))
            if letter is None:
                return json_response({"message": "no such message"}, 404)
            return json_response(letter.full())
        found = re.fullmatch(r"/identities/([^/]+)/verify", path)
        if found and request.method == "POST":
            name = urllib.parse.unquote(found.group(1))
            account, region = _scope(request)
            if not self.ses.mark_verified(account, region, name):
                return json_response({"message": f"no identity {name} in {region}"}, 404)
            return json_response({"identity": name, "status": "Success"})
        if path == "/account" and request.method == "POST":
            return self._account(request)
        if path == "/throttles" and request.method == "GET":
            account, region = _scope(request)
            state = self.ses.existing_state(account, region)
            return json_response(
                {
                    "account": account,
                    "region": region,
                    "throttles": state.throttled if state else 0,
                    "bulk_calls": state.bulk_calls if state else 0,
                }
            )
        if path == "/sns-deliveries":
            return json_response({"dropped": [d.__dict__ for d in moto_hooks.dropped_deliveries]})
        if path == "/drain" and request.method == "POST":
            try:
                timeout = float(request.args.get("timeout", "10"))
            except ValueError:
                timeout = math.nan
            if not 0 <= timeout <= 300:
                return json_response(
                    {"message": "timeout must be a number of seconds, 0 to 300"}, 400
                )
            return json_response({"drained": self.ses.scheduler.drain(timeout)})
        if path == "/reset" and request.method == "POST":
            self.reset()
            return json_response({"reset": True})
        page = control_page(self.ses, request, path, _scope)
        if page is not None:
            return page
        return json_response({"message": f"no such page: {request.path}"}, 404)

    def _account(self, request: Request) -> Response:
        """Change what AWS support would: quota, rate, production access, enforcement status."""
        try:
            changes = _account_changes(json.loads(request.get_data() or b"null"))
        except (ValueError, RecursionError) as err:
            return json_response({"message": str(err)}, 400)
        account, region = _scope(request)
        caller = Caller(account=account, region=region, api="v2")
        self.ses.update_account(caller, **changes)
        state, sent = self.ses.account(caller)
        return json_response({**state.__dict__, "sent_last_24_hours": sent})

    def reset(self) -> None:
        """Forget everything: SES state, mailbox, SNS topics and SQS queues."""
        self.ses.scheduler.drain(10)
        self.ses.forget_everything()
        self.mailbox.clear()
        moto_hooks.dropped_deliveries.clear()
        for sns_account in list(sns_backends.values()):
            sns_account.reset()
        sns_backends.clear()
        for sqs_account in list(sqs_backends.values()):
            sqs_account.reset()
        sqs_backends.clear()
        self._save()


def _account_changes(body: Any) -> dict[str, Any]:
    """The account fields of a ``/_courrier/account`` body, checked: only real JSON types."""
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    unknown = sorted(
        set(body)
        - {
            "max_send_rate",
            "max_send_burst",
            "max_24_hour_send",
            "production",
            "sending_enabled",
            "enforcement_status",
        }
    )
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(unknown)}")
    changes: dict[str, Any] = {}
    for key, value in body.items():
        if key == "enforcement_status":
            # GetAccount's EnforcementStatus (facts §6.2).
            if value not in ("HEALTHY", "PROBATION", "SHUTDOWN"):
                raise ValueError("enforcement_status: HEALTHY, PROBATION or SHUTDOWN")
            changes[key] = value
            continue
        if key in ("production", "sending_enabled"):
            # "false" is a string, and a non-empty string is true: only JSON booleans.
            if not isinstance(value, bool):
                raise ValueError(f"{key} must be true or false")
            changes[key] = value
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ValueError(f"{key} must be a number")
        if key == "max_24_hour_send" and value < 0 and value != -1:
            raise ValueError("max_24_hour_send must be -1 (unlimited) or at least 0")
        if key != "max_24_hour_send" and value <= 0:
            raise ValueError(f"{key} must be more than 0")
        changes[key] = float(value)
    return changes


def _scope(request: Request) -> tuple[str, str]:
    """The (account, region) a control page is about: ``?account=&region=``, else defaults."""
    return request.args.get("account", _account_for("")), request.args.get("region", DEFAULT_REGION)


def _account_for(access_key: str) -> str:
    from moto.iam.models import get_account_id_from

    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    account: str = get_account_id_from(access_key)
    return account


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
