"""A typed client for the sandbox's own routes under ``/_courrier/``.

The AWS APIs are reached with boto3 or any SDK; this client covers what only the sandbox
answers: the mailbox, the account's limits, throttles, recipient rules, verification,
draining feedback and reset. It uses the standard library only, so a test suite needs
nothing but ``courrier-sandbox``::

    control = SandboxControl("http://127.0.0.1:4566")
    control.set_account(production=True)
    ...
    assert [m.recipient for m in control.mailbox()] == ["success@simulator.amazonses.com"]
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Letter",
    "RecipientRule",
    "SandboxControl",
    "SandboxControlError",
    "TenantReputation",
    "Throttles",
]


class SandboxControlError(Exception):
    """A ``/_courrier/`` route refused a request (``status``: its HTTP status)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Letter:
    """One message in the sandbox's mailbox, without its body (see :meth:`SandboxControl.letter`).

    ``kind`` is ``delivery`` (a copy that reached a recipient), ``auto-reply`` (the simulator's
    out-of-office answer) or ``feedback`` (bounce and complaint notices SES forwards by email).
    """

    id: int
    kind: str
    recipient: str
    sender: str
    subject: str
    ses_message_id: str
    received_at: float

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Letter:
        return cls(
            id=int(data["id"]),
            kind=str(data["kind"]),
            recipient=str(data["recipient"]),
            sender=str(data["sender"]),
            subject=str(data["subject"]),
            ses_message_id=str(data["ses_message_id"]),
            received_at=float(data["received_at"]),
        )


@dataclass(frozen=True)
class Throttles:
    """Sends refused for the send rate, and SendBulkEmail calls, since the last reset."""

    account: str
    region: str
    throttles: int
    bulk_calls: int


@dataclass(frozen=True)
class TenantReputation:
    """A tenant's reputation entity as the sandbox judges it now, and the counts behind it.

    ``sending_status`` is the aggregate (``ENABLED``, ``REINSTATED`` or ``DISABLED``);
    ``aws_status`` is what the tenant's ``policy`` made of its open finding (``impact``:
    ``LOW``, ``HIGH`` or None), ``aws_cause`` says which; ``attempts``, ``bounces`` and
    ``complaints`` are the recipients counted over the window the findings are judged on.
    """

    name: str
    tenant_id: str
    arn: str
    policy: str
    sending_status: str
    customer_status: str
    aws_status: str
    aws_cause: str | None
    impact: str | None
    attempts: int
    bounces: int
    complaints: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TenantReputation:
        return cls(
            name=str(data["name"]),
            tenant_id=str(data["tenant_id"]),
            arn=str(data["arn"]),
            policy=str(data["policy"]),
            sending_status=str(data["sending_status"]),
            customer_status=str(data["customer_status"]),
            aws_status=str(data["aws_status"]),
            aws_cause=None if data["aws_cause"] is None else str(data["aws_cause"]),
            impact=None if data["impact"] is None else str(data["impact"]),
            attempts=int(data["attempts"]),
            bounces=int(data["bounces"]),
            complaints=int(data["complaints"]),
        )


@dataclass(frozen=True)
class RecipientRule:
    """A recipient that behaves like a slow, full or hostile mail server.

    ``outcome`` is ``delay`` (a DeliveryDelay event of ``delay_type``, then ``then`` after
    ``after`` seconds), ``bounce`` or ``complaint``; ``pattern`` is a shell-style pattern of
    addresses. The most recent rule that matches wins.
    """

    pattern: str
    outcome: str = "delay"
    delay_type: str | None = None
    then: str | None = None
    after: float | None = None
    status: str | None = None
    diagnostic_code: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if value is not None}


class SandboxControl:
    """The ``/_courrier/`` routes of the sandbox at ``url``; ``region`` (and ``account``)
    scope the calls that are per region, as ``?region=`` does."""

    def __init__(
        self,
        url: str,
        *,
        region: str | None = None,
        account: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.region = region
        self.account = account
        self.timeout = timeout

    # ------------------------------------------------------------------ the mailbox

    def mailbox(self, recipient: str | None = None, kind: str | None = None) -> list[Letter]:
        """The messages in the mailbox, oldest first, optionally of one recipient or kind."""
        query = {k: v for k, v in (("recipient", recipient), ("kind", kind)) if v is not None}
        found = self.request("GET", "/mailbox", query=query)
        return [Letter.from_json(item) for item in found["messages"]]

    def letter(self, letter_id: int) -> dict[str, Any]:
        """One message in full: its headers, text, HTML, attachments and raw MIME."""
        found: dict[str, Any] = self.request("GET", f"/mailbox/{letter_id}")
        return found

    def clear_mailbox(self) -> None:
        """Empty the mailbox."""
        self.request("DELETE", "/mailbox")

    def open(self, letter_id: int, *, ip_address: str | None = None) -> str:
        """Open a delivered copy: an ``Open`` event for a configuration set that tracks them."""
        body = {"ip_address": ip_address} if ip_address else None
        opened: str = self.request("POST", f"/mailbox/{letter_id}/open", body)["opened"]
        return opened

    def click(self, letter_id: int, link: str | None = None) -> str:
        """Follow a tracked link of a delivered copy (the only one when ``link`` is None)."""
        body = {"link": link} if link else None
        clicked: str = self.request("POST", f"/mailbox/{letter_id}/click", body)["clicked"]
        return clicked

    def events(
        self, kind: str | None = None, message_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Every event SES recorded for the sends so far, oldest first (``kind``: ``Send``,
        ``Delivery``, ``Bounce``, ...), whether or not a topic received it."""
        query = {k: v for k, v in (("kind", kind), ("message_id", message_id)) if v is not None}
        events: list[dict[str, Any]] = self.request("GET", "/events", query=query)["events"]
        return events

    def clear_events(self) -> None:
        """Forget the events recorded so far."""
        self.request("DELETE", "/events")

    # ------------------------------------------------------------------ the account

    def set_account(self, **changes: Any) -> dict[str, Any]:
        """Change what AWS support would: ``max_send_rate``, ``max_send_burst``,
        ``max_24_hour_send`` (-1: unlimited), ``production``, ``sending_enabled``,
        ``enforcement_status``; the account as it is then."""
        account: dict[str, Any] = self.request("POST", "/account", changes, scoped=True)
        return account

    def verify_identity(self, identity: str) -> None:
        """Verify an identity left pending (``--pending-identities``)."""
        quoted = urllib.parse.quote(identity, safe="")
        self.request("POST", f"/identities/{quoted}/verify", scoped=True)

    def throttles(self) -> Throttles:
        """How many sends the send rate refused since the last reset."""
        found = self.request("GET", "/throttles", scoped=True)
        return Throttles(
            account=str(found["account"]),
            region=str(found["region"]),
            throttles=int(found["throttles"]),
            bulk_calls=int(found["bulk_calls"]),
        )

    def tenant(self, name: str) -> TenantReputation:
        """A tenant's reputation entity as judged now (waits for the feedback so far first,
        so that the events of earlier sends are counted)."""
        self.drain()
        quoted = urllib.parse.quote(name, safe="")
        return TenantReputation.from_json(self.request("GET", f"/tenants/{quoted}", scoped=True))

    # ------------------------------------------------------------------ recipients

    def recipients(self) -> list[dict[str, Any]]:
        """The recipient rules in force, oldest first."""
        rules: list[dict[str, Any]] = self.request("GET", "/recipients")["rules"]
        return rules

    def add_recipient(self, rule: RecipientRule) -> None:
        """Make the recipients ``rule.pattern`` matches behave as it says."""
        self.request("POST", "/recipients", rule.to_json())

    def clear_recipients(self) -> None:
        """Forget every recipient rule."""
        self.request("DELETE", "/recipients")

    # ------------------------------------------------------------------ the whole sandbox

    def health(self) -> bool:
        """Whether the sandbox answers its health check."""
        try:
            return bool(self.request("GET", "/health").get("status") == "ok")
        except (OSError, SandboxControlError):
            return False

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until the feedback of every send so far is published; False on timeout."""
        drained = self.request("POST", "/drain", query={"timeout": str(timeout)})["drained"]
        return bool(drained)

    def dropped_deliveries(self) -> list[dict[str, Any]]:
        """SNS -> SQS deliveries AWS would have dropped (a queue policy refused them), and why."""
        dropped: list[dict[str, Any]] = self.request("GET", "/sns-deliveries")["dropped"]
        return dropped

    def reset(self) -> None:
        """Forget everything: SES state, the mailbox, recipient rules, SNS topics, SQS queues."""
        self.request("POST", "/reset")

    # ------------------------------------------------------------------ transport

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, str] | None = None,
        scoped: bool = False,
    ) -> Any:
        """One call to ``/_courrier{path}``: the decoded JSON answer, or
        :class:`SandboxControlError` with the sandbox's message."""
        try:
            with self.urlopen(method, path, body, query=query, scoped=scoped) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as err:
            with err:
                raise SandboxControlError(err.code, _message_of(err)) from err

    def urlopen(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, str] | None = None,
        scoped: bool = False,
    ) -> Any:
        """One call to ``/_courrier{path}`` as urllib makes it: the open response, or
        :class:`urllib.error.HTTPError` for a refusal (the caller reads and closes either)."""
        params = dict(query or {})
        if scoped:
            params.update(self._scope())
        url = f"{self.url}/_courrier{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            url, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        return urllib.request.urlopen(request, timeout=self.timeout)

    def _scope(self) -> dict[str, str]:
        scope = {}
        if self.region:
            scope["region"] = self.region
        if self.account:
            scope["account"] = self.account
        return scope


def _message_of(err: urllib.error.HTTPError) -> str:
    try:
        decoded = json.loads(err.read())
    except ValueError:
        return err.reason or ""
    return str(decoded.get("message", decoded)) if isinstance(decoded, dict) else str(decoded)
