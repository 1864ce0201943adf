"""Addresses and headers: Punycode, 7-bit, RFC 2047, and no header injection
(docs/ses.md#addresses)."""

from __future__ import annotations

import email.header
import email.policy
from email.parser import BytesParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from courrier.addresses import Address, parse_address
from courrier.errors import InvalidAddress, InvalidMessage
from courrier.message import Message
from courrier.mime import render


@pytest.mark.parametrize(
    ("given", "email", "name"),
    [
        ("user@example.com", "user@example.com", ""),
        ("User <USER@Example.COM>", "USER@example.com", "User"),
        ("user@bücher.example", "user@xn--bcher-kva.example", ""),
        ("Zoë <zoe@münchen.example>", "zoe@xn--mnchen-3ya.example", "Zoë"),
        (("Doe, John", "john@example.com"), "john@example.com", "Doe, John"),
        ('"Doe, John" <john@example.com>', "john@example.com", "Doe, John"),
        # UTS 46 maps fullwidth letters to ASCII.
        ("user@\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25.com", "user@example.com", ""),
    ],
)
def test_parse_address(given: str | tuple[str, str], email: str, name: str) -> None:
    assert parse_address(given) == Address(email, name)


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("jürgen@example.com", "SMTPUTF8"),
        ("no-at-sign", "not a valid email address"),
        ("a@b", "not a valid email address"),
        ("user@example.com\r\nBcc: victim@example.org", "CR character"),
        (("Name\nBcc: x@y.example", "user@example.com"), "LF character"),
        ("a@example.com, b@example.com", "not a valid email address"),
        ("Two <a@example.com>, Three <b@example.com>", "as one address"),
        ("", "no email address"),
    ],
)
def test_refused_addresses_say_why(given: str | tuple[str, str], reason: str) -> None:
    with pytest.raises(InvalidAddress, match=reason):
        parse_address(given)


def test_invalid_address_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="SMTPUTF8"):
        parse_address("jürgen@example.com")


def decoded_display_name(raw: bytes, header: str) -> str:
    # compat32 keeps the raw value; decode_header joins adjacent encoded-words as RFC 2047
    # says (the new-style parser inserts spaces between them).
    value = str(BytesParser(policy=email.policy.compat32).parsebytes(raw)[header])
    encoded_name = email.utils.parseaddr(value.replace("\r\n", "").replace("\n", ""))[0]
    return str(email.header.make_header(email.header.decode_header(encoded_name)))


def assert_seven_bit(raw: bytes) -> None:
    raw.decode("ascii")
    for line in raw.split(b"\r\n"):
        assert len(line) <= 998
    assert b"\n" not in raw.replace(b"\r\n", b"")


@pytest.mark.parametrize(
    "name",
    [
        "Zoë Ünïcødé",
        'Zoë "the boss" Ünïcødé, Esq.',
        "李小龍",
        "É" * 300,
        "A, B",
        'Q"uote',
        "x" * 500,
    ],
)
def test_display_names_round_trip(name: str) -> None:
    raw = render(Message(sender=(name, "zoe@example.com"), to=["a@example.org"], text="x"))
    assert_seven_bit(raw)
    assert decoded_display_name(raw, "From") == name


def assert_clear(err: InvalidMessage) -> None:
    """A refusal names what was wrong (and is never a bare stdlib error)."""
    assert len(str(err)) > 10


names = st.text(st.characters(exclude_categories=["Cs"]), max_size=120)
locals_ = st.text(st.characters(min_codepoint=33, max_codepoint=0x24F), min_size=1, max_size=30)
domains = st.sampled_from(
    [
        "example.com",
        "bücher.example",
        "xn--mnchen-3ya.example",
        "ex ample.com",
        "exa\nmple.com",
        "примеры.example",
    ]
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(name=names, local=locals_, domain=domains, subject=names, header_value=names)
def test_any_input_is_a_7bit_message_or_a_clear_error(
    name: str, local: str, domain: str, subject: str, header_value: str
) -> None:
    try:
        message = Message(
            sender=(name, f"{local}@{domain}"),
            to=[f"{local}@{domain}"],
            subject=subject,
            text="body",
            headers={"X-Custom": header_value},
        )
    except InvalidMessage as err:
        assert_clear(err)
        return
    raw = render(message)
    assert_seven_bit(raw)
    parsed = BytesParser(policy=email.policy.compat32).parsebytes(raw)
    # No header was injected: exactly the headers courrier writes, once each.
    assert sorted(k.lower() for k in parsed) == sorted(
        [
            "from",
            "to",
            "subject",
            "date",
            "message-id",
            "x-custom",
            "content-type",
            "content-transfer-encoding",
            "mime-version",
        ]
    )
    assert decoded_display_name(raw, "From") == name.strip()
    assert email.utils.parseaddr(str(parsed["To"]))[1] == message.to[0].email


def test_parsed_addresses_are_reused_and_refusals_are_not_remembered() -> None:
    parse_address.cache_clear()
    first = parse_address("Sender <sender@example.com>")
    assert parse_address("Sender <sender@example.com>") is first
    assert parse_address.cache_info().hits == 1
    for _ in range(2):
        with pytest.raises(InvalidAddress):
            parse_address("not an address")
    assert parse_address.cache_info().hits == 1
