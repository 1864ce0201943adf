"""The send actions of both SES APIs, protocol-neutral: each adapter only names the members.

v1 and v2 spell the same things differently (``Source`` / ``FromEmailAddress``, ``Tags`` /
``EmailTags``, ``TemplateData`` inside or beside the template); once the members are named,
building the message, rendering a template and answering a bulk send are the same code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from courrier_sandbox.ses.faults import SesFault
from courrier_sandbox.ses.identities import default_configuration_set
from courrier_sandbox.ses.send_checks import (
    check_address,
    check_call,
    check_senders,
    check_single_headers,
)
from courrier_sandbox.ses.service import Accepted, Caller, SesService
from courrier_sandbox.ses.templates import (
    RenderingFailure,
    Template,
    parse_data,
    render,
    template_name_from,
)
from courrier_sandbox.ses.tenants import check_tenant
from courrier_sandbox.ses.wire import formats as wire
from courrier_sandbox.simulation.mail import (
    Attachment,
    Charsets,
    Mail,
    UnbuildableMessage,
    build_simple,
    header_recipients,
    tags_from_headers,
)
from courrier_sandbox.simulation.outgoing import UNSUBSCRIBE_PLACEHOLDER, UNSUBSCRIBE_VARIABLE

#: SES's limit on the destinations of one bulk call (docs/ses.md#sending-at-volume).
MAX_BULK_ENTRIES = 50


@dataclass(frozen=True)
class Envelope:
    """What every send names besides its content."""

    source: str
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    reply_to: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    configuration_set: str | None = None
    feedback_address: str | None = None
    #: v2 only: ``ListManagementOptions`` (list, topic) and ``ConfigurationOverrides.Tracking``.
    list_management: tuple[str, str | None] | None = None
    tracking_overrides: dict[str, str] = field(default_factory=dict)
    #: v2 only: ``TenantName``.
    tenant: str | None = None

    @classmethod
    def of(cls, source: str, destination: Mapping[str, Any] | None, **more: Any) -> Envelope:
        given = destination or {}
        return cls(
            source=source,
            to=list(given.get("ToAddresses", [])),
            cc=list(given.get("CcAddresses", [])),
            bcc=list(given.get("BccAddresses", [])),
            **more,
        )

    def for_entry(
        self, destination: Mapping[str, Any] | None, entry_tags: dict[str, str]
    ) -> Envelope:
        """One bulk destination: its recipients, the call's defaults, its tags over them."""
        return Envelope.of(
            self.source,
            destination,
            reply_to=self.reply_to,
            tags={**self.tags, **entry_tags},
            configuration_set=self.configuration_set,
            feedback_address=self.feedback_address,
            list_management=self.list_management,
            tracking_overrides=self.tracking_overrides,
            tenant=self.tenant,
        )

    @property
    def recipients(self) -> list[str]:
        return [*self.to, *self.cc, *self.bcc]

    def mail(self, raw: bytes, operation: str) -> Mail:
        return Mail(
            raw=raw,
            source=self.source,
            destinations=self.recipients,
            operation=operation,
            tags=dict(self.tags),
            configuration_set=self.configuration_set,
            feedback_address=self.feedback_address,
            list_management=self.list_management,
            tracking_overrides=dict(self.tracking_overrides),
            tenant=self.tenant,
        )


def tags(given: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Name"]: t["Value"] for t in given or []}


def simple_mail(
    envelope: Envelope,
    *,
    subject: str,
    text: str | None,
    html: str | None,
    headers: list[tuple[str, str]] | None = None,
    operation: str = "SendEmail",
    charsets: Charsets | None = None,
    attachments: list[Attachment] | None = None,
) -> Mail:
    if not envelope.source:
        raise SesFault("InvalidParameter", "Missing required parameter FromEmailAddress.")
    try:
        raw = build_simple(
            source=envelope.source,
            to=envelope.to,
            cc=envelope.cc,
            reply_to=envelope.reply_to,
            subject=subject,
            text=text,
            html=html,
            headers=headers,
            charsets=charsets,
            attachments=attachments,
        )
    except UnbuildableMessage as err:
        raise SesFault("InvalidParameter", f"Cannot build the message: {err}") from err
    return envelope.mail(raw, operation)


def simple_content(message: Mapping[str, Any]) -> dict[str, Any]:
    """The members of ``simple_mail`` that a v1 ``Message`` or a v2 ``Simple`` content names:
    subject, bodies, their charsets and (v2) attachments."""
    subject = message.get("Subject") or {}
    body = message.get("Body") or {}
    text = body.get("Text") or {}
    html = body.get("Html") or {}
    return {
        "subject": subject.get("Data", ""),
        "text": text.get("Data"),
        "html": html.get("Data"),
        "charsets": Charsets(subject.get("Charset"), text.get("Charset"), html.get("Charset")),
        "attachments": attachments_of(message.get("Attachments")),
    }


def attachments_of(given: list[dict[str, Any]] | None) -> list[Attachment]:
    """SES v2 ``Attachments`` (of ``Message`` and ``Template``)."""
    return [
        Attachment(
            content=a["RawContent"],
            file_name=a["FileName"],
            disposition=a.get("ContentDisposition") or "ATTACHMENT",
            description=a.get("ContentDescription"),
            content_id=a.get("ContentId"),
            transfer_encoding=a.get("ContentTransferEncoding") or "BASE64",
            content_type=a.get("ContentType"),
        )
        for a in given or []
    ]


def raw_mail(envelope: Envelope, raw: bytes, operation: str) -> Mail:
    """A raw message: what the request leaves out comes from the message's own headers."""
    parsed = Mail(raw=raw, source="", destinations=[], operation=operation).parsed()
    check_single_headers(parsed)
    set_header = parsed["X-SES-CONFIGURATION-SET"]
    # The SMTP way to name a tenant, stripped like the other X-SES-* headers (docs/ses.md#tenants).
    tenant_header = parsed["X-SES-TENANT"]
    mail = Mail(
        raw=raw,
        source=envelope.source or str(parsed.get("From", "")),
        destinations=envelope.recipients or header_recipients(parsed),
        operation=operation,
        # Tags given in the API win over X-SES-MESSAGE-TAGS (docs/ses.md#event-publishing).
        tags=dict(envelope.tags) or tags_from_headers(parsed),
        configuration_set=envelope.configuration_set or (str(set_header) if set_header else None),
        feedback_address=envelope.feedback_address,
        list_management=envelope.list_management,
        tracking_overrides=dict(envelope.tracking_overrides),
        tenant=envelope.tenant or (str(tenant_header).strip() if tenant_header else None),
    )
    mail._parsed = parsed
    return mail


def find_template(
    svc: SesService, caller: Caller, given: Mapping[str, Any], *, inline_key: str | None = None
) -> Template:
    """The template a send names: stored (name or ARN), or given inline (v2)."""
    inline = given.get(inline_key) if inline_key else None
    if inline is not None:
        template = Template(
            name="inline",
            subject=inline.get("Subject", ""),
            text=inline.get("Text"),
            html=inline.get("Html"),
        )
        template.check()
        return template
    return svc.template(
        caller, template_name_from(given.get("TemplateName"), given.get("TemplateArn"))
    )


def templated_mail(
    envelope: Envelope,
    template: Template,
    data: Mapping[str, Any],
    operation: str,
    headers: list[tuple[str, str]] | None = None,
    *,
    stored: bool = True,
    attachments: list[Attachment] | None = None,
) -> Mail:
    """The rendered message, or one marked as a rendering failure (accepted, not sent).

    ``stored``: the template is one of the account's (a tenant send checks its association),
    not given inline.
    """
    mail = _rendered(envelope, template, data, operation, headers, attachments)
    mail.templated = True
    mail.template = template.name if stored else None
    return mail


def _rendered(
    envelope: Envelope,
    template: Template,
    data: Mapping[str, Any],
    operation: str,
    headers: list[tuple[str, str]] | None,
    attachments: list[Attachment] | None,
) -> Mail:
    try:
        # SES's own variable: the recipient's unsubscribe link, filled in per copy.
        rendered = render(template, {UNSUBSCRIBE_VARIABLE: UNSUBSCRIBE_PLACEHOLDER, **data})
    except RenderingFailure as failure:
        mail = envelope.mail(b"", operation)
        mail.rendering_failure = (template.name, failure.message)
        return mail
    return simple_mail(
        envelope,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        headers=headers,
        operation=operation,
        attachments=attachments,
    )


def accepted(result: Accepted) -> dict[str, Any]:
    return {"MessageId": result.message_id, "__after__": result.release}


# ---------------------------------------------------------------------------- bulk

#: Per-entry statuses: the v2 enum, and v1's CamelCase spelling at the same position.
_V2_STATUSES = wire.enum_of("sesv2", "BulkEmailStatus")
_V1_STATUSES = wire.enum_of("ses", "BulkEmailStatus")
_STATUS_OF_FAULT = {
    "MessageRejected": "MESSAGE_REJECTED",
    "Throttling": "ACCOUNT_THROTTLED",
    "DailyQuota": "ACCOUNT_DAILY_QUOTA_EXCEEDED",
    "InvalidParameter": "INVALID_PARAMETER",
    "MissingParameter": "INVALID_PARAMETER",
    "AccountPaused": "ACCOUNT_SENDING_PAUSED",
    "ConfigSetPaused": "CONFIGURATION_SET_SENDING_PAUSED",
    "ConfigSetMissing": "CONFIGURATION_SET_NOT_FOUND",
    "TemplateMissing": "TEMPLATE_NOT_FOUND",
    "MailFromNotVerified": "MAIL_FROM_DOMAIN_NOT_VERIFIED",
}


@dataclass(frozen=True)
class BulkEntry:
    envelope: Envelope
    data: str | None  # the entry's replacement template data (JSON), if any
    #: ReplacementHeaders: over the template's Headers, name by name.
    headers: list[tuple[str, str]] = field(default_factory=list)


def message_headers(given: list[dict[str, str]] | None) -> list[tuple[str, str]]:
    """SESv2 ``MessageHeader`` lists (``Template.Headers``, ``ReplacementHeaders``)."""
    return [(h["Name"], h["Value"]) for h in given or []]


def merged_headers(
    defaults: list[tuple[str, str]], entry: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """An entry's headers win over the template's of the same name (BulkEmailEntry,
    https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_BulkEmailEntry.html)."""
    replaced = {name.lower() for name, _ in entry}
    return [(n, v) for n, v in defaults if n.lower() not in replaced] + entry


def send_bulk(
    svc: SesService,
    caller: Caller,
    *,
    api: str,
    defaults: Envelope,
    template: Template,
    default_data: str | None,
    entries: list[BulkEntry],
    operation: str,
    default_headers: list[tuple[str, str]] | None = None,
    stored_template: bool = True,
    attachments: list[Attachment] | None = None,
) -> dict[str, Any]:
    """Send each entry on its own; one status per entry in an HTTP 200
    (docs/ses.md#sending-at-volume).

    What concerns the whole call (no entries, too many, the sender, the account, the
    configuration set, the template, the default data) is refused for the whole call.
    """
    if not entries:
        raise SesFault("MessageRejected", "There are no recipients specified.")
    if len(entries) > MAX_BULK_ENTRIES:
        raise SesFault("MessageRejected", f"Destination count exceeds {MAX_BULK_ENTRIES}.")
    svc.state(caller).bulk_calls += 1
    base = parse_data(default_data)
    _check_call(svc, caller, defaults, template.name if stored_template else None)
    results: list[dict[str, Any]] = []
    releases: list[Callable[[], None]] = []
    for entry in entries:
        try:
            data = {**base, **parse_data(entry.data)}
            headers = merged_headers(default_headers or [], entry.headers)
            mail = templated_mail(
                entry.envelope,
                template,
                data,
                operation,
                headers or None,
                stored=stored_template,
                attachments=attachments,
            )
            sent = svc.send(caller, mail)
        except SesFault as fault:
            status = _STATUS_OF_FAULT.get(fault.kind, "FAILED")
            results.append({"Status": _status(api, status), "Error": fault.message})
            continue
        releases.append(sent.release)
        results.append({"Status": _status(api, "SUCCESS"), "MessageId": sent.message_id})

    def release_all() -> None:
        for release in releases:
            release()

    key = "Status" if api == "v1" else "BulkEmailEntryResults"
    return {key: results, "__after__": release_all}


def _check_call(svc: SesService, caller: Caller, envelope: Envelope, template: str | None) -> None:
    """What SES checks once for a whole bulk call: account, set, senders and tenant."""
    state = svc.state(caller)
    senders = envelope.mail(b"", "")
    senders.template = template
    check_address(envelope.source)
    with svc.lock:
        check_call(state, envelope.configuration_set)
        check_senders(caller.region, state, senders)
        if senders.configuration_set is None:
            senders.configuration_set = default_configuration_set(state, senders.source)
        check_tenant(caller.region, caller.account, state, senders)


def _status(api: str, status: str) -> str:
    return _V1_STATUSES[_V2_STATUSES.index(status)] if api == "v1" else status


def test_render(template: Template, data_text: str | None) -> str:
    """``TestRenderTemplate``: the MIME message the data renders to, or SES's refusal."""
    data = parse_data(data_text, kind="InvalidRenderingParameter")
    try:
        rendered = render(template, data)
    except RenderingFailure as failure:
        raise SesFault("MissingRenderingAttribute", failure.message) from failure
    raw = build_simple(
        source="",
        to=[],
        cc=[],
        reply_to=[],
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
    )
    return raw.decode("utf-8", "replace")
