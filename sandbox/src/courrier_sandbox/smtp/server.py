"""SES's SMTP interface (aiosmtpd): STARTTLS on one port, TLS from the first byte on another.

What SES's SMTP endpoints do (https://docs.aws.amazon.com/ses/latest/dg/smtp-connect.html,
https://docs.aws.amazon.com/ses/latest/dg/smtp-response-codes.html): every session is
encrypted before anything else (``530 Must issue a STARTTLS command first``); AUTH PLAIN or
LOGIN with an access key id and its SMTP password (``535 Authentication Credentials
Invalid``); no mail before AUTH (``530 Authentication required``); an address SES cannot use
is refused at once (``553 <addr> Invalid email address`` at MAIL FROM, ``553 <addr> address
unknown`` at RCPT TO, https://docs.aws.amazon.com/ses/latest/dg/troubleshoot-smtp.html); a
message is sent as SendRawEmail sends it and answered ``250 Ok <message id>``, or refused
with the SMTP form of the API's error (454 when throttled, 554 when rejected, 552 when too
long).

A message takes the sandbox's one send path (:meth:`SesService.send`, with the raw message
built as ``SendRawEmail`` builds it): the same identity checks, send rate, simulator,
mailbox, events and statistics as the API.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from courrier_sandbox.accounts import account_for
from courrier_sandbox.errors import SandboxError
from courrier_sandbox.ses.faults import SesFault
from courrier_sandbox.ses.send_checks import V2_MAX_BYTES, check_address
from courrier_sandbox.ses.sending import Envelope as SendEnvelope
from courrier_sandbox.ses.sending import raw_mail
from courrier_sandbox.ses.service import Caller, SesService
from courrier_sandbox.smtp import tls
from courrier_sandbox.smtp.credentials import Login, SmtpKeys, default_keys, ses_regions

__all__ = ["SMTP_MAX_BYTES", "SmtpInterface", "SmtpOptions", "answer_for"]

log = logging.getLogger(__name__)


class _QuietDeprecation(logging.Filter):
    """aiosmtpd logs a deprecation warning on every successful AUTH that it makes itself
    (it sets its own deprecated ``Session.login_data``): nothing a sandbox user can act on."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in record.getMessage()


logging.getLogger("mail.log").addFilter(_QuietDeprecation())

#: SES's limit on a message sent by SMTP, as for the v2 API (quotas.html: 40 MB).
SMTP_MAX_BYTES = V2_MAX_BYTES
#: ``ses:operation`` of a message sent through the SMTP interface.
OPERATION = "SendSmtpEmail"

#: aiosmtpd's own answers, in the words SES uses for them (smtp-response-codes.html).
_SES_WORDING = {
    "235 2.7.0 Authentication successful": "235 Authentication successful.",
    "530 5.7.0 Authentication required": "530 Authentication required",
    "535 5.7.8 Authentication credentials invalid": "535 Authentication Credentials Invalid",
    "538 5.7.11 Encryption required for requested authentication mechanism": (
        "530 Must issue a STARTTLS command first"
    ),
    "552 Error: Too much mail data": "552 Message is too long.",
    "552 Error: message size exceeds fixed maximum message size": "552 Message is too long.",
}


@dataclass(frozen=True)
class SmtpOptions:
    """Where the SMTP interface listens, with which certificate, for which keys."""

    #: Plain connections that must STARTTLS (SES: 25, 587, 2587); 0 picks a free port.
    port: int | None = None
    #: TLS from the first byte (SES: 465, 2465); 0 picks a free port.
    tls_port: int | None = None
    #: PEM files of the certificate and its key; None: a self-signed one made at start.
    certificate: str | None = None
    key: str | None = None
    #: Access key id -> secret access key; None: ``credentials.default_keys()``.
    keys: Mapping[str, str] | None = None
    max_bytes: int = SMTP_MAX_BYTES

    @property
    def enabled(self) -> bool:
        return self.port is not None or self.tls_port is not None


def answer_for(fault: SesFault) -> str:
    """The SMTP answer of an error the API would have answered with ``fault``."""
    if fault.kind == "Throttling":
        return "454 Throttling failure: Maximum sending rate exceeded."
    if fault.kind == "DailyQuota":
        return "454 Throttling failure: Daily message quota exceeded."
    if fault.kind == "MessageRejected" and fault.message.startswith("Message length"):
        return "552 Message is too long."
    if fault.kind == "MessageRejected":
        return f"554 Message rejected: {fault.message}"
    return f"554 Transaction failed: {fault.message}"


def _usable(address: str) -> bool:
    """Whether SES would take ``address`` in MAIL FROM or RCPT TO: what the API checks."""
    try:
        check_address(address)
    except SesFault:
        return False
    return True


class _Handler:
    """aiosmtpd's handler: checks logins, hands each message to the SES service."""

    def __init__(self, ses: SesService, keys: SmtpKeys, endpoint: str) -> None:
        self.ses = ses
        self.keys = keys
        self.endpoint = endpoint

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = self.keys.login(
            data.login.decode("utf-8", "replace"), data.password.decode("utf-8", "replace")
        )
        if login is None:
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=login)

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        # SES answers an address it cannot use at once, not after DATA (smtp-response-codes
        # in https://docs.aws.amazon.com/ses/latest/dg/troubleshoot-smtp.html).
        if not _usable(address):
            return f"553 <{address}> Invalid email address"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if not _usable(address):
            return f"553 <{address}> address unknown"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        login: object = session.auth_data  # what authenticate() returned
        assert isinstance(login, Login)
        peer: Any = session.peer  # typed str by aiosmtpd; a (host, port) tuple in fact
        caller = Caller(
            account=account_for(login.access_key_id),
            region=login.region,
            api="smtp",
            source_ip=peer[0] if isinstance(peer, tuple) else "127.0.0.1",
            endpoint=self.endpoint,
        )
        given = SendEnvelope(source=envelope.mail_from or "", to=list(envelope.rcpt_tos))
        raw = envelope.original_content or b""
        try:
            # The service takes its lock and may wait on it: off the event loop.
            accepted = await asyncio.to_thread(
                self.ses.send, caller, raw_mail(given, raw, OPERATION)
            )
        except SesFault as fault:
            return answer_for(fault)
        # The feedback is scheduled once the answer is on its way, as for an API send.
        asyncio.get_running_loop().call_soon(accepted.release)
        return f"250 Ok {accepted.message_id}"


class _SesSmtp(SMTP):
    """aiosmtpd's SMTP session, answering in SES's words."""

    def __init__(
        self,
        handler: _Handler,
        *,
        implicit_tls: bool,
        context: Any,
        max_bytes: int,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        super().__init__(
            handler,
            data_size_limit=max_bytes,
            hostname="courrier-sandbox",
            ident="courrier-sandbox ESMTP (SES's SMTP interface)",
            tls_context=None if implicit_tls else context,
            require_starttls=not implicit_tls,
            auth_required=True,
            auth_require_tls=True,
            authenticator=handler.authenticate,
            loop=loop,
        )
        if implicit_tls:
            # The connection is TLS from its first byte, which aiosmtpd does not see (it
            # only tracks its own STARTTLS); asking for it would refuse every AUTH.
            self._auth_require_tls = False

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        address, params = super()._getaddr(arg)
        if address is None:
            # An address aiosmtpd cannot parse goes on to the handler's MAIL and RCPT hooks,
            # which refuse it in SES's words, naming it.
            return arg.strip().removeprefix("<").partition(">")[0], ""
        return address, params

    async def push(self, status: Any) -> None:
        text = status if isinstance(status, str) else bytes(status).decode("ascii", "replace")
        await super().push(_SES_WORDING.get(text, text))


class SmtpInterface:
    """The SMTP ports of one sandbox, served by an event loop on a thread of their own."""

    def __init__(self, ses: SesService, options: SmtpOptions, *, host: str, endpoint: str) -> None:
        self.ses = ses
        self.options = options
        self.host = host
        self.endpoint = endpoint
        self.keys = SmtpKeys(
            default_keys() if options.keys is None else options.keys, ses_regions()
        )
        #: The ports listened on, once started (None for a port not asked for).
        self.port: int | None = None
        self.tls_port: int | None = None
        self.tls: tls.ServerTls | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._servers: list[asyncio.Server] = []
        self._sessions: weakref.WeakSet[_SesSmtp] = weakref.WeakSet()

    def start(self) -> None:
        if self.options.certificate or self.options.key:
            if not (self.options.certificate and self.options.key):
                raise SandboxError("--tls-cert and --tls-key go together")
            self.tls = tls.given(self.options.certificate, self.options.key)
        else:
            self.tls = tls.generated(self.host)
        loop = self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=loop.run_forever, name="courrier-sandbox-smtp", daemon=True
        )
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._listen(), loop).result(timeout=30)
        except OSError as err:
            self.stop()
            raise SandboxError(f"cannot listen for SMTP on {self.host}: {err}") from err

    async def _listen(self) -> None:
        loop = asyncio.get_running_loop()
        assert self.tls is not None
        for port, implicit in ((self.options.port, False), (self.options.tls_port, True)):
            if port is None:
                continue
            server = await loop.create_server(
                lambda implicit=implicit: self._session(implicit),
                self.host,
                port,
                ssl=self.tls.context if implicit else None,
            )
            self._servers.append(server)
            bound: int = server.sockets[0].getsockname()[1]
            if implicit:
                self.tls_port = bound
            else:
                self.port = bound

    def _session(self, implicit_tls: bool) -> _SesSmtp:
        assert self._loop is not None
        assert self.tls is not None
        session = _SesSmtp(
            _Handler(self.ses, self.keys, self.endpoint),
            implicit_tls=implicit_tls,
            context=self.tls.context,
            max_bytes=self.options.max_bytes,
            loop=self._loop,
        )
        self._sessions.add(session)
        return session

    async def _close(self) -> None:
        for server in self._servers:
            server.close()
        # Open sessions end with the sandbox (Server.wait_closed waits for them), at once:
        # a TLS close would wait for the client's own close_notify.
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.abort()  # type: ignore[attr-defined]
        await asyncio.sleep(0)
        for server in self._servers:
            await asyncio.wait_for(server.wait_closed(), timeout=5)
        self._servers.clear()
        current = asyncio.current_task()
        pending = [t for t in asyncio.all_tasks() if t is not current]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def stop(self) -> None:
        """Close the ports and their sessions, then the event loop; idempotent."""
        loop, self._loop = self._loop, None
        if loop is not None:
            try:
                asyncio.run_coroutine_threadsafe(self._close(), loop).result(timeout=10)
            except TimeoutError:
                log.warning("the SMTP interface did not close its sessions in 10 s")
            finally:
                loop.call_soon_threadsafe(loop.stop)
                if self._thread is not None:
                    self._thread.join(timeout=10)
                loop.close()
        if self.tls is not None:
            self.tls.close()
