"""The message a user sends: plain values, checked when built."""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypedDict, Unpack

from courrier.addresses import Address, check_header_value, parse_address
from courrier.errors import InvalidMessage

__all__ = [
    "MAX_RECIPIENTS",
    "AddressKind",
    "AddressLike",
    "AddressList",
    "Attachment",
    "Message",
    "Parties",
    "PartiesArgs",
    "address_tuple",
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

#: What a message field takes for an address: text (``"Name <a@b.example>"``), an
#: :class:`~courrier.addresses.Address`, or a (name, address) pair.
AddressLike = str | Address | tuple[str, str]
#: What a message field takes for a list of addresses.
AddressList = tuple[AddressLike, ...] | list[AddressLike]

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


#: The file extensions SES refuses in an attachment, whatever the content
#: (https://docs.aws.amazon.com/ses/latest/dg/mime-types.html): refused before the call, with
#: the file named, rather than by SES after the message is built and recorded.
# fmt: off
UNSUPPORTED_EXTENSIONS = frozenset({
    "ade", "adp", "app", "asp", "bas", "bat", "cer", "chm", "cmd", "com", "cpl", "crt",
    "csh", "der", "exe", "fxp", "gadget", "hlp", "hta", "inf", "ins", "isp", "its", "js",
    "jse", "ksh", "lib", "lnk", "mad", "maf", "mag", "mam", "maq", "mar", "mas", "mat",
    "mau", "mav", "maw", "mda", "mdb", "mde", "mdt", "mdw", "mdz", "msc", "msh", "msh1",
    "msh1xml", "msh2", "msh2xml", "mshxml", "msi", "msp", "mst", "ops", "pcd", "pif",
    "plg", "prf", "prg", "ps1", "ps1xml", "ps2", "ps2xml", "psc1", "psc2", "reg", "scf",
    "scr", "sct", "shb", "shs", "sys", "tmp", "url", "vb", "vbe", "vbs", "vps", "vsmacros",
    "vss", "vst", "vsw", "vxd", "ws", "wsc", "wsf", "wsh", "xnk",
})
# fmt: on


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
        # Trailing dots and spaces: Windows drops them, so "a.exe." opens as "a.exe".
        _, dot, extension = self.filename.rstrip(". ").rpartition(".")
        if dot and extension.lower() in UNSUPPORTED_EXTENSIONS:
            raise InvalidMessage(
                f"attachment {self.filename!r}: SES refuses .{extension.lower()} files; "
                "send it in an archive (.zip) or under another name"
            )
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


def address_tuple(values: AddressList) -> tuple[Address, ...]:
    """Each of ``values`` parsed (see :func:`~courrier.addresses.parse_address`)."""
    return tuple(parse_address(a) for a in values)


AddressKind = Literal["to", "cc", "bcc", "reply_to"]


class PartiesArgs(TypedDict, total=False):
    """The keyword arguments :class:`Message` and
    :class:`~courrier.template_message.TemplateMessage` share, as they are accepted: any
    :data:`AddressLike` for an address (the attributes hold them parsed, see :class:`Parties`).
    """

    cc: AddressList
    bcc: AddressList
    reply_to: AddressList
    tags: dict[str, str]
    configuration_set: str | None
    feedback_address: AddressLike | None
    bulk: bool
    list_name: str | None
    tenant: str | None


@dataclass(frozen=True, init=False)
class Parties:
    """What :class:`Message` and :class:`~courrier.template_message.TemplateMessage` share:
    addresses parsed (see :mod:`courrier.addresses`) when the message is built, tags, the
    configuration set and the bulk flags. Each class's constructor takes them as it takes
    its own fields, addresses as any :data:`AddressLike` (see :class:`PartiesArgs`).
    """

    sender: Address
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    bcc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    tags: dict[str, str]
    configuration_set: str | None
    feedback_address: Address | None
    #: A bulk send (newsletter, campaign, outbox batch): refused while the reputation guard
    #: is tripped. Transactional sends (the default) go on unless configured otherwise.
    bulk: bool
    #: The list (or topic) a bulk message belongs to: its unsubscribe link names it, and
    #: recipients who left it (or every list) are not sent to. None: no particular list.
    list_name: str | None
    #: The SES tenant the message is sent for (``TenantName``): its reputation, and its
    #: pause, are the tenant's own. None: the account's.
    tenant: str | None

    def _set_parties(self, sender: AddressLike, to: AddressList, common: PartiesArgs) -> None:
        """Set the shared fields from a constructor's arguments, addresses parsed."""
        set_ = object.__setattr__
        set_(self, "sender", parse_address(sender))
        set_(self, "to", address_tuple(to))
        set_(self, "cc", address_tuple(common.get("cc", ())))
        set_(self, "bcc", address_tuple(common.get("bcc", ())))
        set_(self, "reply_to", address_tuple(common.get("reply_to", ())))
        set_(self, "tags", common.get("tags", {}))
        set_(self, "configuration_set", common.get("configuration_set"))
        feedback = common.get("feedback_address")
        set_(self, "feedback_address", None if feedback is None else parse_address(feedback))
        set_(self, "bulk", common.get("bulk", False))
        set_(self, "list_name", common.get("list_name"))
        set_(self, "tenant", check_tenant_name(common.get("tenant")))

    @property
    def from_address(self) -> Address:
        """The sender (the same as ``sender``)."""
        return self.sender

    @property
    def recipients(self) -> list[Address]:
        """Every envelope recipient, To then Cc then Bcc."""
        return [*self.to, *self.cc, *self.bcc]

    def addresses(self, kind: AddressKind) -> tuple[Address, ...]:
        """The addresses of one field: ``"to"``, ``"cc"``, ``"bcc"`` or ``"reply_to"``."""
        match kind:
            case "to":
                return self.to
            case "cc":
                return self.cc
            case "bcc":
                return self.bcc
            case "reply_to":
                return self.reply_to
        raise ValueError(f"no address field {kind!r}")


@dataclass(frozen=True, init=False)
class Message(Parties):
    """An email to send. Addresses are normalised (see :mod:`courrier.addresses`) on creation.

    Positional arguments: ``sender``, ``to``, ``subject``, ``text``, ``html``; the others are
    keyword-only (the shared ones are listed in :class:`PartiesArgs`).
    """

    subject: str
    text: str | None
    html: str | None
    attachments: tuple[Attachment, ...]
    headers: dict[str, str]

    def __init__(
        self,
        sender: AddressLike,
        to: AddressList = (),
        subject: str = "",
        text: str | None = None,
        html: str | None = None,
        *,
        attachments: Sequence[Attachment] = (),
        headers: dict[str, str] | None = None,
        **common: Unpack[PartiesArgs],
    ) -> None:
        set_ = object.__setattr__
        self._set_parties(sender, to, common)
        set_(self, "subject", subject)
        set_(self, "text", text)
        set_(self, "html", html)
        set_(self, "attachments", tuple(attachments))
        set_(self, "headers", {} if headers is None else headers)
        self._check()

    def _check(self) -> None:
        check_list_name(self.list_name)
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


def parse_parties(message: Parties) -> None:
    """Kept for callers of earlier versions: a message's addresses are parsed when it is
    built now, so this only checks that ``message`` is one."""
    if not isinstance(message, Parties):
        raise InvalidMessage(f"not a message value: {type(message).__name__}")
