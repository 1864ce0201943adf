"""Email addresses as SES accepts them: 7-bit ASCII, Punycode domains, RFC 2047 display names.

SES has no SMTPUTF8 (docs/ses.md#addresses): a Unicode domain must be sent as Punycode (IDNA 2008
with UTS 46 mapping), a non-ASCII local part cannot be sent at all, and a non-ASCII display name
must be a MIME encoded-word. Syntax checks are email-validator's.
"""

from __future__ import annotations

import email.utils
import functools
import unicodedata
from dataclasses import dataclass
from email.header import Header

from email_validator import EmailNotValidError, validate_email

from courrier.errors import InvalidAddress, InvalidMessage

__all__ = ["Address", "check_header_value", "parse_address"]

_LONG_NAME = 200


# Everything str.splitlines() breaks on, which is what the email package treats as a line
# break in a header, plus NUL.
_LINE_BREAKS = {
    "\r": "CR",
    "\n": "LF",
    "\x0b": "VT",
    "\x0c": "FF",
    "\x1c": "FS",
    "\x1d": "GS",
    "\x1e": "RS",
    "\x85": "NEL",
    "\u2028": "LINE SEPARATOR",
    "\u2029": "PARAGRAPH SEPARATOR",
    "\0": "NUL",
}


def check_header_value(value: str, what: str, error: type[InvalidMessage] = InvalidAddress) -> None:
    """Refuse what must not reach a header: line breaks (header injection) and controls.

    Control characters other than TAB (C0, DEL, C1) would go into the header raw: the email
    package encodes non-ASCII text but leaves ASCII controls as they are, and mail software
    mangles or strips them. A subject or name that carries one is almost always a bug, so it
    is refused with the character named rather than silently changed.
    """
    for bad, name in _LINE_BREAKS.items():
        if bad in value:
            raise error(f"{what} contains a {name} character: {value!r}")
    for char in value:
        if char != "\t" and unicodedata.category(char) == "Cc":
            raise error(f"{what} contains the control character U+{ord(char):04X}: {value!r}")


@dataclass(frozen=True)
class Address:
    """One mailbox: ``email`` is the 7-bit form sent to SES, ``name`` the display name."""

    email: str
    name: str = ""

    def header(self) -> str:
        """The 7-bit header form: a non-ASCII (or very long) name as RFC 2047 encoded-words,
        folded to stay within line limits; an ASCII name quoted when it needs to be."""
        if not self.name:
            return self.email
        if self.name.isascii() and len(self.name) <= _LONG_NAME:
            return email.utils.formataddr((self.name, self.email))
        encoded = Header(self.name, "utf-8").encode(linesep="\r\n", maxlinelen=76)
        return f"{encoded}\r\n <{self.email}>"

    def __str__(self) -> str:
        return self.header()


# A pure function of a hashable value, and email-validator's check is the costly part of
# building a message: a process sending from one sender (or to the same people again) parses
# each address once. Errors are raised, never cached.
@functools.lru_cache(maxsize=4096)
def parse_address(value: str | Address | tuple[str, str]) -> Address:
    """Normalise ``"Name <user@domain>"``, ``(name, address)`` or a bare address.

    Raises :class:`~courrier.errors.InvalidAddress` with the reason when the address cannot
    be sent through SES.
    """
    if isinstance(value, Address):
        name, raw = value.name, value.email
    elif isinstance(value, tuple):
        name, raw = value
    else:
        check_header_value(value, "address")
        name, raw = _split(value)
    check_header_value(name, "display name")
    check_header_value(raw, "address")
    raw = raw.strip()
    if not raw:
        raise InvalidAddress(f"no email address in {value!r}")
    local = raw.rpartition("@")[0]
    if local and not local.isascii():
        raise InvalidAddress(
            f"{raw!r}: the part before the @ is not ASCII; SES does not support SMTPUTF8, "
            "so this mailbox cannot be sent to"
        )
    try:
        validated = validate_email(raw, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as err:
        raise InvalidAddress(f"{raw!r} is not a valid email address: {err}") from err
    return Address(email=validated.ascii_email or raw, name=name.strip())


def _split(value: str) -> tuple[str, str]:
    text = value.strip()
    if "<" not in text:
        return "", text
    found = email.utils.getaddresses([text])
    if len(found) != 1 or not found[0][1]:
        raise InvalidAddress(f"cannot parse {value!r} as one address")
    return found[0]
