"""The message a user sends: plain values, checked when built."""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from courrier.addresses import Address, check_header_value, parse_address
from courrier.errors import InvalidMessage

__all__ = [
    "MAX_RECIPIENTS",
    "Attachment",
    "Message",
    "Parties",
    "check_list_name",
    "check_options",
    "check_recipient_count",
    "check_tenant_name",
    "parse_parties",
]

#: SES refuses more than 50 recipients (To + Cc + Bcc) in one message (docs/ses.md#limits).
MAX_RECIPIENTS = 50
_TAG = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
# type/subtype as RFC 6838 registers them (restricted-name characters), nothing else: no
# parameters (courrier writes the ones MIME needs), no spaces, no controls.
_CONTENT_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}")
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")  # printable ASCII except ':'
# A charset name as IANA registers them (RFC 2978 mime-charset characters).
_CHARSET = re.compile(r"[A-Za-z0-9!#$%&'+^_`{}~-]{1,40}")
_RESERVED_HEADERS = {
    "from",
    "to",
    "cc",
    "bcc",
    "reply-to",
    "subject",
    "return-path",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "message-id",
    "date",
}

AddressLike = str | Address | tuple[str, str]

_LIST_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# SES tenant names: up to 64 letters, digits, '-' and '_'
# (https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_CreateTenant.html).
_TENANT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_tenant_name(name: str | None) -> str | None:
    """``name``, refused unless it is a name SES accepts for a tenant: 1 to 64 ASCII
    letters, digits, '-' or '_'."""
    if name is not None and (not isinstance(name, str) or not _TENANT_NAME.match(name)):
        raise InvalidMessage(
            f"invalid tenant name {name!r}: ASCII letters, digits, '_' and '-', 1 to 64"
        )
    return name


def check_list_name(name: str | None) -> str | None:
    """``name``, refused unless it is 1 to 64 ASCII letters, digits, '.', '_' or '-'."""
    if name is not None and (not isinstance(name, str) or not _LIST_NAME.match(name)):
        raise InvalidMessage(
            f"invalid list name {name!r}: ASCII letters, digits, '.', '_' and '-', 1 to 64"
        )
    return name


def check_recipient_count(count: int) -> None:
    if not count:
        raise InvalidMessage("the message has no recipients")
    if count > MAX_RECIPIENTS:
        raise InvalidMessage(
            f"{count} recipients; SES accepts at most {MAX_RECIPIENTS} per "
            "message (To, Cc and Bcc together): split the list"
        )


def check_options(tags: dict[str, str], configuration_set: str | None) -> None:
    """Refuse tags and a configuration set name that SES would refuse."""
    for key, value in tags.items():
        # SES tag names and values: ASCII letters, digits, '_' and '-', up to 256
        # (docs/ses.md#event-publishing).
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidMessage(f"tag {key!r}={value!r}: names and values must be strings")
        if not _TAG.match(key) or not _TAG.match(value):
            raise InvalidMessage(
                f"tag {key}={value}: names and values may only use ASCII letters, digits, "
                "'_' and '-', 1 to 256 characters"
            )
    if configuration_set is not None and not _TAG.match(configuration_set):
        raise InvalidMessage(f"invalid configuration set name {configuration_set!r}")


@dataclass(frozen=True)
class Attachment:
    """A file sent with the message; with ``content_id`` it is an inline part (``cid:``).

    ``charset`` names the encoding of a ``text/*`` attachment's bytes (for example
    ``utf-8``); without it, readers assume ASCII.
    """

    filename: str
    content: bytes
    content_type: str = "application/octet-stream"
    content_id: str | None = None
    charset: str | None = None

    @classmethod
    def from_path(cls, path: str | Path, *, content_id: str | None = None) -> Attachment:
        """The file at ``path``, its type guessed from its name (``application/octet-stream`` when
        unknown); give ``content_id`` for an inline image."""
        file = Path(path)
        guessed, _ = mimetypes.guess_type(file.name)
        return cls(file.name, file.read_bytes(), guessed or "application/octet-stream", content_id)

    def __post_init__(self) -> None:
        check_header_value(self.filename, "attachment filename", InvalidMessage)
        kind, slash, subtype = self.content_type.partition("/")
        if not (slash and _CONTENT_TYPE.fullmatch(kind) and _CONTENT_TYPE.fullmatch(subtype)):
            raise InvalidMessage(
                f"content type {self.content_type!r} is not a plain type/subtype "
                "(for example application/pdf; parameters are not accepted)"
            )
        if kind.lower() == "multipart":
            raise InvalidMessage(
                f"content type {self.content_type!r}: courrier builds the multipart "
                "structure itself; attach the parts as files"
            )
        object.__setattr__(self, "content_type", self.content_type.lower())
        if self.charset is not None:
            if kind.lower() != "text":
                raise InvalidMessage(
                    f"attachment {self.filename!r}: a charset applies to text/* content only, "
                    f"not {self.content_type}"
                )
            if not _CHARSET.fullmatch(self.charset):
                raise InvalidMessage(f"invalid charset {self.charset!r}")
        if self.content_id is not None:
            check_header_value(self.content_id, "content id", InvalidMessage)


class Parties:
    """The parsed addresses of a message value (:class:`Message`,
    :class:`~courrier.template_message.TemplateMessage`), once :func:`parse_parties` ran."""

    sender: AddressLike
    to: tuple[AddressLike, ...] | list[AddressLike]
    cc: tuple[AddressLike, ...] | list[AddressLike]
    bcc: tuple[AddressLike, ...] | list[AddressLike]

    @property
    def from_address(self) -> Address:
        assert isinstance(self.sender, Address)
        return self.sender

    @property
    def recipients(self) -> list[Address]:
        """Every envelope recipient, To then Cc then Bcc."""
        out: list[Address] = []
        for group in (self.to, self.cc, self.bcc):
            out.extend(a for a in group if isinstance(a, Address))
        return out

    def addresses(self, kind: str) -> tuple[Address, ...]:
        """The parsed addresses of one field: ``"to"``, ``"cc"``, ``"bcc"`` or ``"reply_to"``."""
        group = getattr(self, kind)
        return tuple(a for a in group if isinstance(a, Address))


@dataclass(frozen=True)
class Message(Parties):
    """An email to send. Addresses are normalised (see :mod:`courrier.addresses`) on creation."""

    sender: AddressLike
    to: tuple[AddressLike, ...] | list[AddressLike] = ()
    subject: str = ""
    text: str | None = None
    html: str | None = None
    cc: tuple[AddressLike, ...] | list[AddressLike] = ()
    bcc: tuple[AddressLike, ...] | list[AddressLike] = ()
    reply_to: tuple[AddressLike, ...] | list[AddressLike] = ()
    attachments: tuple[Attachment, ...] | list[Attachment] = ()
    headers: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    configuration_set: str | None = None
    feedback_address: AddressLike | None = None
    #: A bulk send (newsletter, campaign, outbox batch): refused while the reputation guard
    #: is tripped. Transactional sends (the default) go on unless configured otherwise.
    bulk: bool = False
    #: The list (or topic) a bulk message belongs to: its unsubscribe link names it, and
    #: recipients who left it (or every list) are not sent to. None: no particular list.
    list_name: str | None = None
    #: The SES tenant the message is sent for (``TenantName``): its reputation, and its
    #: pause, are the tenant's own. None: the account's.
    tenant: str | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        parse_parties(self)
        check_list_name(self.list_name)
        check_tenant_name(self.tenant)
        set_(self, "attachments", tuple(self.attachments))
        check_header_value(self.subject, "subject", InvalidMessage)
        check_recipient_count(len(self.recipients))
        if self.text is None and self.html is None:
            raise InvalidMessage("the message needs a text or an HTML body")
        for key, value in self.headers.items():
            if not _HEADER_NAME.match(key):
                raise InvalidMessage(f"invalid header name {key!r}")
            if key.lower() in _RESERVED_HEADERS:
                raise InvalidMessage(f"set {key} through the Message fields, not headers")
            check_header_value(value, f"header {key}", InvalidMessage)
        check_options(self.tags, self.configuration_set)
        inline_ids = [a.content_id for a in self.attachments if a.content_id]
        if len(inline_ids) != len(set(inline_ids)):
            raise InvalidMessage("two inline attachments share a content id")


def parse_parties(message: Any) -> None:
    """Parse, in place, the addresses of a frozen message value (:class:`Message` or
    :class:`~courrier.template_message.TemplateMessage`): sender, to, cc, bcc, reply_to
    and feedback_address."""
    set_ = object.__setattr__
    set_(message, "sender", parse_address(message.sender))
    for name in ("to", "cc", "bcc", "reply_to"):
        set_(message, name, tuple(parse_address(a) for a in getattr(message, name)))
    feedback = message.feedback_address
    if feedback is not None:
        set_(message, "feedback_address", parse_address(feedback))
