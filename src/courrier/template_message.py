"""Templated sends: a message that names an SES template and the data it is rendered with.

SES renders the template itself (Handlebars, docs/ses.md#sending-at-volume): courrier checks what
SES would refuse before any call (addresses, 50 recipients, tags, a template name SES accepts, data
that is a JSON object) and leaves the rendering to SES.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from courrier.addresses import Address, parse_address
from courrier.errors import InvalidMessage
from courrier.message import (
    AddressLike,
    Parties,
    check_list_name,
    check_options,
    check_recipient_count,
    check_tenant_name,
    parse_parties,
)

__all__ = ["BulkDestination", "TemplateMessage", "check_template_name", "template_data"]

#: SES template names: ASCII letters, digits, '_' and '-', at most 64 characters.
_TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: SES's limit on the template data of one send (262,144 characters, SendEmail reference).
MAX_TEMPLATE_DATA = 262_144


def check_template_name(name: str) -> str:
    if not isinstance(name, str) or not _TEMPLATE_NAME.match(name):
        raise InvalidMessage(
            f"invalid template name {name!r}: ASCII letters, digits, '_' and '-', "
            "1 to 64 characters"
        )
    return name


def template_data(data: Mapping[str, Any]) -> str:
    """``data`` as the JSON text SES takes; refused unless it is a JSON object."""
    if not isinstance(data, Mapping):
        raise InvalidMessage(f"template data must be a mapping, not {type(data).__name__}")
    try:
        text = json.dumps(dict(data), ensure_ascii=False, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise InvalidMessage(f"template data cannot be written as JSON: {err}") from err
    if len(text) > MAX_TEMPLATE_DATA:
        raise InvalidMessage(
            f"template data is {len(text)} characters; SES takes at most {MAX_TEMPLATE_DATA}"
        )
    return text


def _addresses(value: AddressLike | Sequence[AddressLike]) -> tuple[Address, ...]:
    """One address (text, :class:`Address` or (name, address)), or a list of them."""
    if isinstance(value, str | Address):
        return (parse_address(value),)
    items = list(value)
    name, address = (items[0], items[1]) if len(items) == 2 else ("", "")
    if isinstance(name, str) and isinstance(address, str) and "@" not in name and "@" in address:
        return (parse_address((name, address)),)
    return tuple(parse_address(a) for a in items)


@dataclass(frozen=True)
class TemplateMessage(Parties):
    """An email rendered by SES from the stored template ``template`` with ``data``.

    Checked like :class:`~courrier.message.Message`: addresses, at most 50 recipients, tags,
    the configuration set name; ``data`` must be a JSON object (nested values allowed).
    """

    sender: AddressLike
    template: str
    to: tuple[AddressLike, ...] | list[AddressLike] = ()
    data: Mapping[str, Any] = field(default_factory=dict)
    cc: tuple[AddressLike, ...] | list[AddressLike] = ()
    bcc: tuple[AddressLike, ...] | list[AddressLike] = ()
    reply_to: tuple[AddressLike, ...] | list[AddressLike] = ()
    tags: dict[str, str] = field(default_factory=dict)
    configuration_set: str | None = None
    feedback_address: AddressLike | None = None
    #: A bulk send: refused while the reputation guard is tripped (see Message.bulk).
    bulk: bool = False
    #: The list a bulk message belongs to (see Message.list_name).
    list_name: str | None = None
    #: The SES tenant the message is sent for (see Message.tenant).
    tenant: str | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        parse_parties(self)
        check_list_name(self.list_name)
        check_tenant_name(self.tenant)
        check_template_name(self.template)
        check_recipient_count(len(self.recipients))
        template_data(self.data)
        set_(self, "data", dict(self.data))
        check_options(self.tags, self.configuration_set)

    @property
    def data_json(self) -> str:
        """The template data as SES takes it: a JSON object, as a string."""
        return template_data(self.data)

    @property
    def subject(self) -> str:
        """What the store records as the subject: SES writes the real one."""
        return f"template {self.template}"


@dataclass(frozen=True)
class BulkDestination:
    """One destination of a bulk send: its own recipients, data and tags.

    ``to`` is one address or a list of them; ``data`` is merged over the send's default
    data by SES, ``tags`` over its default tags.
    """

    to: AddressLike | Sequence[AddressLike]
    data: Mapping[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        addresses = _addresses(self.to)
        object.__setattr__(self, "to", addresses)
        check_recipient_count(len(addresses))
        template_data(self.data)
        object.__setattr__(self, "data", dict(self.data))
        check_options(self.tags, None)

    @property
    def addresses(self) -> tuple[Address, ...]:
        """The destination's parsed ``to`` addresses."""
        assert isinstance(self.to, tuple)
        return tuple(a for a in self.to if isinstance(a, Address))
